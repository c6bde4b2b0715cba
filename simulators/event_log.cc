// Event log writer and reader: see event_log.h.
#include "simulators/event_log.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "common/log.h"
#include "simulators/encoding.h"
#include "system/json_depth.h"

namespace ingestlab::sim {

using nlohmann::json;

json ToJson(const EventLogHeader& h) {
  return json{{"kind", "header"},
              {"format", kEventLogFormat},
              {"scenario", h.scenario},
              {"seed", h.seed},
              {"ingestlab_version", h.ingestlab_version},
              {"git_commit", h.git_commit},
              {"topology", h.topology},
              {"epoch_ms", h.epoch_ms},
              {"scenario_yaml", h.scenario_yaml}};
}

json ToJson(const FaultRecord& r) {
  return json{{"kind", "fault"},
              {"offset_ms", r.offset_ms},
              {"action", r.action},
              {"target", r.target},
              {"params", r.params}};
}

namespace {

// JSON string literal of s; invalid UTF-8 bytes become U+FFFD (as json's replace handler does).
void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
      ++i;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out->append(buf);
      ++i;
    } else if (c < 0x80) {
      out->push_back(static_cast<char>(c));
      ++i;
    } else {
      // Copy a well-formed UTF-8 sequence; anything else is replaced.
      const int len = c >= 0xF0 && c <= 0xF4   ? 4
                      : c >= 0xE0 && c <= 0xEF ? 3
                      : c >= 0xC2 && c <= 0xDF ? 2
                                               : 0;
      bool ok = len > 0 && i + static_cast<size_t>(len) <= s.size();
      for (int k = 1; ok && k < len; ++k) {
        ok = (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0xC0) == 0x80;
      }
      if (ok && len >= 3) {  // no overlong forms, surrogates or code points above U+10FFFF
        const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
        ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 > 0x9F) && !(c == 0xF0 && c1 < 0x90) &&
             !(c == 0xF4 && c1 > 0x8F);
      }
      if (ok) {
        out->append(s.substr(i, static_cast<size_t>(len)));
        i += static_cast<size_t>(len);
      } else {
        out->append("\xEF\xBF\xBD");
        ++i;
      }
    }
  }
  out->push_back('"');
}

}  // namespace

std::string PublishLine(const PublishRecord& r) {
  std::string line;
  line.reserve(320 + r.payload.size() * 4 / 3);
  auto field = [&](const char* name) {
    line += line.empty() ? "{\"" : ",\"";
    line += name;
    line += "\":";
  };
  auto str = [&](const char* name, std::string_view v) {
    field(name);
    AppendJsonString(&line, v);
  };
  auto num = [&](const char* name, auto v) {
    field(name);
    line += std::to_string(v);
  };
  str("kind", "publish");
  num("offset_ms", r.offset_ms);
  str("service", r.service);
  num("seq", r.seq);
  if (r.msg != 0) num("msg", r.msg);
  str("type", r.type);
  str("event_id", r.event_id);
  str("transport", r.transport);
  str("subject", r.subject);
  str("key", r.key);
  field("headers");
  line += '{';
  bool first = true;
  for (const auto& [k, v] : r.headers) {
    if (!first) line += ',';
    first = false;
    AppendJsonString(&line, k);
    line += ':';
    AppendJsonString(&line, v);
  }
  line += '}';
  str("payload_b64", Base64Encode(r.payload));
  str("expected", r.expected);
  line += "}";
  return line;
}

