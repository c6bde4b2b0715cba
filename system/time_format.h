// RFC 3339 timestamps: parsing into unix milliseconds and formatting back, plus the calendar
// arithmetic behind them. Used by the envelope decoder (CloudEvents `time`, the service envelope's
// `timestamp`), by schema `format` checks, and by anyone who writes times for people to read.
// Parsing accepts "2025-12-12T10:30:00Z", lower-case 't'/'z', a space instead of 'T', fractions of
// any length (truncated to milliseconds) and numeric offsets ("+05:30", "-08:00").
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ingestlab {

// Days since 1970-01-01 of a proleptic Gregorian date (m 1..12, d 1..31; not range-checked).
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);
// Its inverse: the date of a day number (days since 1970-01-01).
void CivilFromDays(int64_t days, int64_t* year, unsigned* month, unsigned* day);

// RFC 3339 "full-date" ("2025-12-12"): true if well-formed and a real calendar date.
bool IsRfc3339Date(std::string_view text);

// RFC 3339 "date-time" → unix milliseconds (UTC), or nullopt if malformed or out of range.
std::optional<int64_t> ParseRfc3339Ms(std::string_view text);

// A full-date (midnight UTC) or a date-time → unix milliseconds.
std::optional<int64_t> ParseRfc3339DateOrDateTimeMs(std::string_view text);

// unix ms → "2025-12-12T10:30:00.123Z" (always UTC, always three fraction digits).
std::string FormatRfc3339Ms(int64_t unix_ms);
// unix ms → "2025-12-12T10:30:00Z" (fraction dropped).
std::string FormatRfc3339Seconds(int64_t unix_ms);

}  // namespace ingestlab
