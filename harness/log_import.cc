// Imports of kcat dumps and JetStream streams into event logs; see log_import.h.
#include "harness/log_import.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>
#include <utility>

#include <nats/nats.h>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/redact.h"
#include "common/version.h"
#include "harness/scenario.h"
#include "system/nats/nats_util.h"
#include "system/sha256.h"

namespace ingestlab::harness {
namespace {

// ---- kcat lines through nlohmann::json --------------------------------------------------------
// kcat -J writes payloads unvalidated: bytes that are not UTF-8, and raw control characters, can
// stand inside its strings, and a strict JSON parser refuses both. Before parsing, such bytes
// are turned into escapes that survive it and are turned back afterwards, so that every string
// comes out byte for byte:
//   - a raw control character inside a string becomes \u00XX (the parser decodes it exactly);
//   - a byte that does not start a valid UTF-8 sequence becomes the private-use character
//     U+F700+byte (U+F780..U+F7FF);
//   - a real character in U+F700..U+F7FF (raw or \u-escaped) gets U+F700 in front of it, so the
//     mapping back is unambiguous.
constexpr uint32_t kByteEscapeBase = 0xF700;

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlongs, surrogates or values
// above U+10FFFF) and its code point; 0 when the byte does not start one.
size_t Utf8SequenceAt(std::string_view s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  size_t n = 0;
  uint32_t v = 0, min = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, v = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, v = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return n;
}

bool IsEscapeRange(uint32_t cp) { return (cp & ~0xFFu) == kByteEscapeBase; }

void AppendEscape(uint32_t cp, std::string* out) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(cp));
  out->append(buf);
}

std::string EscapeForStrictJson(std::string_view line) {
  std::string out;
  out.reserve(line.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < line.size();) {
    const unsigned char c = static_cast<unsigned char>(line[i]);
    if (!in_string) {
      in_string = c == '"';
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (c == '"') {
      in_string = false;
      out.push_back('"');
      ++i;
    } else if (c == '\\') {
      // An escape is copied whole; \uF7xx gets its marker in front.
      size_t n = i + 1 < line.size() && line[i + 1] == 'u' ? 6 : 2;
      n = std::min(n, line.size() - i);
      if (n == 6) {
        const uint32_t cp = std::strtoul(std::string(line.substr(i + 2, 4)).c_str(), nullptr, 16);
        if (IsEscapeRange(cp)) AppendEscape(kByteEscapeBase, &out);
      }
      out.append(line.substr(i, n));
      i += n;
    } else if (c < 0x20) {
      AppendEscape(c, &out);
      ++i;
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
    } else if (uint32_t cp = 0; size_t n = Utf8SequenceAt(line, i, &cp)) {
      if (IsEscapeRange(cp)) AppendEscape(kByteEscapeBase, &out);
      out.append(line.substr(i, n));
      i += n;
    } else {
      AppendEscape(kByteEscapeBase + c, &out);
      ++i;
    }
  }
  return out;
}

// The bytes a string parsed from EscapeForStrictJson's output stood for.
std::string UnescapeBytes(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  uint32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t n = static_cast<unsigned char>(s[i]) >= 0x80 ? Utf8SequenceAt(s, i, &cp) : 0;
    if (n == 0 || !IsEscapeRange(cp)) {
      const size_t len = std::max<size_t>(n, 1);
      out.append(s, i, len);
      i += len;
    } else if (cp == kByteEscapeBase) {  // the real character that follows
      uint32_t next = 0;
      const size_t m = i + 3 < s.size() ? Utf8SequenceAt(s, i + 3, &next) : 0;
      out.append(s, i + 3, m);
      i += 3 + m;
    } else {
      out.push_back(static_cast<char>(cp & 0xFF));
      i += 3;
    }
  }
  return out;
}

// A string member as its original bytes; nullptr-equivalent false when absent or not a string.
bool StringMember(const nlohmann::json& j, const char* key, std::string* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return false;
  *out = UnescapeBytes(it->get_ref<const std::string&>());
  return true;
}

