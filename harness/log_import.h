// Importing real message data into the event log format, so that traffic seen on a production
// system can be replayed (`ingestlab replay`) against a fresh embedded environment.
//
// Two sources:
//   - kcat dumps: `kcat -C -J` output, one JSON object per line (topic, partition, offset, tstype,
//     ts, broker, headers, key, payload). ParseKcatLine reads one line; ImportKcat a whole dump.
//     kcat writes payload bytes >= 0x80 as they are (no UTF-8 check), so the line parser accepts
//     raw bytes inside strings and keeps them byte for byte.
//   - NATS JetStream: ImportJetStream reads every message of a stream (optionally filtered by
//     subject, from a start sequence, at most N) through an ephemeral pull consumer on a private
//     inbox, one pull request of up to kNatsPullBatch messages at a time.
// Each import writes one log: a header whose scenario_yaml is a generated scenario
// (ImportScenarioYaml: the topology the data needs, no services, no timeline, assertions
// no_loss and exactly_once) and one publish record per message, in input order, with
// offset_ms relative to the first message's timestamp (never negative, never decreasing),
// service "import", seq 1..N, expected "applied", and type / event_id peeked from the payload's
// envelope (PeekEnvelope; empty when the payload is not a recognised envelope).
// The records are gathered in memory before the log is written, because the header (written
// first) carries the duration and the start time, which only the last message settles.
//
// Thread-safety: every function is safe from any thread; the imports block the calling thread
// and call their progress callback on it.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "simulators/event_log.h"
#include "system/nats/nats_security.h"

namespace ingestlab::harness {

// ---- envelope peek ----------------------------------------------------------------------------

struct EnvelopePeek {
  std::string type;      // as written in the envelope (not domain-qualified); "" if unknown
  std::string event_id;  // "" if unknown
};

// Best effort, never fails: CloudEvents binary mode (ce_type / ce_id headers, any case),
// CloudEvents structured (`type`, `id`), the customer dialect (`event_type`; id = the Nats-Msg-Id
// header, else the hex SHA-256 of the payload, as ingestd derives it) and the service envelope
// (`type`, `id`). Anything else (not JSON, not an object, another shape) gives empty strings.
EnvelopePeek PeekEnvelope(std::string_view payload,
                          const std::map<std::string, std::string>& headers);

// ---- kcat -------------------------------------------------------------------------------------

// One line of `kcat -C -J` output as a kafka publish record: subject = topic, key ("" for null),
// headers (a repeated header name keeps its last value; null values become ""), payload bytes
// ("" for null), seq = the Kafka offset, published_ms = the message's absolute ts, offset_ms =
// ts - first_ts_ms (pass -1 for the first line: offset 0), type / event_id from PeekEnvelope,
// expected "applied", acked true. Not a kcat message line (e.g. "% Reached end of topic", no
// "topic" string, malformed JSON) is a Parse error quoting the start of the line.
Result<sim::PublishRecord> ParseKcatLine(const std::string& line, int64_t first_ts_ms);

// ---- the generated scenario --------------------------------------------------------------------

struct ImportScenarioSpec {
  std::string name;         // made a scenario name by ImportScenarioName
  std::string description;  // where the data came from
  double duration_s = 1;    // positive
  int nats_nodes = 1;       // 1 or 3
  int kafka_brokers = 1;    // 0 when the data is NATS only
  int ingestd = 1;
};

// A scenario name for "import-<what>" that the scenario parser accepts whatever the data
// calls its topic or stream: characters outside [A-Za-z0-9._-] become '-', a '.' that would
// start the name or follow another '.' becomes '-', and at most 128 characters are kept.
std::string ImportScenarioName(const std::string& what);

// Duration for a log whose last record is at last_offset_ms: whole seconds rounded up, plus 1 s.
double ImportDurationSeconds(int64_t last_offset_ms);

// Scenario YAML that ParseScenario accepts: name, description, seed 0, duration, topology, no
// services, no timeline, assertions no_loss and exactly_once. Comments in the text say how to
// edit it (add a timeline of faults, more assertions, more ingestd).
std::string ImportScenarioYaml(const ImportScenarioSpec& spec);

// ---- whole imports ------------------------------------------------------------------------------

struct ImportSummary {
  std::string log_path;
  std::string scenario;  // the header's scenario name
  uint64_t imported = 0;
  uint64_t skipped_bad = 0;  // kcat lines skipped with skip_bad
  std::string first_bad;     // "line N: <error>" of the first skipped line
  int64_t first_ts_ms = 0;   // unix ms of the first message (the header's started_at_ms)
  int64_t last_offset_ms = 0;
};

// Called every few thousand messages: (messages so far, messages expected or 0 if unknown).
using ImportProgress = std::function<void(uint64_t done, uint64_t total)>;

struct KcatImportOptions {
  std::string scenario_name;  // "" = "import-<topic of the first message>"
  std::string source;         // where the lines came from, for the description ("-" = stdin)
  int nats_nodes = 1;
  bool skip_bad = false;  // count and skip malformed lines instead of failing
  ImportProgress progress;
};

// Reads kcat -J lines from `in` (blank lines are skipped) and writes the log at log_path.
// A malformed line is an InvalidArgument error "line N: ..." unless skip_bad; no message at all
// is an InvalidArgument error (nothing to replay).
Result<ImportSummary> ImportKcat(std::istream& in, const std::string& log_path,
                                 const KcatImportOptions& options);

inline constexpr int kNatsPullBatch = 1000;

struct JetStreamImportOptions {
  std::string url;              // "nats://host:port" (comma-separated for several)
  std::string stream;           // stream name
  std::string subject_filter;   // "" = every subject of the stream
  uint64_t from_seq = 0;        // 0 = from the first message
  uint64_t max_messages = 0;    // 0 = all
  int64_t timeout_ms = 10'000;  // for the whole read, connecting included
  std::string scenario_name;    // "" = "import-<stream>"
  NatsSecurity security;        // credentials and TLS for a server that requires them
  ImportProgress progress;
};

// Reads the stream and writes the log at log_path. Errors: an unreachable server (Io / Transient
// naming the URL), a missing stream (NotFound naming it), the timeout passing before every
// message arrived (Transient saying how many arrived), an empty selection (InvalidArgument).
Result<ImportSummary> ImportJetStream(const JetStreamImportOptions& options,
                                      const std::string& log_path);

// Makes records an import: offset_ms = published_ms - first_ts_ms, clamped to >= 0 and never
// below the previous record's (saturating, whatever the timestamps); scheduled_ms and
// published_ms = offset_ms, seq 1..N, service "import", expected "applied", acked. Returns the
// last offset (0 for none).
int64_t NumberImportedRecords(int64_t first_ts_ms, std::vector<sim::PublishRecord>* records);

// Writes records (NumberImportedRecords) under a header built from spec. Used by both imports.
Result<ImportSummary> WriteImportedLog(const std::string& log_path, const ImportScenarioSpec& spec,
                                       int64_t first_ts_ms,
                                       std::vector<sim::PublishRecord>* records);

}  // namespace ingestlab::harness