namespace {

// One sidecar line: a publish's outcome.
std::string OutcomeLine(const std::string& service, uint64_t msg, int64_t published_ms, bool acked,
                        const std::string& error) {
  std::string line = "{\"service\":";
  AppendJsonString(&line, service);
  line += ",\"msg\":" + std::to_string(msg);
  line += ",\"published_ms\":" + std::to_string(published_ms);
  line += acked ? ",\"acked\":true" : ",\"acked\":false";
  line += ",\"error\":";
  if (error.empty()) {
    line += "null";
  } else {
    AppendJsonString(&line, error);
  }
  line += "}";
  return line;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

}  // namespace

std::string AcksPathFor(const std::string& log_path) {
  std::string base = log_path;
  const bool gz = EndsWith(base, ".gz");
  if (gz) base.resize(base.size() - 3);
  if (EndsWith(base, ".log")) base.resize(base.size() - 4);
  return base + ".acks" + (gz ? ".gz" : "");
}

std::string FindEventLog(const std::string& run_dir) {
  for (const char* name : {"/events.log", "/events.log.gz"}) {
    if (Exists(run_dir + name)) return run_dir + name;
  }
  return "";
}

// A plain or gzip file written in batches.
class EventLogWriter::Sink {
 public:
  static Result<std::unique_ptr<Sink>> Open(const std::string& path, bool gzip) {
    std::unique_ptr<Sink> s(new Sink());
    s->path_ = path;
    if (gzip) {
      // Level 1: a large log is written at tens of MB/s; speed matters more than the last 20%.
      s->gz_ = gzopen(path.c_str(), "wb1");
      if (!s->gz_) return Status::Io("event log " + path + ": " + std::strerror(errno));
      gzbuffer(s->gz_, 1 << 20);
    } else {
      s->file_ = std::fopen(path.c_str(), "w");
      if (!s->file_) return Status::Io("event log " + path + ": " + std::strerror(errno));
      std::setvbuf(s->file_, nullptr, _IOFBF, 1 << 20);
    }
    return s;
  }
  ~Sink() { Close(); }

  Status Write(const std::string& data) {
    if (data.empty()) return Status::Ok();
    if (gz_) {
      size_t done = 0;
      while (done < data.size()) {
        const unsigned chunk =
            static_cast<unsigned>(std::min<size_t>(data.size() - done, 1u << 30));
        if (gzwrite(gz_, data.data() + done, chunk) != static_cast<int>(chunk)) return Error();
        done += chunk;
      }
      dirty_ = true;
      return Status::Ok();
    }
    if (!file_) return Status::Io("event log " + path_ + " is closed");
    if (std::fwrite(data.data(), 1, data.size(), file_) != data.size()) return Error();
    dirty_ = true;
    return Status::Ok();
  }
  // Makes everything written so far readable from the file (gzip: a sync flush point).
  Status Flush() {
    if (!dirty_) return Status::Ok();
    dirty_ = false;
    if (gz_) return gzflush(gz_, Z_SYNC_FLUSH) == Z_OK ? Status::Ok() : Error();
    if (file_ && std::fflush(file_) != 0) return Error();
    return Status::Ok();
  }
  Status Close() {
    int rc = 0;
    if (gz_) {
      rc = gzclose(gz_) == Z_OK ? 0 : -1;
      gz_ = nullptr;
    } else if (file_) {
      rc = std::fclose(file_);
      file_ = nullptr;
    } else {
      return Status::Ok();
    }
    return rc == 0 ? Status::Ok() : Status::Io("event log " + path_ + ": close failed");
  }

