// Event log writer and reader: see event_log.h.
#include "simulators/event_log.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "simulators/encoding.h"

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
              {"started_at_ms", h.started_at_ms},
              {"epoch_ms", h.epoch_ms},
              {"scenario_yaml", h.scenario_yaml}};
}

json ToJson(const PublishRecord& r) {
  json j{{"kind", "publish"},
         {"offset_ms", r.offset_ms},
         {"service", r.service},
         {"seq", r.seq},
         {"type", r.type},
         {"event_id", r.event_id},
         {"transport", r.transport},
         {"subject", r.subject},
         {"key", r.key},
         {"headers", r.headers},
         {"payload_b64", Base64Encode(r.payload)},
         {"expected", r.expected},
         {"scheduled_ms", r.scheduled_ms},
         {"published_ms", r.published_ms},
         {"acked", r.acked}};
  j["publish_error"] = r.publish_error.empty() ? json(nullptr) : json(r.publish_error);
  return j;
}

json ToJson(const FaultRecord& r) {
  return json{{"kind", "fault"},
              {"offset_ms", r.offset_ms},
              {"action", r.action},
              {"target", r.target},
              {"params", r.params}};
}

Result<std::unique_ptr<EventLogWriter>> EventLogWriter::Create(const std::string& path,
                                                               const EventLogHeader& header,
                                                               Clock* clock) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return Status::Io("event log " + path + ": " + std::strerror(errno));
  std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
  std::unique_ptr<EventLogWriter> w(new EventLogWriter(path, f, clock ? clock : &Clock::System()));
  INGEST_RETURN_IF_ERROR(w->WriteLine(ToJson(header), true));
  return w;
}

EventLogWriter::~EventLogWriter() { Close(); }

Status EventLogWriter::WriteLine(const json& j, bool flush_now) {
  // error_handler::replace: payload-derived strings never make dump() throw.
  return WriteText(j.dump(-1, ' ', false, json::error_handler_t::replace), flush_now);
}

Status EventLogWriter::WriteText(std::string line, bool flush_now) {
  line += '\n';
  const int64_t now = clock_->NowMonoNanos();
  std::lock_guard<std::mutex> lock(mu_);
  if (!file_) return Status::Io("event log " + path_ + " is closed");
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size()) {
    return Status::Io("event log " + path_ + ": " + std::strerror(errno));
  }
  ++records_;
  if (flush_now || now - last_flush_ns_ >= kFlushIntervalNanos) {
    last_flush_ns_ = now;
    if (std::fflush(file_) != 0)
      return Status::Io("event log " + path_ + ": " + std::strerror(errno));
  }
  return Status::Ok();
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

// The publish record as one line, written without building a json tree (hot path).
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
  num("scheduled_ms", r.scheduled_ms);
  num("published_ms", r.published_ms);
  field("acked");
  line += r.acked ? "true" : "false";
  field("publish_error");
  if (r.publish_error.empty()) {
    line += "null";
  } else {
    AppendJsonString(&line, r.publish_error);
  }
  line += "}";
  return line;
}

}  // namespace

Status EventLogWriter::Append(const PublishRecord& record) {
  return WriteText(PublishLine(record), false);
}
Status EventLogWriter::Append(const FaultRecord& record) { return WriteLine(ToJson(record), true); }

Status EventLogWriter::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!file_) return Status::Ok();
  if (std::fflush(file_) != 0)
    return Status::Io("event log " + path_ + ": " + std::strerror(errno));
  return Status::Ok();
}

uint64_t EventLogWriter::records() const {
  std::lock_guard<std::mutex> lock(mu_);
  return records_;
}

Status EventLogWriter::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!file_) return Status::Ok();
  const int rc = std::fclose(file_);
  file_ = nullptr;
  return rc == 0 ? Status::Ok() : Status::Io("event log " + path_ + ": close failed");
}

namespace {

Status ParseRecord(const json& j, EventLog* log, bool first) {
  const std::string kind = j.at("kind").get<std::string>();
  if (first != (kind == "header")) {
    return Status::Parse(first ? "the first line must be the header"
                               : "a header may only be the first line");
  }
  if (kind == "header") {
    const int format = j.at("format").get<int>();
    if (format != kEventLogFormat) {
      return Status::Parse("unsupported event log format " + std::to_string(format));
    }
    EventLogHeader& h = log->header;
    h.scenario = j.value("scenario", "");
    h.seed = j.value("seed", uint64_t{0});
    h.ingestlab_version = j.value("ingestlab_version", "");
    h.git_commit = j.value("git_commit", "");
    h.topology = j.value("topology", json::object());
    h.started_at_ms = j.value("started_at_ms", int64_t{0});
    h.epoch_ms = j.value("epoch_ms", h.started_at_ms);
    h.scenario_yaml = j.value("scenario_yaml", "");
  } else if (kind == "publish") {
    PublishRecord r;
    r.offset_ms = j.at("offset_ms").get<int64_t>();
    r.service = j.at("service").get<std::string>();
    r.seq = j.at("seq").get<uint64_t>();
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
    r.scheduled_ms = j.value("scheduled_ms", int64_t{0});
    r.published_ms = j.value("published_ms", int64_t{0});
    r.acked = j.at("acked").get<bool>();
    if (j.contains("publish_error") && j["publish_error"].is_string()) {
      r.publish_error = j["publish_error"].get<std::string>();
    }
    log->publishes.push_back(std::move(r));
  } else if (kind == "fault") {
    FaultRecord r;
    r.offset_ms = j.at("offset_ms").get<int64_t>();
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
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    const bool last_without_newline = end == std::string::npos;
    if (last_without_newline) end = text.size();
    const std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    Status st;
    try {
      st = ParseRecord(json::parse(line), &log, line_no == 1);
    } catch (const json::exception& e) {
      st = Status::Parse(e.what());
    }
    if (!st.ok()) {
      if (last_without_newline && line_no > 1) {
        log.truncated_tail = true;  // a run killed mid-write
        break;
      }
      return st.Annotate("event log line " + std::to_string(line_no));
    }
  }
  if (line_no == 0) return Status::Parse("event log is empty (no header)");
  return log;
}

Result<EventLog> ReadEventLog(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Io("event log " + path + ": cannot open");
  std::stringstream buf;
  buf << in.rdbuf();
  auto log = ParseEventLog(buf.str());
  if (!log.ok()) return log.status().Annotate(path);
  return log;
}

}  // namespace ingestlab::sim
