// Deterministic extractive summaries for long ticket descriptions, work-order descriptions and
// knowledge notes: the highest-scoring sentences (by the frequency of their content words in the
// whole text), kept in their original order, up to a length budget. No model, no randomness:
// the same text always yields the same summary, so two runs of the same events agree.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ingestlab {

inline constexpr size_t kDefaultSummaryChars = 200;

// A summary of `text` of at most max_chars bytes (UTF-8 sequences are never split). Sentences
// end at '.', '!', '?' followed by whitespace, or at a line break. If even the best sentence is
// longer than the budget it is cut at a word boundary and ends with "...".
std::string ExtractiveSummary(std::string_view text, size_t max_chars = kDefaultSummaryChars);

}  // namespace ingestlab