 private:
  Sink() = default;
  Status Error() const { return Status::Io("event log " + path_ + ": " + std::strerror(errno)); }
  std::string path_;
  std::FILE* file_ = nullptr;
  gzFile gz_ = nullptr;
  bool dirty_ = false;
};

Result<std::unique_ptr<EventLogWriter>> EventLogWriter::Create(const std::string& path,
                                                               const EventLogHeader& header,
                                                               Clock* clock) {
  return Create(path, header, EventLogWriterOptions{}, clock);
}

Result<std::unique_ptr<EventLogWriter>> EventLogWriter::Create(const std::string& path,
                                                               const EventLogHeader& header,
                                                               const EventLogWriterOptions& options,
                                                               Clock* /*clock*/) {
  std::string log_path = path;
  if (options.compress && !EndsWith(log_path, ".gz")) log_path += ".gz";
  std::string acks_path = options.acks_path.empty() ? AcksPathFor(log_path) : options.acks_path;
  auto log = Sink::Open(log_path, options.compress);
  if (!log.ok()) return log.status();
  // error_handler::replace: payload-derived strings never make dump() throw.
  INGEST_RETURN_IF_ERROR(
      (*log)->Write(ToJson(header).dump(-1, ' ', false, json::error_handler_t::replace) + "\n"));
  INGEST_RETURN_IF_ERROR((*log)->Flush());
  std::unique_ptr<Sink> acks;
  if (options.write_acks) {
    auto opened = Sink::Open(acks_path, options.compress);
    if (!opened.ok()) return opened.status();
    acks = std::move(opened).value();
    INGEST_RETURN_IF_ERROR(
        acks->Write(json{{"kind", "run"}, {"started_at_ms", header.started_at_ms}}.dump() + "\n"));
    INGEST_RETURN_IF_ERROR(acks->Flush());
  } else {
    // A sidecar left from an earlier log at this path would be merged into this one.
    std::error_code ec;
    std::filesystem::remove(acks_path, ec);
    std::filesystem::remove(
        EndsWith(acks_path, ".gz") ? acks_path.substr(0, acks_path.size() - 3) : acks_path + ".gz",
        ec);
    acks_path.clear();
  }
  std::unique_ptr<EventLogWriter> w(new EventLogWriter(log_path, acks_path, options.ordered,
                                                       std::move(log).value(), std::move(acks)));
  w->flusher_ = std::thread([raw = w.get()] { raw->FlusherLoop(); });
  return w;
}

EventLogWriter::EventLogWriter(std::string path, std::string acks_path, bool ordered,
                               std::unique_ptr<Sink> log, std::unique_ptr<Sink> acks)
    : path_(std::move(path)),
      acks_path_(std::move(acks_path)),
      ordered_(ordered),
      log_(std::move(log)),
      acks_(std::move(acks)) {}

EventLogWriter::~EventLogWriter() { Close(); }

namespace {

// Heap order: the smallest (offset, kind, service, seq) on top.
struct LaterFirst {
  template <typename P>
  bool operator()(const P& a, const P& b) const {
    if (a.offset_ms != b.offset_ms) return a.offset_ms > b.offset_ms;
    if (a.kind != b.kind) return a.kind > b.kind;
    if (a.service != b.service) return a.service > b.service;
    if (a.seq != b.seq) return a.seq > b.seq;
    return a.msg > b.msg;
  }
};

}  // namespace

Status EventLogWriter::Enqueue(Pending p) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return Status::Io("event log " + path_ + " is closed");
  if (!status_.ok()) return status_;
  ++records_;
  if (!ordered_) {
    ready_ += p.line;
    ready_ += '\n';
    return Status::Ok();
  }
  heap_.push_back(std::move(p));
  std::push_heap(heap_.begin(), heap_.end(), LaterFirst{});
  ReleaseLocked(BoundLocked());
  return Status::Ok();
}

int64_t EventLogWriter::BoundLocked() const {
  int64_t bound = INT64_MAX;
  for (const auto& [name, watermark] : streams_) bound = std::min(bound, watermark);
  return bound;
}

void EventLogWriter::ReleaseLocked(int64_t bound) {
  while (!heap_.empty() && heap_.front().offset_ms < bound) {
    std::pop_heap(heap_.begin(), heap_.end(), LaterFirst{});
    ready_ += heap_.back().line;
    ready_ += '\n';
    heap_.pop_back();
  }
}

Status EventLogWriter::Append(const PublishRecord& record) {
  if (record.acked || !record.publish_error.empty()) {
    INGEST_RETURN_IF_ERROR(AppendOutcome(record.service, OutcomeKey(record), record.published_ms,
                                         record.acked, record.publish_error));
  }
  return Enqueue(
      Pending{record.offset_ms, 1, record.service, record.seq, record.msg, PublishLine(record)});
}

Status EventLogWriter::Append(const FaultRecord& record) {
  std::string line = ToJson(record).dump(-1, ' ', false, json::error_handler_t::replace);
  uint64_t order;
  {
    std::lock_guard<std::mutex> lock(mu_);
    order = faults_++;
  }
  return Enqueue(Pending{record.offset_ms, 0, "", order, 0, std::move(line)});
}

Status EventLogWriter::AppendOutcome(const std::string& service, uint64_t msg, int64_t published_ms,
                                     bool acked, const std::string& error) {
  std::string line = OutcomeLine(service, msg, published_ms, acked, error);
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return Status::Io("event log " + path_ + " is closed");
  if (acks_path_.empty()) return status_;  // no sidecar
  ready_acks_ += line;
  ready_acks_ += '\n';
  return status_;
}

std::string EventLogWriter::RegisterStream(const std::string& name, int64_t from_offset_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string unique = name;
  for (int n = 2; streams_.count(unique); ++n) unique = name + "#" + std::to_string(n);
  if (ordered_ && !closed_) streams_[unique] = from_offset_ms;
  return unique;
}

