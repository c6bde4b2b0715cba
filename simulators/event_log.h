// The event log: what a run published and did, as JSON Lines, written as the run goes so that a
// killed run still leaves a usable log. The record/replay feature reads it back.
//   line 1: {"kind":"header","format":1,"scenario":...,"seed":N,"ingestlab_version":...,
//            "git_commit":...,"topology":{...},"started_at_ms":...}
//   per publish: {"kind":"publish","offset_ms":...,"service":...,"seq":N,"type":...,
//            "event_id":...,"transport":"jetstream|nats|kafka","subject":...,"key":...,
//            "headers":{...},"payload_b64":"...","expected":"applied|duplicate|dead_letter:parse|...",
//            "scheduled_ms":...,"published_ms":...,"acked":true|false,"publish_error":...}
//   per fault action: {"kind":"fault","offset_ms":...,"action":...,"target":...,"params":{...}}
// offset_ms, scheduled_ms and published_ms are milliseconds since started_at_ms (the run start).
// Lines are flushed in batches: the header and fault records at once, publish records at least
// every flush_interval (100 ms), so a killed run loses at most its last fraction of a second.
// Thread-safety: EventLogWriter is safe for concurrent use; ReadEventLog is a pure function.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
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
  int64_t started_at_ms = 0;
  // The origin of the event times in payloads (wall clock at run start unless fixed).
  int64_t epoch_ms = 0;
  // The scenario as written (YAML): its topology and assertions make the log replayable alone.
  std::string scenario_yaml;
};

struct PublishRecord {
  int64_t offset_ms = 0;
  std::string service;
  uint64_t seq = 0;
  std::string type;
  std::string event_id;
  std::string transport;  // jetstream | nats | kafka
  std::string subject;
  std::string key;
  std::map<std::string, std::string> headers;
  std::string payload;  // raw bytes (base64 in the file)
  std::string expected;
  int64_t scheduled_ms = 0;
  int64_t published_ms = 0;
  bool acked = false;
  std::string publish_error;  // "" when acked
};

struct FaultRecord {
  int64_t offset_ms = 0;
  std::string action;  // "kill", "broker_down", "partition", ...
  std::string target;  // "ingestd[0]", "nats[1]", "kafka broker 2", ...
  nlohmann::json params = nlohmann::json::object();
};

nlohmann::json ToJson(const EventLogHeader& h);
nlohmann::json ToJson(const PublishRecord& r);
nlohmann::json ToJson(const FaultRecord& r);

class EventLogWriter {
 public:
  // Creates (truncates) the file and writes the header line. The clock (not owned; default the
  // system clock) paces batch flushes.
  static Result<std::unique_ptr<EventLogWriter>> Create(const std::string& path,
                                                        const EventLogHeader& header,
                                                        Clock* clock = nullptr);
  ~EventLogWriter();
  EventLogWriter(const EventLogWriter&) = delete;
  EventLogWriter& operator=(const EventLogWriter&) = delete;

  Status Append(const PublishRecord& record);
  Status Append(const FaultRecord& record);  // flushed at once
  Status Flush();
  Status Close();
  const std::string& path() const { return path_; }
  uint64_t records() const;

 private:
  EventLogWriter(std::string path, std::FILE* f, Clock* clock)
      : path_(std::move(path)), file_(f), clock_(clock) {}
  Status WriteLine(const nlohmann::json& j, bool flush_now);
  Status WriteText(std::string line, bool flush_now);

  static constexpr int64_t kFlushIntervalNanos = 100'000'000;
  std::string path_;
  mutable std::mutex mu_;
  std::FILE* file_;
  Clock* clock_;
  int64_t last_flush_ns_ = 0;
  uint64_t records_ = 0;
};

struct EventLog {
  EventLogHeader header;
  std::vector<PublishRecord> publishes;
  std::vector<FaultRecord> faults;
  bool truncated_tail = false;  // the last line was cut off (a killed run) and was skipped
};

// Parses a log. A malformed line in the middle is an error naming its line number; a malformed
// last line without a trailing newline is a run killed mid-write and is skipped.
Result<EventLog> ReadEventLog(const std::string& path);
Result<EventLog> ParseEventLog(const std::string& text);

}  // namespace ingestlab::sim
