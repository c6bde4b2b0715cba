// CommitMeter: how `ingestlab load` learns what the system under load committed, and when.
//   StoreMeter   — reads the SQLite store's `events` rows as they appear (read-only, WAL: never
//                  blocks the writer): every event's own event time (its scheduled send time)
//                  and commit time, so latency is exact per event and free of coordinated
//                  omission. Also counts new `dead_letters` rows.
//   MetricsMeter — scrapes a Prometheus /metrics endpoint (ingestd's, or anything exporting the
//                  same names): `ingest_applied_total`, `ingest_dead_letters_total` and the
//                  `ingest_e2e_latency_ms` histogram (committed_at - event_time), as deltas
//                  between scrapes. Latency is then as coarse as the histogram's buckets and
//                  attributed to the scrape interval it was committed in.
// Both start at "now": what was committed before Open is not reported.
// Thread-safety: one thread calls Poll.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ingestlab {

struct CommittedEvent {
  int64_t event_time_ms = 0;
  int64_t committed_at_ms = 0;
  // Set for events in seed 000's customer dialect only: their event time has whole-second
  // resolution, so the caller looks their scheduled time up by id instead.
  std::string customer_event_id;
};

struct CommitDelta {
  uint64_t committed = 0;     // events newly committed
  uint64_t dead_letters = 0;  // messages newly dead-lettered
  // StoreMeter: each newly committed event.
  std::vector<CommittedEvent> events;
  // MetricsMeter: (bucket upper bound ms, events) newly observed; +inf as the last bound.
  std::vector<std::pair<double, int64_t>> latency_buckets;
};

class CommitMeter {
 public:
  virtual ~CommitMeter() = default;
  // Everything committed since the previous Poll (or Open). An error leaves the meter usable:
  // the next successful Poll reports what was missed.
  virtual Status Poll(CommitDelta* out) = 0;
  virtual std::string source() const = 0;  // "store" | "metrics"
};

// db_path: the SQLite store ingestd writes. Fails when it cannot be opened or has no events table.
Result<std::unique_ptr<CommitMeter>> OpenStoreMeter(const std::string& db_path);
// url: http://HOST:PORT/metrics (the path defaults to /metrics).
Result<std::unique_ptr<CommitMeter>> OpenMetricsMeter(const std::string& url);

}  // namespace ingestlab