// An integer member: false when present but not an integer that fits int64; absent leaves *out.
bool IntegerMember(const nlohmann::json& j, const char* key, int64_t* out) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if (it->is_number_integer() &&
      !(it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))) {
    *out = it->get<int64_t>();
    return true;
  }
  return false;
}

std::string LineExcerpt(const std::string& line) {
  std::string s = line.substr(0, 60);
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return line.size() > 60 ? s + "..." : s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
    const char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] + 32) : b[i];
    if (x != y) return false;
  }
  return true;
}

const std::string* FindHeader(const std::map<std::string, std::string>& headers,
                              std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return &v;
  }
  return nullptr;
}

std::string StringField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

nlohmann::json TopologyJson(const ImportScenarioSpec& spec) {
  return {{"nats_nodes", spec.nats_nodes},
          {"kafka_brokers", spec.kafka_brokers},
          {"ingestd", spec.ingestd}};
}

// A YAML double-quoted scalar: JSON string syntax is a subset of it.
std::string YamlQuoted(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

// ---- envelope peek ----------------------------------------------------------------------------

EnvelopePeek PeekEnvelope(std::string_view payload,
                          const std::map<std::string, std::string>& headers) {
  EnvelopePeek peek;
  if (FindHeader(headers, "ce_specversion")) {
    if (const std::string* t = FindHeader(headers, "ce_type")) peek.type = *t;
    if (const std::string* id = FindHeader(headers, "ce_id")) peek.event_id = *id;
    return peek;
  }
  const size_t first = payload.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || payload[first] != '{') return peek;
  const nlohmann::json j = nlohmann::json::parse(payload.begin(), payload.end(), nullptr,
                                                 /*allow_exceptions=*/false);
  if (!j.is_object()) return peek;
  if (j.contains("specversion")) {
    peek.type = StringField(j, "type");
    peek.event_id = StringField(j, "id");
  } else if (j.contains("customer_id") && j.contains("event_type")) {
    peek.type = StringField(j, "event_type");
    const std::string* msg_id = FindHeader(headers, "Nats-Msg-Id");
    peek.event_id = msg_id ? *msg_id : Sha256Hex(payload);
  } else if (j.contains("id") && j.contains("type") && j.contains("organization_id")) {
    peek.type = StringField(j, "type");
    peek.event_id = StringField(j, "id");
  }
  return peek;
}

// ---- kcat -------------------------------------------------------------------------------------

Result<sim::PublishRecord> ParseKcatLine(const std::string& line, int64_t first_ts_ms) {
  const nlohmann::json j = nlohmann::json::parse(EscapeForStrictJson(line), nullptr, false);
  if (j.is_discarded()) {
    return Status::Parse("not a kcat -J message line (malformed JSON): " + LineExcerpt(line));
  }
  sim::PublishRecord r;
  if (!j.is_object() || !StringMember(j, "topic", &r.subject)) {
    return Status::Parse("not a kcat -J message line (no \"topic\"): " + LineExcerpt(line));
  }
  r.transport = "kafka";
  StringMember(j, "key", &r.key);
  StringMember(j, "payload", &r.payload);
  if (auto h = j.find("headers"); h != j.end() && h->is_array()) {
    for (size_t i = 0; i + 1 < h->size(); i += 2) {
      const nlohmann::json& name = (*h)[i];
      const nlohmann::json& value = (*h)[i + 1];
      if (!name.is_string()) {
        return Status::Parse("kcat -J line: header names must be strings: " + LineExcerpt(line));
      }
      r.headers[UnescapeBytes(name.get<std::string>())] =
          value.is_string() ? UnescapeBytes(value.get<std::string>()) : "";
    }
  }
  int64_t ts = 0;
  if (!IntegerMember(j, "ts", &ts)) {
    return Status::Parse("kcat -J line: \"ts\" must be an integer: " + LineExcerpt(line));
  }
  r.published_ms = ts;
  // ts comes from the data: the difference saturates instead of overflowing.
  if (first_ts_ms < 0) {
    r.offset_ms = 0;
  } else if (__builtin_sub_overflow(ts, first_ts_ms, &r.offset_ms)) {
    r.offset_ms = ts < first_ts_ms ? std::numeric_limits<int64_t>::min()
                                   : std::numeric_limits<int64_t>::max();
  }
  int64_t offset = -1;
  if (IntegerMember(j, "offset", &offset) && offset >= 0) r.seq = static_cast<uint64_t>(offset);
  EnvelopePeek peek = PeekEnvelope(r.payload, r.headers);
  r.type = std::move(peek.type);
  r.event_id = std::move(peek.event_id);
  r.expected = "applied";
  r.acked = true;
  return r;
}

