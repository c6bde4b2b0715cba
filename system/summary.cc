// Extractive summary: sentence split, content-word frequencies, greedy pick. See summary.h.
#include "system/summary.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ingestlab {
namespace {

struct Sentence {
  std::string_view text;
  size_t position = 0;
  double score = 0;
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool IsWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<Sentence> SplitSentences(std::string_view text) {
  std::vector<Sentence> out;
  size_t start = 0;
  auto emit = [&](size_t end) {
    std::string_view s = Trim(text.substr(start, end - start));
    if (!s.empty()) out.push_back({s, out.size(), 0});
    start = end;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      emit(i + 1);
    } else if ((c == '.' || c == '!' || c == '?') &&
               (i + 1 == text.size() || IsSpace(text[i + 1]))) {
      emit(i + 1);
    }
  }
  emit(text.size());
  return out;
}

const std::unordered_set<std::string_view>& StopWords() {
  static const std::unordered_set<std::string_view> words = {
      "the",   "and",    "for",     "are",   "but",   "not",   "you",   "all",  "any",   "can",
      "had",   "her",    "was",     "one",   "our",   "out",   "has",   "have", "him",   "his",
      "how",   "its",    "may",     "new",   "now",   "see",   "two",   "who",  "did",   "get",
      "let",   "say",    "she",     "too",   "use",   "that",  "with",  "this", "from",  "they",
      "will",  "would",  "there",   "their", "what",  "about", "which", "when", "were",  "been",
      "them",  "then",   "than",    "into",  "also",  "just",  "very",  "some", "could", "should",
      "after", "before", "because", "while", "where", "these", "those", "does", "being", "over",
      "only",  "other",  "such",    "more",  "most",  "your",
  };
  return words;
}

// Calls fn(lower-cased word) for each content word of s.
template <typename Fn>
void ForEachContentWord(std::string_view s, std::string& scratch, Fn fn) {
  const auto& stop = StopWords();
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && !IsWordByte(static_cast<unsigned char>(s[i]))) ++i;
    size_t j = i;
    while (j < s.size() && IsWordByte(static_cast<unsigned char>(s[j]))) ++j;
    if (j - i >= 3) {
      scratch.assign(s.substr(i, j - i));
      for (char& c : scratch) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      }
      if (stop.count(scratch) == 0) fn(scratch);
    }
    i = j;
  }
}

// The longest prefix of s of at most n bytes that does not split a UTF-8 sequence.
std::string_view Utf8Prefix(std::string_view s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::string Truncate(std::string_view s, size_t max_chars) {
  static constexpr std::string_view kEllipsis = "...";
  if (s.size() <= max_chars) return std::string(s);
  if (max_chars <= kEllipsis.size()) return std::string(Utf8Prefix(s, max_chars));
  std::string_view head = Utf8Prefix(s, max_chars - kEllipsis.size());
  const size_t space = head.find_last_of(" \t");
  if (space != std::string_view::npos && space > head.size() / 2) head = head.substr(0, space);
  head = Trim(head);
  std::string out(head);
  out += kEllipsis;
  return out;
}

}  // namespace

std::string ExtractiveSummary(std::string_view text, size_t max_chars) {
  text = Trim(text);
  if (text.size() <= max_chars) return std::string(text);
  std::vector<Sentence> sentences = SplitSentences(text);
  if (sentences.empty()) return std::string();

  std::unordered_map<std::string, int> frequency;
  std::string scratch;
  for (const Sentence& s : sentences) {
    ForEachContentWord(s.text, scratch, [&](const std::string& w) { ++frequency[w]; });
  }
  for (Sentence& s : sentences) {
    double sum = 0;
    int words = 0;
    ForEachContentWord(s.text, scratch, [&](const std::string& w) {
      sum += frequency[w];
      ++words;
    });
    // Dividing by sqrt(length) favours sentences dense in the text's recurring words without
    // letting one-word fragments win.
    s.score = words == 0 ? 0 : sum / std::sqrt(static_cast<double>(words));
  }

  std::vector<Sentence> ranked = sentences;
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const Sentence& a, const Sentence& b) { return a.score > b.score; });
  std::vector<size_t> chosen;
  size_t used = 0;
  for (const Sentence& s : ranked) {
    const size_t cost = s.text.size() + (chosen.empty() ? 0 : 1);
    if (used + cost <= max_chars) {
      chosen.push_back(s.position);
      used += cost;
    }
  }
  if (chosen.empty()) return Truncate(ranked.front().text, max_chars);
  std::sort(chosen.begin(), chosen.end());
  std::string out;
  out.reserve(used);
  for (size_t position : chosen) {
    if (!out.empty()) out += ' ';
    out += sentences[position].text;
  }
  return out;
}

}  // namespace ingestlab
