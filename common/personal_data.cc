// See personal_data.h.
#include "common/personal_data.h"

#include <cctype>

namespace ingestlab {
namespace {

bool LocalChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '%' ||
         c == '+' || c == '-';
}

bool DomainChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
}

bool Digit(char c) { return c >= '0' && c <= '9'; }

// Whether `run` is YYYY-MM-DD.
bool IsDate(std::string_view run) {
  return run.size() == 10 && run[4] == '-' && run[7] == '-' && Digit(run[0]) && Digit(run[1]) &&
         Digit(run[2]) && Digit(run[3]) && Digit(run[5]) && Digit(run[6]) && Digit(run[8]) &&
         Digit(run[9]);
}

// Masks e-mail local parts in place.
void MaskEmails(std::string* text) {
  std::string& s = *text;
  std::string out;
  out.reserve(s.size());
  size_t copied = 0;  // s[0, copied) is in out
  for (size_t at = s.find('@'); at != std::string::npos; at = s.find('@', at + 1)) {
    size_t begin = at;
    while (begin > copied && LocalChar(s[begin - 1])) --begin;
    size_t end = at + 1;
    bool dot = false;
    for (; end < s.size() && DomainChar(s[end]); ++end) {
      if (s[end] == '.') dot = true;
    }
    while (end > at + 1 && (s[end - 1] == '.' || s[end - 1] == '-')) --end;  // trailing "."
    const bool domain_ok = end > at + 1 && dot && s[end - 1] != '.' &&
                           std::isalpha(static_cast<unsigned char>(s[end - 1]));
    if (begin == at || !domain_ok) continue;
    if (std::string_view(s).substr(begin, at - begin) == "***") continue;  // already masked
    out.append(s, copied, begin - copied);
    out += "***";
    copied = at;
  }
  if (copied == 0) return;
  out.append(s, copied, std::string::npos);
  s = std::move(out);
}

// A phone number is at most 15 digits with a few separators: no candidate is longer than this,
// which keeps the scan linear (each position starts at most one bounded look-ahead).
constexpr size_t kMaxPhoneRun = 32;

void MaskPhones(std::string* text) {
  const std::string& s = *text;
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    const bool boundary = i == 0 || !std::isalnum(static_cast<unsigned char>(s[i - 1]));
    const bool marked = c == '+' || c == '(';
    if (!boundary || !(marked || Digit(c))) {
      out += s[i++];
      continue;
    }
    // A run of digits, '-', '(', ')' (and spaces, after a leading '+' or '(').
    size_t end = i + 1;
    while (end < s.size() && end - i < kMaxPhoneRun &&
           (Digit(s[end]) || s[end] == '-' || s[end] == '(' || s[end] == ')' ||
            (marked && s[end] == ' '))) {
      ++end;
    }
    while (end > i + 1 && (s[end - 1] == ' ' || s[end - 1] == '-' || s[end - 1] == '(')) --end;
    const std::string_view run = std::string_view(s).substr(i, end - i);
    int digits = 0, dashes = 0;
    for (char r : run) {
      digits += Digit(r) ? 1 : 0;
      dashes += r == '-' ? 1 : 0;
    }
    const bool joined_to_more =
        end < s.size() && (std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '.');
    if (digits >= 7 && digits <= 15 && (marked || dashes >= 2) && !IsDate(run) && !joined_to_more) {
      out += "***";
      i = end;
      continue;
    }
    // Not a phone number: step over the leading digits (or the one mark) and look again.
    size_t next = i + 1;
    if (!marked) {
      while (next < s.size() && Digit(s[next])) ++next;
    }
    out.append(s, i, next - i);
    i = next;
  }
  *text = std::move(out);
}

}  // namespace

std::string MaskPersonalData(std::string_view text) {
  std::string out(text);
  if (out.find('@') != std::string::npos) MaskEmails(&out);
  MaskPhones(&out);
  return out;
}

}  // namespace ingestlab