// ---- the generated scenario --------------------------------------------------------------------

std::string ImportScenarioName(const std::string& what) {
  // The name becomes a directory name: no "..", no leading '.', at most 128 characters.
  constexpr size_t kMaxName = 128;
  std::string name = what.substr(0, kMaxName);
  for (size_t i = 0; i < name.size(); ++i) {
    char& c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || (c == '.' && i > 0 && name[i - 1] != '.');
    if (!ok) c = '-';
  }
  return name.empty() ? std::string("import") : name;
}

double ImportDurationSeconds(int64_t last_offset_ms) {
  const int64_t ms = std::max<int64_t>(0, last_offset_ms);
  return static_cast<double>(ms / 1000 + (ms % 1000 != 0 ? 1 : 0) + 1);
}

std::string ImportScenarioYaml(const ImportScenarioSpec& spec) {
  const int64_t duration = std::max<int64_t>(1, std::llround(std::ceil(spec.duration_s)));
  std::string y;
  y += "# Generated by `ingestlab import` for `ingestlab replay`: the log's publish records are\n";
  y += "# the load, so there are no services. Edit freely: add a timeline of faults (the actions\n";
  y += "# of scenarios/*.yaml, with `at` within the duration), more ingestd, more assertions\n";
  y += "# (dead_letters, latency, lag_drained_within); keep the transports the data needs.\n";
  y += "name: " + YamlQuoted(ImportScenarioName(spec.name)) + "\n";
  y += "description: " + YamlQuoted(spec.description) + "\n";
  y += "seed: 0\n";
  y += "duration: " + std::to_string(duration) + "s\n";
  y += "topology:\n";
  y += "  nats_nodes: " + std::to_string(spec.nats_nodes) + "\n";
  y += "  kafka_brokers: " + std::to_string(spec.kafka_brokers) + "\n";
  y += "  ingestd: " + std::to_string(spec.ingestd) + "\n";
  y += "services: []\n";
  y += "timeline: []\n";
  y += "assertions:\n";
  y += "  - no_loss\n";
  y += "  - exactly_once\n";
  return y;
}

// ---- writing ----------------------------------------------------------------------------------

int64_t NumberImportedRecords(int64_t first_ts_ms, std::vector<sim::PublishRecord>* records) {
  // Offsets relative to the first message, in input order: a clock step backwards (or
  // partitions interleaved with skewed timestamps) never makes a record earlier than the
  // previous one, so replaying the log keeps its order. Timestamps come from the data, so the
  // difference saturates instead of overflowing.
  int64_t previous = 0;
  uint64_t seq = 0;
  for (sim::PublishRecord& r : *records) {
    int64_t since_first = 0;
    if (__builtin_sub_overflow(r.published_ms, first_ts_ms, &since_first)) {
      since_first = r.published_ms < first_ts_ms ? 0 : std::numeric_limits<int64_t>::max();
    }
    const int64_t offset = std::max(previous, std::max<int64_t>(0, since_first));
    previous = offset;
    r.offset_ms = offset;
    r.scheduled_ms = offset;
    r.published_ms = offset;
    r.service = "import";
    r.seq = ++seq;
    r.expected = "applied";
    r.acked = true;
    r.publish_error.clear();
  }
  return previous;
}

