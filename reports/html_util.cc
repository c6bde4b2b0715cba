// Text helpers for the HTML reports (see html_util.h).
#include "reports/html_util.h"

#include <cmath>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "system/json_depth.h"

namespace ingestlab::reports {

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string UrlEncodePath(std::string_view path) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  auto value_of = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  bool padding_seen = false;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding_seen = true;
      continue;
    }
    if (padding_seen) return std::nullopt;  // data after padding
    const int v = value_of(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  if (bits >= 6) return std::nullopt;  // a lone trailing character encodes no whole byte
  return out;
}

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t len = 0;
  uint32_t min_code = 0;
  uint32_t code = 0;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    len = 2, min_code = 0x80, code = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, min_code = 0x800, code = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, min_code = 0x10000, code = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3F);
  }
  if (code < min_code || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

std::string PrintableText(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    const size_t len = Utf8SequenceLength(bytes, i);
    const bool control = c < 0x20 && c != '\n' && c != '\r' && c != '\t';
    if (len == 0 || control || c == 0x7F) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
      ++i;
    } else {
      out.append(bytes.substr(i, len));
      i += len;
    }
  }
  return out;
}

// The deepest payload shown pretty-printed: ingestd's own limit (EnvelopeDecoder::kMaxDepth).
constexpr int kMaxPrettyDepth = 64;

std::string DisplayPayload(std::string_view payload_b64, size_t max_chars) {
  if (payload_b64.empty()) return "";
  std::optional<std::string> bytes = Base64Decode(payload_b64);
  if (!bytes) return "(not base64) " + PrintableText(payload_b64.substr(0, max_chars));
  std::string text;
  // ordered_json keeps the publisher's field order. A payload nested deeper than ingestd accepts
  // (a dead letter) is shown as text: dump() recurses once per level.
  nlohmann::ordered_json parsed =
      JsonNestedDeeperThan(*bytes, kMaxPrettyDepth)
          ? nlohmann::ordered_json(nlohmann::ordered_json::value_t::discarded)
          : nlohmann::ordered_json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_discarded() && (parsed.is_object() || parsed.is_array())) {
    text = parsed.dump(2, ' ', /*ensure_ascii=*/false,
                       nlohmann::ordered_json::error_handler_t::replace);
  } else {
    text = PrintableText(*bytes);
  }
  if (text.size() > max_chars) {
    // Cut on a UTF-8 boundary so the shown text stays valid.
    size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    const size_t left_out = text.size() - cut;
    text.resize(cut);
    text += "\n… (" + std::to_string(left_out) + " more characters not shown; the payload is " +
            std::to_string(bytes->size()) + " bytes)";
  }
  return text;
}

std::string FormatNumber(double value, int max_decimals) {
  if (!std::isfinite(value)) return std::isnan(value) ? "—" : (value > 0 ? "∞" : "-∞");
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", max_decimals, std::fabs(value));
  std::string digits(buf);
  std::string fraction;
  const size_t dot = digits.find('.');
  if (dot != std::string::npos) {
    fraction = digits.substr(dot + 1);
    digits.resize(dot);
    while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  }
  std::string grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped += ',';
    grouped += digits[i];
  }
  const bool negative = value < 0 && (grouped != "0" || !fraction.empty());
  return (negative ? "-" : "") + grouped + (fraction.empty() ? "" : "." + fraction);
}

std::string FormatCompact(double value) {
  if (!std::isfinite(value)) return FormatNumber(value);
  const double magnitude = std::fabs(value);
  if (magnitude >= 1e9) return FormatNumber(value / 1e9, 1) + "G";
  if (magnitude >= 1e6) return FormatNumber(value / 1e6, 1) + "M";
  if (magnitude >= 1e4) return FormatNumber(value / 1e3, 1) + "k";
  if (magnitude >= 100) return FormatNumber(value, 0);
  if (magnitude >= 1) return FormatNumber(value, 1);
  return FormatNumber(value, 3);
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "—";
  if (seconds < 60) return FormatNumber(seconds, 1) + " s";
  const int64_t whole = static_cast<int64_t>(std::llround(seconds));
  if (whole < 3600) {
    return std::to_string(whole / 60) + " min " + std::to_string(whole % 60) + " s";
  }
  return std::to_string(whole / 3600) + " h " + std::to_string((whole % 3600) / 60) + " min";
}

std::string FormatUtcTime(int64_t unix_ms) {
  if (unix_ms <= 0) return "—";
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm parts{};
  if (gmtime_r(&seconds, &parts) == nullptr) return "—";
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &parts);
  return buf;
}

}  // namespace ingestlab::reports
