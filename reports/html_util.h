// Text helpers for the HTML reports: escaping, payload decoding and number formatting.
//
// Everything that reaches a report from a result.json (scenario names, event ids, payloads,
// error texts) passes through HtmlEscape or UrlEncodePath before it is written, so a hostile
// value cannot inject markup or script.
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ingestlab::reports {

// Escapes & < > " ' so the result is safe as element text and inside a quoted attribute.
std::string HtmlEscape(std::string_view text);

// Percent-encodes a relative path for an href: every byte except [A-Za-z0-9-._~/] is encoded,
// so "a b/../x:y" stays a relative reference (a ':' can never start a "javascript:" scheme).
std::string UrlEncodePath(std::string_view path);

// Decodes standard or URL-safe base64; padding optional, ASCII whitespace ignored.
// Returns nullopt when the text is not base64.
std::optional<std::string> Base64Decode(std::string_view text);

// Makes arbitrary bytes readable as text: valid UTF-8 passes through; control characters other
// than \n, \r and \t, and bytes that are not valid UTF-8, become "\xNN". Not HTML-escaped.
std::string PrintableText(std::string_view bytes);

// A payload for display: decoded from base64, pretty-printed when it is JSON, made printable,
// and cut to max_chars (with a note saying how much was left out). Not HTML-escaped.
std::string DisplayPayload(std::string_view payload_b64, size_t max_chars);

// 12000 -> "12,000"; 3.14159 with 2 decimals -> "3.14"; trailing zeros dropped ("2.5", "3").
// NaN -> "—".
std::string FormatNumber(double value, int max_decimals = 2);

// A compact axis label: 950 -> "950", 12500 -> "12.5k", 3200000 -> "3.2M", 0.25 -> "0.25".
std::string FormatCompact(double value);

// 42.5 -> "42.5 s"; 125 -> "2 min 5 s"; 3725 -> "1 h 2 min".
std::string FormatDuration(double seconds);

// Unix milliseconds -> "2026-11-23 19:30:01 UTC"; 0 or negative -> "—".
std::string FormatUtcTime(int64_t unix_ms);

}  // namespace ingestlab::reports