Result<ImportSummary> WriteImportedLog(const std::string& log_path, const ImportScenarioSpec& spec,
                                       int64_t first_ts_ms,
                                       std::vector<sim::PublishRecord>* records) {
  const int64_t previous = NumberImportedRecords(first_ts_ms, records);
  ImportScenarioSpec final_spec = spec;
  final_spec.name = ImportScenarioName(spec.name);
  final_spec.duration_s = ImportDurationSeconds(previous);

  sim::EventLogHeader header;
  header.scenario = final_spec.name;
  header.seed = 0;
  header.ingestlab_version = kVersion;
  header.git_commit = kGitCommit;
  header.topology = TopologyJson(final_spec);
  header.started_at_ms = first_ts_ms;
  header.epoch_ms = first_ts_ms;
  header.scenario_yaml = ImportScenarioYaml(final_spec);
  auto writer = sim::EventLogWriter::Create(log_path, header);
  if (!writer.ok()) return writer.status();
  for (const sim::PublishRecord& r : *records) {
    INGEST_RETURN_IF_ERROR(writer.value()->Append(r));
  }
  INGEST_RETURN_IF_ERROR(writer.value()->Close());

  ImportSummary summary;
  summary.log_path = log_path;
  summary.scenario = final_spec.name;
  summary.imported = records->size();
  summary.first_ts_ms = first_ts_ms;
  summary.last_offset_ms = previous;
  return summary;
}

// ---- kcat import --------------------------------------------------------------------------------

Result<ImportSummary> ImportKcat(std::istream& in, const std::string& log_path,
                                 const KcatImportOptions& options) {
  std::vector<sim::PublishRecord> records;
  std::set<std::string> topics;
  std::string first_topic;
  // The time origin: the first positive ts (kcat writes -1 when a message has none; such
  // records take the previous record's offset).
  int64_t first_ts_ms = 0;
  uint64_t skipped = 0;
  std::string first_bad;
  std::string line;
  uint64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    auto record = ParseKcatLine(line, first_ts_ms > 0 ? first_ts_ms : -1);
    if (!record.ok()) {
      const std::string where = "line " + std::to_string(line_number) + ": ";
      if (!options.skip_bad) {
        return Status::InvalidArgument(where + record.status().message());
      }
      if (skipped++ == 0) first_bad = where + record.status().message();
      continue;
    }
    if (records.empty()) first_topic = record->subject;
    if (first_ts_ms <= 0 && record->published_ms > 0) first_ts_ms = record->published_ms;
    topics.insert(record->subject);
    records.push_back(std::move(record.value()));
    if (options.progress && records.size() % 10'000 == 0) options.progress(records.size(), 0);
  }
  if (in.bad()) return Status::Io("reading " + options.source + " failed");
  if (records.empty()) {
    std::string what = "no kcat -J message lines in " + options.source;
    if (skipped > 0) what += " (" + std::to_string(skipped) + " bad; first: " + first_bad + ")";
    return Status::InvalidArgument(what);
  }

  ImportScenarioSpec spec;
  spec.name = options.scenario_name.empty() ? "import-" + first_topic : options.scenario_name;
  std::string topic_list;
  for (const std::string& t : topics) topic_list += (topic_list.empty() ? "" : ", ") + t;
  spec.description = "imported by `ingestlab import kcat` from " +
                     (options.source == "-" ? std::string("stdin") : options.source) + ": " +
                     std::to_string(records.size()) + " messages of Kafka topic" +
                     (topics.size() == 1 ? " " : "s ") + topic_list;
  spec.nats_nodes = options.nats_nodes;
  spec.kafka_brokers = 1;
  spec.ingestd = 1;
  auto summary = WriteImportedLog(log_path, spec, first_ts_ms, &records);
  if (!summary.ok()) return summary.status();
  summary->skipped_bad = skipped;
  summary->first_bad = first_bad;
  return summary;
}

