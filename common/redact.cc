// Redaction of URLs, properties and free text; see redact.h for the rule.
#include "common/redact.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace ingestlab {
namespace {

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

bool IsPropertyNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
}

// Characters that end a URL inside free text. ',' separates URL lists; quotes and angle
// brackets delimit URLs in JSON, HTML and messages.
bool EndsUrlInText(char c) {
  return IsSpace(c) || c == ',' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`';
}

// Characters that end a KEY=VALUE value inside free text.
bool EndsValueInText(char c) {
  return IsSpace(c) || c == ',' || c == ';' || c == '&' || c == '"' || c == '\'' || c == ')' ||
         c == ']' || c == '}' || c == '<' || c == '>';
}

// "user:password" -> "user:***"; "token" -> "***"; "", "user:" unchanged.
std::string RedactUserinfo(std::string_view userinfo) {
  if (userinfo.empty()) return std::string(userinfo);
  const size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) return std::string(kRedactedMask);
  if (colon + 1 == userinfo.size()) return std::string(userinfo);  // no password
  return std::string(userinfo.substr(0, colon + 1)) + std::string(kRedactedMask);
}

// The userinfo span [begin, at) of the URL that occupies [begin, end) after its "://" (or of a
// scheme-less URL): up to the last '@'. False when there is none.
bool FindUserinfo(std::string_view s, size_t begin, size_t end, size_t* at) {
  if (begin >= end) return false;
  const size_t pos = s.substr(begin, end - begin).rfind('@');
  if (pos == std::string_view::npos) return false;
  *at = begin + pos;
  return true;
}

std::string PercentDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// Redacts the credentials of every "scheme://userinfo@host" URL in text.
std::string RedactUrlsInText(std::string_view text) {
  std::string out;
  size_t copied = 0;
  size_t search = 0;
  while (true) {
    const size_t sep = text.find("://", search);
    if (sep == std::string_view::npos) break;
    const size_t begin = sep + 3;
    size_t end = begin;
    while (end < text.size() && !EndsUrlInText(text[end])) ++end;
    size_t at = 0;
    if (FindUserinfo(text, begin, end, &at)) {
      out.append(text.substr(copied, begin - copied));
      out += RedactUserinfo(text.substr(begin, at - begin));
      copied = at;
    }
    search = end;
  }
  if (copied == 0) return std::string(text);
  out.append(text.substr(copied));
  return out;
}

// Replaces the value of every "KEY=VALUE" or "KEY = VALUE" whose KEY is a secret property.
std::string RedactSecretAssignments(std::string_view text) {
  std::string out;
  size_t copied = 0;
  for (size_t eq = text.find('='); eq != std::string_view::npos; eq = text.find('=', eq + 1)) {
    size_t key_end = eq;
    while (key_end > copied && text[key_end - 1] == ' ') --key_end;
    size_t key_begin = key_end;
    while (key_begin > copied && IsPropertyNameChar(text[key_begin - 1])) --key_begin;
    if (key_begin == key_end || !IsSecretProperty(text.substr(key_begin, key_end - key_begin))) {
      continue;
    }
    size_t value_begin = eq + 1;
    while (value_begin < text.size() && text[value_begin] == ' ') ++value_begin;
    size_t value_end = value_begin;
    if (value_begin < text.size() && (text[value_begin] == '"' || text[value_begin] == '\'')) {
      const char quote = text[value_begin++];
      value_end = text.find(quote, value_begin);
      if (value_end == std::string_view::npos) value_end = text.size();
    } else if (value_begin < text.size() && text[value_begin] == '[') {
      // A bracketed value, brackets included: librdkafka's own "[redacted]" is left as it is.
      value_end = text.find(']', value_begin);
      value_end = value_end == std::string_view::npos ? text.size() : value_end + 1;
      if (text.substr(value_begin, value_end - value_begin) == "[redacted]") continue;
    } else {
      while (value_end < text.size() && !EndsValueInText(text[value_end])) ++value_end;
    }
    if (value_end == value_begin) continue;
    // Already redacted, maybe followed by the message's own punctuation ("KEY=***: ...").
    std::string_view value = text.substr(value_begin, value_end - value_begin);
    if (value.size() == kRedactedMask.size() + 1 && (value.back() == ':' || value.back() == '.')) {
      value.remove_suffix(1);
    }
    if (value == kRedactedMask) continue;
    out.append(text.substr(copied, value_begin - copied));
    out += kRedactedMask;
    copied = value_end;
    eq = value_end > 0 ? value_end - 1 : 0;
  }
  if (copied == 0) return std::string(text);
  out.append(text.substr(copied));
  return out;
}

std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}

std::vector<std::string>& Registry() {
  static std::vector<std::string> secrets;
  return secrets;
}

void ReplaceAll(std::string& s, const std::string& what) {
  for (size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos)) {
    s.replace(pos, what.size(), kRedactedMask);
    pos += kRedactedMask.size();
  }
}

// Splits a comma-separated list; empty items are kept so the separators survive a round trip.
std::vector<std::string_view> SplitCommas(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
}

// Where a URL's userinfo is, spaces around the URL ignored: url[*begin, *at) ends at the '@'.
// False when it has none.
bool UserinfoSpan(std::string_view url, size_t* begin, size_t* at) {
  size_t b = 0, e = url.size();
  while (b < e && IsSpace(url[b])) ++b;
  while (e > b && IsSpace(url[e - 1])) --e;
  const size_t sep = url.substr(b, e - b).find("://");
  *begin = sep == std::string_view::npos ? b : b + sep + 3;
  return FindUserinfo(url, *begin, e, at);
}

}  // namespace

std::string RedactUrl(std::string_view url) {
  size_t begin = 0, at = 0;
  if (!UserinfoSpan(url, &begin, &at)) return std::string(url);
  return std::string(url.substr(0, begin)) + RedactUserinfo(url.substr(begin, at - begin)) +
         std::string(url.substr(at));
}

std::string RedactUrlList(std::string_view urls) {
  std::string out;
  bool first = true;
  for (std::string_view item : SplitCommas(urls)) {
    if (!first) out += ',';
    first = false;
    out += RedactUrl(item);
  }
  return out;
}

bool IsSecretProperty(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // A bare "key" is a message key (or the KEY of "KEY=VALUE" in a usage text), not key material.
  if (lower == "key") return false;
  for (const char* word : {"password", "passwd", "secret", "token", "credential", "key", "pem"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string RedactPropertyValue(std::string_view name, std::string_view value) {
  if (IsSecretProperty(name)) return std::string(kRedactedMask);
  return RedactText(value);
}

std::string RedactProperty(std::string_view name, std::string_view value) {
  return std::string(name) + "=" + RedactPropertyValue(name, value);
}

std::vector<std::pair<std::string, std::string>> RedactProperties(
    const std::vector<std::pair<std::string, std::string>>& properties) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(properties.size());
  for (const auto& [name, value] : properties) {
    out.emplace_back(name, RedactPropertyValue(name, value));
  }
  return out;
}

std::map<std::string, std::string> RedactProperties(
    const std::map<std::string, std::string>& properties) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : properties) out[name] = RedactPropertyValue(name, value);
  return out;
}

std::string RedactText(std::string_view text) {
  std::string out = RedactSecretAssignments(RedactUrlsInText(text));
  std::lock_guard<std::mutex> lock(RegistryMutex());
  for (const std::string& secret : Registry()) ReplaceAll(out, secret);
  return out;
}

void RegisterSecret(std::string_view value) {
  if (value.size() < kMinRegisteredSecretLength || value == kRedactedMask) return;
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto& secrets = Registry();
  if (std::find(secrets.begin(), secrets.end(), value) != secrets.end()) return;
  secrets.emplace_back(value);
  // Longest first, so a secret that contains another is replaced whole.
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

void RegisterUrlSecrets(std::string_view urls) {
  for (std::string_view url : SplitCommas(urls)) {
    size_t begin = 0, at = 0;
    if (!UserinfoSpan(url, &begin, &at)) continue;
    const std::string_view userinfo = url.substr(begin, at - begin);
    const size_t colon = userinfo.find(':');
    const std::string_view secret =
        colon == std::string_view::npos ? userinfo : userinfo.substr(colon + 1);
    RegisterSecret(secret);
    RegisterSecret(PercentDecode(secret));
  }
}

void RegisterPropertySecrets(const std::vector<std::pair<std::string, std::string>>& properties) {
  for (const auto& [name, value] : properties) {
    if (IsSecretProperty(name)) RegisterSecret(value);
  }
}

void RegisterPropertySecrets(const std::map<std::string, std::string>& properties) {
  for (const auto& [name, value] : properties) {
    if (IsSecretProperty(name)) RegisterSecret(value);
  }
}

void ClearRegisteredSecrets() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Registry().clear();
}

Status WritePrivateFile(const std::string& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Io("cannot write \"" + path + "\": " + std::strerror(errno));
  const ssize_t written = ::write(fd, text.data(), text.size());
  const bool ok = written == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) return Status::Io("cannot write \"" + path + "\"");
  return Status::Ok();
}

}  // namespace ingestlab
