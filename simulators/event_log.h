// The event log: what a run sent (publishes and fault actions), as JSON Lines in a deterministic
// order, so that the same scenario, seed and epoch give a byte-identical file. What the run
// observed (publish times, acks, errors) goes to a sidecar beside it. The record/replay feature
// reads both back (ReadEventLog merges them).
//   events.log (or events.log.gz):
//   line 1: {"kind":"header","format":1,"scenario":...,"seed":N,"ingestlab_version":...,
//            "git_commit":...,"topology":{...},"epoch_ms":...,"scenario_yaml":...}
//   per publish: {"kind":"publish","offset_ms":...,"service":...,"seq":N,"msg":N,"type":...,
//            "event_id":...,"transport":"jetstream|nats|kafka","subject":...,"key":...,
//            "headers":{...},"payload_b64":"...","expected":"applied|duplicate|dead_letter:parse|..."}
//   per fault action: {"kind":"fault","offset_ms":...,"action":...,"target":...,"params":{...}}
//   offset_ms is the SCHEDULED time in ms since the run start (publish: its arrival's due time;
//   fault: the timeline's at). epoch_ms is the origin of the payloads' event times.
//   events.acks (events.acks.gz beside a compressed log), in any order:
//   line 1: {"kind":"run","started_at_ms":...}  (wall clock at the run start)
//   per publish outcome: {"service":...,"msg":N,"published_ms":...,"acked":true|false,"error":...}
//   (msg: the publish's OutcomeKey — its "msg" message number, or its seq when it has none)
// Order (EventLogWriterOptions::ordered): by (offset_ms, faults before publishes, service, seq;
// faults among themselves in append order). Writers append from several threads, so the writer
// keeps a reorder buffer: every producer registers a stream and advances its watermark (no later
// record of that stream is earlier); a record is written once every registered stream has passed
// its offset. A finished stream unregisters. Close writes what precedes every stream still
// registered (all of it when all finished): a stopped run's log is a prefix of the full one.
// Releasable lines are written and flushed (gzip: sync-flushed) at least every 100 ms by a
// background thread, so a killed run loses at most its last fraction of a second.
// Thread-safety: EventLogWriter is safe for concurrent use; ReadEventLog is a pure function.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/status.h"

namespace ingestlab::sim {

inline constexpr int kEventLogFormat = 1;

struct EventLogHeader {
  std::string scenario;
  uint64_t seed = 0;
  std::string ingestlab_version;
  std::string git_commit;
  nlohmann::json topology = nlohmann::json::object();
  // Wall clock at the run start: written to the sidecar, not to the (deterministic) log.
  int64_t started_at_ms = 0;
  // The origin of the event times in payloads (wall clock at run start unless fixed by --epoch).
  int64_t epoch_ms = 0;
  // The scenario as written (YAML): its topology and assertions make the log replayable alone.
  std::string scenario_yaml;
};

struct PublishRecord {
  int64_t offset_ms = 0;  // scheduled: ms since the run start
  std::string service;
  uint64_t seq = 0;  // the event's number; its copies (duplicate, malformed, ...) share it
  // The publisher's message number, unique per service within a log (0: use seq): it keys the
  // outcome in the sidecar and orders copies of one seq.
  uint64_t msg = 0;
  std::string type;
  std::string event_id;
  std::string transport;  // jetstream | nats | kafka
  std::string subject;
  std::string key;
  std::map<std::string, std::string> headers;
  std::string payload;  // raw bytes (base64 in the file)
  std::string expected;
  // Read back: = offset_ms. Observed (sidecar): when it went out, and what the broker said.
  int64_t scheduled_ms = 0;
  int64_t published_ms = 0;
  bool acked = false;
  std::string publish_error;  // "" when acked
};

// The key of a publish's outcome in the sidecar: msg, or seq for logs without message numbers.
inline uint64_t OutcomeKey(const PublishRecord& r) { return r.msg != 0 ? r.msg : r.seq; }

struct FaultRecord {
  int64_t offset_ms = 0;  // scheduled: the timeline's at (undo: at + for)
  std::string action;     // "kill", "broker_down", "partition", ...
  std::string target;     // "ingestd[0]", "nats[1]", "kafka broker 2", ...
  nlohmann::json params = nlohmann::json::object();
};

nlohmann::json ToJson(const EventLogHeader& h);
nlohmann::json ToJson(const FaultRecord& r);
// A publish record's line in the log (without the newline), written without building a json
// tree: the writer's hot path. msg is left out when 0.
std::string PublishLine(const PublishRecord& r);

// The sidecar beside a log: "run/events.log" -> "run/events.acks", "x.log.gz" -> "x.acks.gz".
std::string AcksPathFor(const std::string& log_path);
// The event log of a run directory: events.log, else events.log.gz; "" when neither exists.
std::string FindEventLog(const std::string& run_dir);

struct EventLogWriterOptions {
  // Reorder buffer with stream watermarks (see the file comment); off: append order.
  bool ordered = false;
  // gzip (".gz" is appended to the path when missing); the sidecar is compressed too.
  bool compress = false;
  // The sidecar's path; "" = AcksPathFor(the log's path).
  std::string acks_path;
  // false: no sidecar (an imported log: its publishes then read back as acked at their offset);
  // outcomes are dropped and a stale sidecar at the path is removed.
  bool write_acks = true;
};

class EventLogWriter {
 public:
  // Creates (truncates) the log and its sidecar and writes their first lines. The clock is kept
  // for compatibility (flushes are paced by a background thread in real time).
  static Result<std::unique_ptr<EventLogWriter>> Create(const std::string& path,
                                                        const EventLogHeader& header,
                                                        Clock* clock = nullptr);
  static Result<std::unique_ptr<EventLogWriter>> Create(const std::string& path,
                                                        const EventLogHeader& header,
                                                        const EventLogWriterOptions& options,
                                                        Clock* clock = nullptr);
  ~EventLogWriter();
  EventLogWriter(const EventLogWriter&) = delete;
  EventLogWriter& operator=(const EventLogWriter&) = delete;