void EventLogWriter::AdvanceStream(const std::string& name, int64_t offset_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = streams_.find(name);
  if (it == streams_.end() || offset_ms <= it->second) return;
  it->second = offset_ms;
  ReleaseLocked(BoundLocked());
}

void EventLogWriter::FinishStream(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (streams_.erase(name) == 0) return;
  ReleaseLocked(BoundLocked());
}

Status EventLogWriter::WriteReady(bool flush) {
  std::lock_guard<std::mutex> io(io_mu_);  // before mu_: batches reach the file in order
  std::string lines, acks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    lines.swap(ready_);
    acks.swap(ready_acks_);
  }
  if (!log_) return Status::Ok();
  Status st = log_->Write(lines);
  if (st.ok() && acks_) st = acks_->Write(acks);
  if (st.ok() && flush) st = log_->Flush();
  if (st.ok() && flush && acks_) st = acks_->Flush();
  if (!st.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (status_.ok()) status_ = st;
  }
  return st;
}

void EventLogWriter::FlusherLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!closed_) {
    cv_.wait_for(lock, kFlushInterval);
    if (closed_) break;
    lock.unlock();
    WriteReady(true);
    lock.lock();
  }
}

Status EventLogWriter::Flush() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return status_;
  }
  return WriteReady(true);
}

uint64_t EventLogWriter::records() const {
  std::lock_guard<std::mutex> lock(mu_);
  return records_;
}

Status EventLogWriter::Close() {
  size_t dropped = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return status_;
    closed_ = true;
    ReleaseLocked(BoundLocked());
    dropped = heap_.size();
    heap_.clear();
  }
  cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (dropped > 0) {
    LOG(kInfo, "event_log") << path_ << ": " << dropped
                            << " record(s) after the point every stream reached were left out "
                               "(a stopped run's log is a prefix of the full run's)";
  }
  WriteReady(true);  // an error lands in status_
  std::lock_guard<std::mutex> io(io_mu_);
  Status closed_log = log_->Close();
  Status closed_acks = acks_ ? acks_->Close() : Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  if (status_.ok() && !closed_log.ok()) status_ = closed_log;
  if (status_.ok() && !closed_acks.ok()) status_ = closed_acks;
  return status_;
}

namespace {

// A log is read from a file that may come from anywhere (an import, a colleague's run). Every
// line is checked before it becomes a json value (copying one recurses per nesting level, so a
// line of 100,000 '[' overflowed the stack), and integer fields must be JSON integers (a cast
// of 1e300 to int64_t is undefined behaviour). The writer nests two levels deep at most.
constexpr int kMaxLineDepth = 32;

Status LineTooDeep() {
  return Status::Parse("JSON nested deeper than " + std::to_string(kMaxLineDepth) + " levels");
}

// A field that is not what the format says: rejected like a json type error.
struct BadField : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The integer member `key` of j; `fallback` when it is absent (an error without one).
template <typename T>
T Integer(const json& j, const char* key, std::optional<T> fallback = std::nullopt) {
  const auto it = j.find(key);
  if (it == j.end()) {
    if (fallback) return *fallback;
    throw BadField(std::string("missing '") + key + "'");
  }
  if (!it->is_number_integer()) {
    throw BadField(std::string("'") + key + "' must be an integer, got " + it->dump());
  }
  return it->get<T>();
}

// The lines of a JSON-lines text in order, numbered from 1 (empty ones counted too). The last
// may lack its newline: a run killed mid-write.
class Lines {
 public:
  explicit Lines(std::string_view text) : text_(text) {}