// ---- JetStream import --------------------------------------------------------------------------

namespace {

Status NatsError(natsStatus s, const std::string& what,
                 jsErrCode jerr = static_cast<jsErrCode>(0)) {
  std::string message = what + ": " + natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last && *last && std::string_view(last).find(natsStatus_GetText(s)) == std::string::npos) {
    message += " (" + RedactText(last) + ")";  // cnats may name the URL as configured
  }
  if (jerr != 0) message += " (jetstream error " + std::to_string(static_cast<int>(jerr)) + ")";
  if (s == NATS_TIMEOUT || s == NATS_NO_SERVER || s == NATS_CONNECTION_CLOSED ||
      s == NATS_NO_RESPONDERS) {
    return Status::Transient(message);
  }
  return Status::Io(message);
}

// Owns the cnats objects of one import and releases them in order.
struct NatsSession {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  natsSubscription* sub = nullptr;
  std::string stream;
  std::string consumer;

  ~NatsSession() {
    if (sub) {
      natsSubscription_Unsubscribe(sub);
      natsSubscription_Destroy(sub);
    }
    if (js && !consumer.empty()) {
      js_DeleteConsumer(js, stream.c_str(), consumer.c_str(), nullptr, nullptr);
    }
    if (js) jsCtx_Destroy(js);
    if (nc) {
      natsConnection_Close(nc);
      natsConnection_Destroy(nc);
    }
  }
};

// The URL list with credentials redacted ("nats://user:secret@host:4222" ->
// "nats://user:***@host:4222", common/redact.h), for messages and the log's description.
std::string RedactedUrls(const std::vector<std::string>& urls) {
  std::string out;
  for (const std::string& url : urls) out += (out.empty() ? "" : ",") + RedactUrl(url);
  return out;
}

void CopyHeaders(natsMsg* m, std::map<std::string, std::string>* headers) {
  const char** keys = nullptr;
  int key_count = 0;
  if (natsMsgHeader_Keys(m, &keys, &key_count) != NATS_OK) return;
  for (int k = 0; k < key_count; ++k) {
    const char** values = nullptr;
    int value_count = 0;
    if (natsMsgHeader_Values(m, keys[k], &values, &value_count) == NATS_OK) {
      // The log keeps one value per header: the last, as a repeated Kafka header does.
      if (value_count > 0) (*headers)[keys[k]] = values[value_count - 1];
      free(values);
    }
  }
  free(keys);
}

}  // namespace