  // The entry; when the record already carries its outcome (acked, or a publish_error), that
  // goes to the sidecar as well. A live run appends at send time and reports the outcome with
  // AppendOutcome when the broker answers.
  Status Append(const PublishRecord& record);
  Status Append(const FaultRecord& record);
  // One publish's outcome (sidecar; any order, any thread).
  // msg: OutcomeKey of the publish.
  Status AppendOutcome(const std::string& service, uint64_t msg, int64_t published_ms, bool acked,
                       const std::string& error);

  // Streams (ordered logs; no-ops otherwise). Register before the producer appends anything;
  // the returned name is `name`, made unique if taken. Advance: every later record of the
  // stream has offset_ms >= offset_ms (monotonic). Finish: the stream appends nothing more.
  std::string RegisterStream(const std::string& name, int64_t from_offset_ms = 0);
  void AdvanceStream(const std::string& name, int64_t offset_ms);
  void FinishStream(const std::string& name);

  // Writes what is releasable and flushes both files.
  Status Flush();
  // Writes what precedes every still-registered stream (everything when none is), closes.
  Status Close();
  const std::string& path() const { return path_; }
  const std::string& acks_path() const { return acks_path_; }  // "" without a sidecar
  uint64_t records() const;  // entries appended (publishes and faults)

 private:
  class Sink;
  struct Pending {
    int64_t offset_ms;
    int kind;  // 0 fault, 1 publish
    std::string service;
    uint64_t seq;  // faults: append order
    uint64_t msg;
    std::string line;
  };
  EventLogWriter(std::string path, std::string acks_path, bool ordered, std::unique_ptr<Sink> log,
                 std::unique_ptr<Sink> acks);
  Status Enqueue(Pending p);
  void ReleaseLocked(int64_t bound);  // REQUIRES mu_
  int64_t BoundLocked() const;        // REQUIRES mu_: min watermark of registered streams
  Status WriteReady(bool flush);      // moves ready_ lines to the sinks
  void FlusherLoop();

  static constexpr std::chrono::milliseconds kFlushInterval{100};
  std::string path_;
  std::string acks_path_;
  bool ordered_;

  mutable std::mutex mu_;  // the buffers and streams
  std::condition_variable cv_;
  bool closed_ = false;
  std::vector<Pending> heap_;               // min-heap by order key (ordered logs)
  std::string ready_;                       // released log lines, not yet written
  std::string ready_acks_;                  // sidecar lines, not yet written
  std::map<std::string, int64_t> streams_;  // registered stream → watermark (ms)
  uint64_t records_ = 0;
  uint64_t faults_ = 0;
  Status status_;  // the first write error

  std::mutex io_mu_;  // the sinks
  std::unique_ptr<Sink> log_;
  std::unique_ptr<Sink> acks_;
  std::thread flusher_;
};

struct EventLog {
  EventLogHeader header;
  std::vector<PublishRecord> publishes;
  std::vector<FaultRecord> faults;
  bool truncated_tail = false;  // the last line was cut off (a killed run) and was skipped
  bool has_outcomes = false;    // a sidecar was merged
};

// Reads a log, plain or gzip (by its magic bytes; a truncated gzip stream reads as far as it
// goes), and merges its sidecar when present: outcomes keyed by (service, seq) fill
// published_ms/acked/publish_error (a publish without one: not acked), the run line
// header.started_at_ms. Without a sidecar (an imported log) every publish counts as acked at its
// offset. A path that does not exist is retried with ".gz". A malformed line in the middle is an
// error naming its line number; a malformed last line without a trailing newline is a run killed
// mid-write and is skipped (truncated_tail).
Result<EventLog> ReadEventLog(const std::string& path);
// Parses the log's text (no sidecar: publishes count as acked at their offset unless the lines
// carry their outcome, as format-1 logs before the sidecar did).
Result<EventLog> ParseEventLog(const std::string& text);
// Merges a sidecar's text into a parsed log.
Status MergeOutcomes(const std::string& acks_text, EventLog* log);
// The decompressed text of a gzip stream, as far as it goes; *complete = it reached its end.
Result<std::string> Gunzip(const std::string& bytes, bool* complete);

}  // namespace ingestlab::sim