  // The next line into *line; false after the last.
  bool Next(std::string_view* line) {
    if (pos_ >= text_.size()) return false;
    size_t end = text_.find('\n', pos_);
    last_without_newline_ = end == std::string_view::npos;
    if (last_without_newline_) end = text_.size();
    *line = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    ++number_;
    return true;
  }
  int number() const { return number_; }
  bool last_without_newline() const { return last_without_newline_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int number_ = 0;
  bool last_without_newline_ = false;
};

// use(the line parsed as JSON). A line nested too deep, malformed JSON and a json or BadField
// exception from `use` are Parse errors.
Status WithJsonLine(std::string_view line, const std::function<Status(const json&)>& use) {
  if (JsonNestedDeeperThan(line, kMaxLineDepth)) return LineTooDeep();
  try {
    return use(json::parse(line));
  } catch (const json::exception& e) {
    return Status::Parse(e.what());
  } catch (const BadField& e) {
    return Status::Parse(e.what());
  }
}

Status ParseRecord(const json& j, EventLog* log, bool first) {
  const std::string kind = j.at("kind").get<std::string>();
  if (first != (kind == "header")) {
    return Status::Parse(first ? "the first line must be the header"
                               : "a header may only be the first line");
  }
  if (kind == "header") {
    const int64_t format = Integer<int64_t>(j, "format");
    if (format != kEventLogFormat) {
      return Status::Parse("unsupported event log format " + std::to_string(format));
    }
    EventLogHeader& h = log->header;
    h.scenario = j.value("scenario", "");
    h.seed = Integer<uint64_t>(j, "seed", 0);
    h.ingestlab_version = j.value("ingestlab_version", "");
    h.git_commit = j.value("git_commit", "");
    h.topology = j.value("topology", json::object());
    // Logs before the sidecar carried started_at_ms in the header; now the sidecar does.
    h.epoch_ms = Integer<int64_t>(j, "epoch_ms", Integer<int64_t>(j, "started_at_ms", 0));
    h.started_at_ms = Integer<int64_t>(j, "started_at_ms", h.epoch_ms);
    h.scenario_yaml = j.value("scenario_yaml", "");
  } else if (kind == "publish") {
    PublishRecord r;
    r.offset_ms = Integer<int64_t>(j, "offset_ms");
    r.service = j.at("service").get<std::string>();
    r.seq = Integer<uint64_t>(j, "seq");
    r.msg = Integer<uint64_t>(j, "msg", 0);
    r.type = j.at("type").get<std::string>();
    r.event_id = j.at("event_id").get<std::string>();
    r.transport = j.at("transport").get<std::string>();
    r.subject = j.at("subject").get<std::string>();
    r.key = j.value("key", "");
    r.headers = j.value("headers", std::map<std::string, std::string>{});
    auto payload = Base64Decode(j.at("payload_b64").get<std::string>());
    if (!payload) return Status::Parse("payload_b64 is not base64");
    r.payload = std::move(*payload);
    r.expected = j.at("expected").get<std::string>();
    // offset_ms is the scheduled time. Without a sidecar a publish counts as acked at its
    // offset, unless the line carries its outcome (logs written before the sidecar).
    r.scheduled_ms = Integer<int64_t>(j, "scheduled_ms", r.offset_ms);
    r.published_ms = Integer<int64_t>(j, "published_ms", r.offset_ms);
    r.acked = j.value("acked", true);
    if (j.contains("publish_error") && j["publish_error"].is_string()) {
      r.publish_error = j["publish_error"].get<std::string>();
    }
    log->publishes.push_back(std::move(r));
  } else if (kind == "fault") {
    FaultRecord r;
    r.offset_ms = Integer<int64_t>(j, "offset_ms");
    r.action = j.at("action").get<std::string>();
    r.target = j.value("target", "");
    r.params = j.value("params", json::object());
    log->faults.push_back(std::move(r));
  } else {
    return Status::Parse("unknown record kind '" + kind + "'");
  }
  return Status::Ok();
}

}  // namespace

Result<EventLog> ParseEventLog(const std::string& text) {
  EventLog log;
  Lines lines(text);
  std::string_view line;
  while (lines.Next(&line)) {
    if (line.empty()) continue;
    const Status st = WithJsonLine(
        line, [&](const json& j) { return ParseRecord(j, &log, lines.number() == 1); });
    if (!st.ok()) {
      if (lines.last_without_newline() && lines.number() > 1) {
        log.truncated_tail = true;  // a run killed mid-write
        break;
      }
      return st.Annotate("event log line " + std::to_string(lines.number()));
    }
  }
  if (lines.number() == 0) return Status::Parse("event log is empty (no header)");
  return log;
}

Result<std::string> Gunzip(const std::string& bytes, bool* complete) {
  *complete = false;
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return Status::Internal("inflateInit2 failed");
  std::string out;
  std::vector<char> chunk(1 << 18);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  Status st;
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk.data());
    zs.avail_out = static_cast<uInt>(chunk.size());
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.append(chunk.data(), chunk.size() - zs.avail_out);
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) {
        *complete = true;
        break;
      }
      inflateReset(&zs);  // another gzip member follows
      continue;
    }
    if (rc == Z_BUF_ERROR || (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0)) {
      break;  // the input ends before the stream does: a cut-off file, read as far as it goes
    }
    if (rc != Z_OK) {
      st = Status::Parse(std::string("gzip: ") + (zs.msg ? zs.msg : "corrupt data"));
      break;
    }
  }
  inflateEnd(&zs);
  if (!st.ok()) return st;
  return out;
}

