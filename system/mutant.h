// Planted defects for the mutation matrix (docs/mutants.md). Only tests/ builds this in: the
// sources that hold a hook are compiled again with INGESTD_MUTANTS into build/tests/ingestd_mutant
// and linked ahead of the libraries, so the shipped ingestd has no hook and no name of one.
// The defect a run plants is chosen by the environment variable INGESTD_MUTANT (read once);
// the mutant binary refuses to start without a known name (CheckMutantSelection), so a typo never
// silently tests the correct code.
#pragma once

#ifdef INGESTD_MUTANTS

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>

namespace ingestlab {

// Every name a hook tests. Keep in step with tests/mutants/mutants.tsv.
inline constexpr const char* kMutantNames[] = {
    "apply_duplicates",             // store.cc
    "mark_seen_before_apply",       // store.cc
    "ack_on_store_failure",         // pipeline.cc
    "dead_letter_without_storing",  // pipeline.cc
    "ack_before_commit",            // nats/jetstream_source.cc
    "ack_unprocessed_on_stop",      // nats/jetstream_source.cc
    "term_instead_of_nak",          // nats/jetstream_source.cc
    "kafka_commit_at_receipt",      // kafka/offset_tracker.cc
    "kafka_commit_skip_one",        // kafka/offset_tracker.cc
    "kafka_retry_as_ack",           // kafka/offset_tracker.cc
    "arrival_order_wins",           // handlers/customer.cc
    "dlq_transient_as_refused",     // dead_letter_outbox.cc
    "context_cached_profile",       // context_api.cc
    "context_ignores_org",          // context_api.cc
    "downstream_no_timeout",        // downstream.cc
    "breaker_never_opens",          // circuit_breaker.cc
    "breaker_stays_open",           // circuit_breaker.cc
};

inline const char* SelectedMutant() {
  static const char* const selected = [] {
    const char* env = std::getenv("INGESTD_MUTANT");
    return env != nullptr ? env : "";
  }();
  return selected;
}

// True when the run plants the named defect.
inline bool Mutant(const char* name) { return std::strcmp(SelectedMutant(), name) == 0; }

// At start-up: exits 2 unless INGESTD_MUTANT names a known mutant.
inline void CheckMutantSelection() {
  const char* selected = SelectedMutant();
  for (const char* name : kMutantNames) {
    if (std::strcmp(selected, name) == 0) {
      std::fprintf(stderr, "ingestd_mutant: planted defect '%s' (a test build, never ship it)\n",
                   selected);
      return;
    }
  }
  std::fprintf(stderr, "ingestd_mutant: INGESTD_MUTANT=%s%s%s names no mutant; set it to one of:",
               *selected ? "'" : "", *selected ? selected : "(unset)", *selected ? "'" : "");
  for (size_t i = 0; i < std::size(kMutantNames); ++i) {
    std::fprintf(stderr, "%s %s", i == 0 ? "" : ",", kMutantNames[i]);
  }
  std::fprintf(stderr, "\n");
  std::exit(2);
}

}  // namespace ingestlab

#endif  // INGESTD_MUTANTS
