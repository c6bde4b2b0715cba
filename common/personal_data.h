// Personal data in log lines: every log record (common/log.h) passes MaskPersonalData after the
// secret redaction, so no log line shows a customer's e-mail address or phone number, whatever a
// caller formats into it (docs/ingestd.md, "Logs and personal data"). Names cannot be told from
// other words; they are kept out of log lines by the callers instead (no profile field is logged).
//
// - An e-mail address (local@domain.tld) keeps its domain: "ann.lee@acme.io" -> "***@acme.io".
// - A phone number: a run of digits, '-', '(' , ')' and spaces holding 7 to 15 digits that starts
//   with '+' or '(', or has at least two '-' ("+1-555-0100", "(555) 123-4567", "555-123-4567").
//   Dates (2026-12-04), plain numbers (unix times, offsets, counts), ranges ("1000-2000"), IP
//   addresses and versions are kept.
// Linear in the text's length; masking masked text changes nothing.
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace ingestlab {

std::string MaskPersonalData(std::string_view text);

}  // namespace ingestlab