namespace {

bool IsGzip(const std::string& bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

// The file's text, decompressed when it is gzip; *cut = a gzip stream that stops short.
Result<std::string> ReadText(const std::string& path, bool* cut) {
  *cut = false;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Io(path + ": cannot open");
  std::stringstream buf;
  buf << in.rdbuf();
  std::string bytes = buf.str();
  if (!IsGzip(bytes)) return bytes;
  bool complete = false;
  auto text = Gunzip(bytes, &complete);
  if (!text.ok()) return text.status().Annotate(path);
  *cut = !complete;
  return text;
}

}  // namespace

Status MergeOutcomes(const std::string& acks_text, EventLog* log) {
  struct Outcome {
    int64_t published_ms;
    bool acked;
    std::string error;
  };
  std::unordered_map<std::string, Outcome> outcomes;
  auto key = [](const std::string& service, uint64_t seq) {
    return service + '\n' + std::to_string(seq);
  };
  const auto record_outcome = [&](const json& j) {
    if (j.value("kind", "") == "run") {
      log->header.started_at_ms = Integer<int64_t>(j, "started_at_ms");
      return Status::Ok();
    }
    Outcome o{Integer<int64_t>(j, "published_ms"), j.at("acked").get<bool>(), ""};
    if (j.contains("error") && j["error"].is_string()) o.error = j["error"].get<std::string>();
    const uint64_t msg =
        j.contains("msg") ? Integer<uint64_t>(j, "msg") : Integer<uint64_t>(j, "seq");
    outcomes[key(j.at("service").get<std::string>(), msg)] = std::move(o);
    return Status::Ok();
  };
  Lines lines(acks_text);
  std::string_view line;
  while (lines.Next(&line)) {
    if (line.empty()) continue;
    const Status st = WithJsonLine(line, record_outcome);
    if (!st.ok()) {
      if (lines.last_without_newline()) break;  // a run killed mid-write
      return st.Annotate("event log sidecar line " + std::to_string(lines.number()));
    }
  }
  for (auto& p : log->publishes) {
    auto it = outcomes.find(key(p.service, OutcomeKey(p)));
    if (it == outcomes.end()) {  // no answer was recorded (a killed run): not acked
      p.published_ms = p.offset_ms;
      p.acked = false;
      p.publish_error.clear();
    } else {
      p.published_ms = it->second.published_ms;
      p.acked = it->second.acked;
      p.publish_error = it->second.error;
    }
  }
  log->has_outcomes = true;
  return Status::Ok();
}

Result<EventLog> ReadEventLog(const std::string& path_in) {
  std::string path = path_in;
  if (!Exists(path) && Exists(path + ".gz")) path += ".gz";
  bool cut = false;
  auto text = ReadText(path, &cut);
  if (!text.ok()) return text.status().Annotate("event log");
  auto log = ParseEventLog(*text);
  if (!log.ok()) return log.status().Annotate(path);
  if (cut) log->truncated_tail = true;
  std::string acks = AcksPathFor(path);
  if (!Exists(acks)) acks = EndsWith(acks, ".gz") ? acks.substr(0, acks.size() - 3) : acks + ".gz";
  if (Exists(acks)) {
    bool acks_cut = false;
    auto acks_text = ReadText(acks, &acks_cut);
    if (!acks_text.ok()) return acks_text.status().Annotate("event log sidecar");
    Status merged = MergeOutcomes(*acks_text, &*log);
    if (!merged.ok()) return merged.Annotate(acks);
  }
  return log;
}

}  // namespace ingestlab::sim
