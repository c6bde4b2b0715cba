// Replay planning: turns a recorded event log into what a replay drives — the scenario (the
// original's topology and assertions, a timeline from the log's fault entries) and the timed
// publishes (scaled by speed, cut at --until, filtered by --only, or a shrink subset) — plus the
// comparison of outcomes and the ddmin search used by shrink. Pure functions; safe to call from
// any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "harness/replay_driver.h"
#include "harness/scenario.h"
#include "simulators/event_log.h"

namespace ingestlab::harness {

struct ReplayOptions {
  double speed = 1.0;        // <= 0 means "max": every step at offset 0
  int64_t until_ms = -1;     // < 0: no cut-off; otherwise drop steps with offset_ms > until_ms
  std::string only_service;  // "": all services; faults are always kept
};

// The scenario and load of a replay: the original scenario's topology and assertions (from the
// log header's scenario_yaml, or `scenario_yaml` when given), no simulated services, a timeline
// made of the log's fault entries, and the publishes to re-send at their replay times.
struct ReplayProgram {
  Scenario scenario;
  std::vector<TimedPublish> publishes;
  size_t faults = 0;     // fault entries applied (undo entries are folded into their `for`)
  bool partial = false;  // some entries were left out: the final state may differ
};

// Which entries a replay keeps (shrink's subsets). Unset = all. Fault indices count only the
// fault entries that apply a fault (not "undo_" ones): see FaultUnits.
struct ReplaySubset {
  std::optional<std::vector<size_t>> publishes;
  std::optional<std::vector<size_t>> faults;
};

// Indices into EventLog::faults of the entries that apply a fault; an "undo_X" entry belongs to
// the apply entry before it with action X and the same target.
std::vector<size_t> FaultUnits(const sim::EventLog& log);

// Publishes that stand or fall together when shrinking: the events of one customer (they
// depend on each other: a refund on its purchase, a lead's conversion on its creation), read
// from the payload (CloudEvents `subject`, `customer_id`, `data.customer_id`); else one event id
// (an original with its duplicates). Groups are in order of first appearance.
std::vector<std::vector<size_t>> PublishGroups(const sim::EventLog& log);

// Times: offset / speed; at --speed max, publishes go back to back, a fault's `for` window keeps
// its recorded length and the step after a fault waits min(recorded gap, 2 s), so the system
// under test still sees the fault. InvalidArgument when the scenario text is missing or bad.
Result<ReplayProgram> BuildReplayProgram(const sim::EventLog& log, const std::string& scenario_yaml,
                                         const ReplayOptions& options,
                                         const ReplaySubset& subset = {});

// Compares a replay's result.json with the original's: every assertion by name (passed or
// not), the overall verdict, and (when compare_digest) the state digest. Empty = a match;
// otherwise one line per difference.
std::vector<std::string> CompareResults(const nlohmann::json& original,
                                        const nlohmann::json& replay, bool compare_digest);

// The names of the assertions that failed in a result.json.
std::vector<std::string> FailedAssertions(const nlohmann::json& result);

// Zeller's ddmin: the smallest subset (1-minimal) of 0..count-1 for which still_fails holds,
// given that it holds for the full set. Stops after max_tests predicate calls.
std::vector<size_t> Ddmin(size_t count,
                          const std::function<bool(const std::vector<size_t>&)>& still_fails,
                          int max_tests);

}  // namespace ingestlab::harness
