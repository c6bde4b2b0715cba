// The state probe of a system under test: how the checkers learn which events a system other
// than ingestd applied, and how often. A system answers in one of two ways (docs/sut.md):
// - HTTP: GET on a URL returns JSON lines, one per event id:
//     {"event_id": "…", "count": 1, "committed_ms": 1764800000000}
//   `count` is how many times the event's effects were applied (2: applied twice);
//   `committed_ms` (optional) is when it was first committed, for the latency checker.
// - SQL: a query on the system's SQLite database returns rows (event_id, count[, committed_ms]).
// The answer is untrusted: every size is bounded (the whole answer, a line, an id), nesting is
// checked before parsing, and anything else than the format above is an error naming the line
// or row, never a partial result.
// Thread-safety: pure functions; each call opens its own connection.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "harness/assertions.h"

namespace ingestlab {

struct ProbedEvent {
  std::string event_id;
  int64_t count = 0;         // >= 1
  int64_t committed_ms = 0;  // 0: not reported
};

inline constexpr size_t kMaxProbeBytes = 256u << 20;  // a whole answer
inline constexpr size_t kMaxProbeLineBytes = 64u << 10;
inline constexpr size_t kMaxProbeIdBytes = 1024;

// Parses an HTTP probe's answer. Blank lines are skipped; an event id on two lines is an error.
Result<std::vector<ProbedEvent>> ParseProbeLines(std::string_view body);

// What a system applied, merged over its instances: counts add up, the earliest commit time
// wins.
struct SystemState {
  std::unordered_map<std::string, ProbedEvent> events;
  std::map<std::string, int64_t> ids_by_instance;  // instance → ids its probe reported
  std::vector<std::string> skipped;                // instances not running: not asked
};
void MergeProbed(const std::string& instance, std::vector<ProbedEvent> events, SystemState* state);

// GETs `url` ("http://host:port/path") within `timeout_ms` and parses the answer. Errors: the URL
// is not http://, the connection fails, the status is not 200, the answer is larger than
// kMaxProbeBytes, or it does not parse.
Result<std::vector<ProbedEvent>> ProbeHttp(const std::string& url, int64_t timeout_ms);

// Runs `query` on the SQLite database at `db_path`, opened read-only, and reads its rows as
// (event_id TEXT, count INTEGER[, committed_ms INTEGER]).
Result<std::vector<ProbedEvent>> ProbeSqlite(const std::string& db_path, const std::string& query);

// Runs `query` on the SQLite database at `db_path`, opened read-only, and reads its rows as
// dead letters (payload TEXT|BLOB, reason TEXT[, error TEXT]). At most `max_rows` are kept;
// `total` (if given) counts them all. A payload over 16 MiB or a column of another type is an
// error naming the row.
Result<std::vector<DeadLetterRow>> ProbeSqliteDeadLetters(const std::string& db_path,
                                                          const std::string& query,
                                                          size_t max_rows, int64_t* total = nullptr);

}  // namespace ingestlab