Result<ImportSummary> ImportJetStream(const JetStreamImportOptions& options,
                                      const std::string& log_path) {
  Clock& clock = Clock::System();
  const int64_t deadline_ns = clock.NowMonoNanos() + options.timeout_ms * 1'000'000;
  auto left_ms = [&]() {
    return std::max<int64_t>(0, (deadline_ns - clock.NowMonoNanos()) / 1'000'000);
  };
  const std::vector<std::string> urls = nats_util::SplitUrls({options.url});
  if (urls.empty()) return Status::InvalidArgument("no NATS URL given");
  if (options.stream.empty()) return Status::InvalidArgument("no stream name given");
  const std::string server = RedactedUrls(urls);

  NatsSession session;
  session.stream = options.stream;
  {
    natsOptions* opts = nullptr;
    natsStatus s = natsOptions_Create(&opts);
    if (s != NATS_OK) return NatsError(s, "nats options");
    std::vector<const char*> ptrs;
    for (const std::string& u : urls) ptrs.push_back(u.c_str());
    natsOptions_SetServers(opts, ptrs.data(), static_cast<int>(ptrs.size()));
    natsOptions_SetTimeout(opts, std::clamp<int64_t>(options.timeout_ms, 100, 5'000));
    natsOptions_SetMaxReconnect(opts, 5);
    natsOptions_SetReconnectWait(opts, 100);
    natsOptions_SetName(opts, "ingestlab-import");
    if (Status st = ApplyNatsSecurity(opts, options.security); !st.ok()) {
      natsOptions_Destroy(opts);
      return st;
    }
    s = natsConnection_Connect(&session.nc, opts);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
      session.nc = nullptr;
      return NatsError(s, "cannot connect to NATS at " + server);
    }
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = std::clamp<int64_t>(options.timeout_ms, 100, 5'000);
  natsStatus s = natsConnection_JetStream(&session.js, session.nc, &jo);
  if (s != NATS_OK) return NatsError(s, "JetStream context on " + server);

  jsErrCode jerr = static_cast<jsErrCode>(0);
  {
    jsStreamInfo* si = nullptr;
    s = js_GetStreamInfo(&si, session.js, options.stream.c_str(), nullptr, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
      return Status::NotFound("stream " + options.stream + " not found on " + server);
    }
    if (s != NATS_OK) {
      return NatsError(s, "looking up stream " + options.stream + " on " + server, jerr);
    }
    jsStreamInfo_Destroy(si);
  }

  // An ephemeral pull consumer without acks: it only reads, never disturbs the stream's own
  // consumers, and the server drops it by itself if this process dies mid-import.
  jsConsumerConfig cfg;
  jsConsumerConfig_Init(&cfg);
  cfg.AckPolicy = js_AckNone;
  cfg.DeliverPolicy = options.from_seq > 0 ? js_DeliverByStartSequence : js_DeliverAll;
  cfg.OptStartSeq = options.from_seq;
  if (!options.subject_filter.empty()) cfg.FilterSubject = options.subject_filter.c_str();
  cfg.InactiveThreshold = 30'000'000'000LL;
  cfg.MemoryStorage = true;
  cfg.Replicas = 1;
  jsConsumerInfo* ci = nullptr;
  jerr = static_cast<jsErrCode>(0);
  s = js_AddConsumer(&ci, session.js, options.stream.c_str(), &cfg, nullptr, &jerr);
  if (s != NATS_OK) {
    return NatsError(s, "creating a reader of stream " + options.stream, jerr);
  }
  session.consumer = ci->Name;
  uint64_t total = ci->NumPending;
  jsConsumerInfo_Destroy(ci);
  if (options.max_messages > 0) total = std::min(total, options.max_messages);
  if (total == 0) {
    std::string what = "stream " + options.stream + " has no messages";
    if (!options.subject_filter.empty()) what += " on " + options.subject_filter;
    if (options.from_seq > 0) what += " from sequence " + std::to_string(options.from_seq);
    return Status::InvalidArgument(what);
  }

  {
    natsInbox* inbox = nullptr;
    s = natsInbox_Create(&inbox);
    if (s != NATS_OK) return NatsError(s, "creating an inbox");
    const std::string inbox_subject = inbox;
    natsInbox_Destroy(inbox);
    s = natsConnection_SubscribeSync(&session.sub, session.nc, inbox_subject.c_str());
    if (s != NATS_OK) {
      session.sub = nullptr;
      return NatsError(s, "subscribing to " + inbox_subject);
    }
    natsSubscription_SetPendingLimits(session.sub, -1, -1);
  }
  const std::string next_subject =
      "$JS.API.CONSUMER.MSG.NEXT." + options.stream + "." + session.consumer;
  const char* inbox_subject = natsSubscription_GetSubject(session.sub);

  std::vector<sim::PublishRecord> records;
  records.reserve(static_cast<size_t>(std::min<uint64_t>(total, 1'000'000)));
  int64_t first_ts_ms = 0;
  int64_t request_left = 0;  // messages the outstanding pull request may still bring
  int64_t request_deadline_ns = 0;
  constexpr int64_t kRequestExpiresMs = 2'000;
  while (records.size() < total) {
    const int64_t now_ns = clock.NowMonoNanos();
    if (now_ns >= deadline_ns) break;
    if (request_left <= 0 || now_ns > request_deadline_ns) {
      const int64_t batch =
          std::min<int64_t>(kNatsPullBatch, static_cast<int64_t>(total - records.size()));
      const int64_t expires_ms = std::clamp<int64_t>(left_ms(), 10, kRequestExpiresMs);
      const std::string request = "{\"batch\":" + std::to_string(batch) +
                                  ",\"expires\":" + std::to_string(expires_ms * 1'000'000) + "}";
      s = natsConnection_PublishRequest(session.nc, next_subject.c_str(), inbox_subject,
                                        request.data(), static_cast<int>(request.size()));
      if (s != NATS_OK) return NatsError(s, "pull request on stream " + options.stream);
      request_left = batch;
      request_deadline_ns = now_ns + (expires_ms + 200) * 1'000'000;
    }
    natsMsg* m = nullptr;
    s = natsSubscription_NextMsg(&m, session.sub,
                                 std::clamp<int64_t>(left_ms(), 1, kRequestExpiresMs + 200));
    if (s == NATS_TIMEOUT) {
      request_left = 0;
      continue;
    }
    if (s != NATS_OK) return NatsError(s, "reading stream " + options.stream);
    const char* reply = natsMsg_GetReply(m);
    uint64_t stream_seq = 0;
    int64_t delivered = 0, ts_ns = 0;
    if (!reply || !nats_util::ParseAckReply(reply, &stream_seq, &delivered, &ts_ns)) {
      // A status message: 404 / 408 end the request, 409 too (with a reason), 100 is a
      // heartbeat.
      const char* status = nullptr;
      natsMsgHeader_Get(m, "Status", &status);
      const std::string code = status ? std::string(status).substr(0, 3) : "";
      if (code == "409") {
        const char* description = nullptr;
        natsMsgHeader_Get(m, "Description", &description);
        const std::string why = description ? description : "";
        natsMsg_Destroy(m);
        if (why.find("Deleted") != std::string::npos) {
          return Status::Io("the reader of stream " + options.stream + " was deleted: " + why);
        }
        request_left = 0;
        continue;
      }
      if (code != "100") request_left = 0;
      natsMsg_Destroy(m);
      continue;
    }
    sim::PublishRecord r;
    r.transport = "jetstream";
    r.subject = natsMsg_GetSubject(m);
    r.payload.assign(natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m)));
    CopyHeaders(m, &r.headers);
    natsMsg_Destroy(m);
    r.published_ms = ts_ns / 1'000'000;
    if (records.empty()) first_ts_ms = r.published_ms;
    EnvelopePeek peek = PeekEnvelope(r.payload, r.headers);
    r.type = std::move(peek.type);
    r.event_id = std::move(peek.event_id);
    records.push_back(std::move(r));
    --request_left;
    if (options.progress && records.size() % 10'000 == 0) options.progress(records.size(), total);
  }
  if (records.size() < total) {
    return Status::Transient(
        "timed out after " + FormatDurationSeconds(static_cast<double>(options.timeout_ms) / 1000) +
        ": " + std::to_string(records.size()) + " of " + std::to_string(total) +
        " messages of stream " + options.stream + " arrived (raise --timeout)");
  }

  ImportScenarioSpec spec;
  spec.name = options.scenario_name.empty() ? "import-" + options.stream : options.scenario_name;
  spec.description =
      "imported by `ingestlab import nats` from JetStream stream " + options.stream + " at " +
      server + ": " + std::to_string(records.size()) + " messages" +
      (options.subject_filter.empty() ? "" : " on " + options.subject_filter) +
      (options.from_seq > 0 ? " from sequence " + std::to_string(options.from_seq) : "");
  spec.nats_nodes = 1;
  spec.kafka_brokers = 0;
  spec.ingestd = 1;
  return WriteImportedLog(log_path, spec, first_ts_ms, &records);
}

}  // namespace ingestlab::harness
