// The fuzz targets' logic (see fuzz_targets.h).
#include "tests/fuzz/fuzz_targets.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/log_import.h"
#include "harness/scenario.h"
#include "simulators/event_log.h"
#include "system/envelope.h"
#include "system/nats/nats_util.h"
#include "system/schema.h"

namespace ingestlab::fuzz {
namespace {

int Report(const std::string& problem, std::string_view target) {
  if (problem.empty()) return 0;
  std::fprintf(stderr, "fuzz_%.*s: property violated: %s\n", static_cast<int>(target.size()),
               target.data(), problem.c_str());
  std::abort();
}

std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits off the text up to the next '\n' (the newline is consumed; the rest is everything
// after it, or empty).
std::string_view NextLine(std::string_view* rest) {
  const size_t nl = rest->find('\n');
  std::string_view line = rest->substr(0, nl);
  *rest = nl == std::string_view::npos ? std::string_view() : rest->substr(nl + 1);
  return line;
}

// "<first line>\n" then "Name: value" lines up to a blank line, then the payload. The first
// line is returned; headers and payload fill msg.
std::string_view SplitMessage(std::string_view input, RawMessage* msg) {
  std::string_view rest = input;
  const std::string_view first = NextLine(&rest);
  while (!rest.empty()) {
    const std::string_view line = NextLine(&rest);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    std::string_view value =
        colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    msg->headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  msg->payload.assign(rest);
  return first;
}

const SchemaRegistry& Schemas() {
  static const std::unique_ptr<SchemaRegistry> registry = [] {
    auto loaded = SchemaRegistry::LoadEmbedded();
    if (!loaded.ok()) {
      std::fprintf(stderr, "embedded schemas do not load: %s\n",
                   loaded.status().ToString().c_str());
      std::abort();
    }
    return std::move(loaded).value();
  }();
  return *registry;
}

// A rejection must say why, with the reason ingestd dead-letters it under.
std::string CheckRejection(const Status& st, const char* what) {
  if (st.code() != Status::Code::kParse && st.code() != Status::Code::kSchema) {
    return std::string(what) + " failed with neither Parse nor Schema: " + st.ToString();
  }
  if (st.message().empty()) return std::string(what) + " failed without a message";
  return "";
}

// What a successful decode must have produced.
std::string CheckDecoded(const Event& e, const RawMessage& msg, const char* what) {
  if (e.id.empty()) return std::string(what) + " succeeded with an empty id";
  if (e.type.empty()) return std::string(what) + " succeeded with an empty type";
  if (e.source.empty()) return std::string(what) + " succeeded with an empty source";
  if (e.schema_version < 1) return std::string(what) + " succeeded with schema version < 1";
  if (e.raw.data() != msg.payload.data() || e.raw.size() != msg.payload.size()) {
    return std::string(what) + " succeeded but raw is not the payload";
  }
  if (e.data.valid() && e.data.to_json().empty()) {
    return std::string(what) + " gave a data object that serialises to nothing";
  }
  return "";
}

bool SameStatus(const Status& a, const Status& b) {
  return a.code() == b.code() && a.message() == b.message();
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80             ? 1
                 : (c & 0xE0) == 0xC0 ? 2
                 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4
                                      : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace

// ---- envelope ----------------------------------------------------------------------------------

std::string CheckEnvelope(std::string_view input) {
  // One decoder of each kind per thread, reused across inputs as ingestd reuses them.
  thread_local EnvelopeDecoder validating(DecoderOptions{1 << 20, &Schemas()});
  thread_local EnvelopeDecoder plain(DecoderOptions{1 << 20, nullptr});

  RawMessage msg;
  std::string_view first = SplitMessage(input, &msg);
  const size_t space = first.find(' ');
  msg.transport = first.substr(0, space) == "kafka" ? Transport::kKafka : Transport::kJetStream;
  if (space != std::string_view::npos) msg.subject.assign(first.substr(space + 1));
  msg.origin = "fuzz:1";
  msg.received_at_ms = 1765535400123;

  Event envelope_only;
  const Status plain_st = plain.Decode(msg, &envelope_only);
  if (plain_st.ok()) {
    if (auto p = CheckDecoded(envelope_only, msg, "envelope decode"); !p.empty()) return p;
  } else if (auto p = CheckRejection(plain_st, "envelope decode"); !p.empty()) {
    return p;
  }
  const std::string id = envelope_only.id;
  const std::string type = envelope_only.type;

  Event event;
  const Status st = validating.Decode(msg, &event);
  if (st.ok()) {
    if (auto p = CheckDecoded(event, msg, "decode"); !p.empty()) return p;
    if (!plain_st.ok()) return "decode with schemas accepted what the envelope check rejected";
    if (event.id != id || event.type != type) {
      return "decode with schemas gave another id or type than the envelope check";
    }
  } else {
    if (auto p = CheckRejection(st, "decode"); !p.empty()) return p;
    if (!plain_st.ok() && !SameStatus(st, plain_st)) {
      return "an envelope rejection changed with schemas on: " + plain_st.ToString() + " vs " +
             st.ToString();
    }
    if (plain_st.ok() && st.code() != Status::Code::kSchema) {
      return "a well-formed envelope was rejected with " + st.ToString();
    }
  }

  // The decoder keeps state between messages: the same message decodes the same way again.
  Event again;
  const Status st2 = validating.Decode(msg, &again);
  if (!SameStatus(st, st2)) return "decoding the same message twice gave different results";
  if (st.ok() && (again.id != event.id || again.type != event.type)) {
    return "decoding the same message twice gave another id or type";
  }
  return "";
}

// ---- schema ------------------------------------------------------------------------------------

std::string CheckSchema(std::string_view input) {
  thread_local EnvelopeDecoder validating(DecoderOptions{1 << 20, &Schemas()});
  thread_local EnvelopeDecoder plain(DecoderOptions{1 << 20, nullptr});
  static const std::vector<std::string> kEntries = Schemas().List();  // "billing.x.y v1"
  if (kEntries.empty()) return "no schemas";

  std::string_view data = input;
  std::string_view line = NextLine(&data);
  const bool structured = line.size() >= 11 && line.substr(line.size() - 11) == " structured";
  if (structured) line.remove_suffix(11);
  std::string entry(line);
  if (!std::binary_search(kEntries.begin(), kEntries.end(), entry)) {
    entry = kEntries[std::hash<std::string_view>()(line) % kEntries.size()];
  }
  const size_t space = entry.rfind(" v");
  const std::string type = entry.substr(0, space);
  const int version = std::atoi(entry.c_str() + space + 2);

  RawMessage msg;
  msg.transport = Transport::kKafka;
  msg.subject = type.substr(0, type.find('.')) + ".events";
  msg.origin = "fuzz:1";
  msg.received_at_ms = 1765535400123;
  if (structured) {
    msg.payload = R"({"specversion":"1.0","id":"fuzz-1","source":"fuzz","type":")" + type +
                  R"(","time":"2025-12-12T10:30:00Z","schemaversion":")" + std::to_string(version) +
                  R"(","data":)";
    msg.payload.append(data);
    msg.payload += "}";
  } else {
    msg.headers = {{"ce_specversion", "1.0"},
                   {"ce_id", "fuzz-1"},
                   {"ce_source", "fuzz"},
                   {"ce_type", type},
                   {"ce_time", "2025-12-12T10:30:00Z"},
                   {"ce_schemaversion", std::to_string(version)}};
    msg.payload.assign(data);
  }

  Event envelope_only;
  const Status plain_st = plain.Decode(msg, &envelope_only);
  Event event;
  const Status st = validating.Decode(msg, &event);
  if (st.ok()) {
    if (event.type != type || event.schema_version != version) {
      return "validated as " + event.type + " v" + std::to_string(event.schema_version) +
             ", sent as " + type + " v" + std::to_string(version);
    }
    if (auto p = CheckDecoded(event, msg, "decode"); !p.empty()) return p;
    // Validate is a pure function of the event.
    if (const Status again = Schemas().Validate(event); !again.ok()) {
      return "Validate rejected on a second call what it accepted: " + again.ToString();
    }
  } else {
    if (auto p = CheckRejection(st, "decode"); !p.empty()) return p;
    if (plain_st.ok()) {
      // The envelope is fine, so Validate ran: its rejection is a schema one, and stable.
      if (st.code() != Status::Code::kSchema) return "Validate failed with " + st.ToString();
      if (const Status again = Schemas().Validate(envelope_only); !SameStatus(again, st)) {
        return "Validate gave different answers for the same event: " + st.ToString() + " vs " +
               again.ToString();
      }
    }
  }
  return "";
}

// ---- scenario ----------------------------------------------------------------------------------

std::string CheckScenario(std::string_view input) {
  const std::string text(input);
  std::string_view rest = input;
  const std::string first_line(NextLine(&rest));
  if (auto d = ParseDurationSeconds(first_line); d.ok()) {
    if (!(*d >= 0 && *d <= 366.0 * 24 * 3600)) {
      return "ParseDurationSeconds(\"" + first_line.substr(0, 80) + "\") gave " +
             std::to_string(*d);
    }
    (void)FormatDurationSeconds(*d);
  } else if (d.status().message().empty()) {
    return "ParseDurationSeconds failed without a message";
  }

  auto s = ParseScenario(text, "fuzz.yaml");
  if (!s.ok()) {
    if (s.status().code() != Status::Code::kInvalidArgument) {
      return "ParseScenario failed with " + s.status().ToString();
    }
    if (s.status().message().rfind("fuzz.yaml", 0) != 0) {
      return "a scenario error does not start with the file name: " + s.status().message();
    }
    return "";
  }
  if (!(std::isfinite(s->duration_s) && s->duration_s > 0)) {
    return "a scenario parsed with duration " + std::to_string(s->duration_s);
  }
  if (!(std::isfinite(s->drain_timeout_s) && s->drain_timeout_s >= 0)) {
    return "a scenario parsed with drain_timeout " + std::to_string(s->drain_timeout_s);
  }
  if (s->name.empty()) return "a scenario parsed without a name";
  double previous = 0;
  for (const TimelineStep& step : s->timeline) {
    if (!(step.at_s >= previous && step.at_s <= s->duration_s)) {
      return "timeline step at " + std::to_string(step.at_s) + " out of order or out of range";
    }
    previous = step.at_s;
    if (step.for_s && !(std::isfinite(*step.for_s) && *step.for_s > 0)) {
      return "timeline step with 'for' " + std::to_string(*step.for_s);
    }
    // The numeric params the harness converts to int or to integer rates.
    for (const char* key :
         {"kbps", "count", "partition", "broker", "rate", "latency", "jitter", "rtt"}) {
      const double v = step.NumberParam(key, 0);
      if (!(v >= 0 && v <= 2e9)) return std::string("param ") + key + " = " + std::to_string(v);
    }
  }
  for (const ServiceSpec& svc : s->services) {
    if (!(svc.rate > 0 && svc.rate <= 1e6)) return "service rate " + std::to_string(svc.rate);
  }
  return "";
}

// ---- event log ---------------------------------------------------------------------------------

std::string CheckEventLog(std::string_view input) {
  std::string text(input);
  if (text.size() >= 2 && static_cast<unsigned char>(text[0]) == 0x1f &&
      static_cast<unsigned char>(text[1]) == 0x8b) {
    bool complete = false;
    auto inflated = sim::Gunzip(text, &complete);
    if (!inflated.ok()) {
      return inflated.status().message().empty() ? "Gunzip failed without a message" : "";
    }
    text = std::move(inflated.value());
  }
  std::string acks;
  if (const size_t mark = text.find("\n#acks\n"); mark != std::string::npos) {
    acks = text.substr(mark + 7);
    text.resize(mark + 1);
  }

  auto log = sim::ParseEventLog(text);
  if (!log.ok()) {
    return log.status().message().empty() ? "ParseEventLog failed without a message" : "";
  }
  const size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  if (log->publishes.size() + log->faults.size() + 1 > lines) {
    return "more records than lines";
  }

  // What was read writes back and reads back the same: the log of a replay of this log.
  std::string rewritten = sim::ToJson(log->header).dump() + "\n";
  for (const auto& f : log->faults) rewritten += sim::ToJson(f).dump() + "\n";
  for (const auto& p : log->publishes) rewritten += sim::PublishLine(p) + "\n";
  auto again = sim::ParseEventLog(rewritten);
  if (!again.ok()) return "a parsed log does not read back: " + again.status().ToString();
  if (again->publishes.size() != log->publishes.size() ||
      again->faults.size() != log->faults.size()) {
    return "a parsed log reads back with other record counts";
  }
  for (size_t i = 0; i < log->publishes.size(); ++i) {
    const auto& a = log->publishes[i];
    const auto& b = again->publishes[i];
    if (a.payload != b.payload || a.event_id != b.event_id || a.offset_ms != b.offset_ms ||
        a.seq != b.seq || a.service != b.service || a.headers != b.headers ||
        a.subject != b.subject || a.expected != b.expected) {
      return "publish " + std::to_string(i) + " reads back differently";
    }
  }
  for (size_t i = 0; i < log->faults.size(); ++i) {
    const auto& a = log->faults[i];
    const auto& b = again->faults[i];
    if (a.offset_ms != b.offset_ms || a.action != b.action || a.target != b.target ||
        a.params != b.params) {
      return "fault " + std::to_string(i) + " reads back differently";
    }
  }
  if (again->header.scenario != log->header.scenario ||
      again->header.epoch_ms != log->header.epoch_ms ||
      again->header.scenario_yaml != log->header.scenario_yaml) {
    return "the header reads back differently";
  }

  if (!acks.empty()) {
    const Status merged = sim::MergeOutcomes(acks, &log.value());
    if (!merged.ok()) {
      return merged.message().empty() ? "MergeOutcomes failed without a message" : "";
    }
    if (!log->has_outcomes) return "MergeOutcomes succeeded without marking the log";
  }
  return "";
}

// ---- import ------------------------------------------------------------------------------------

std::string CheckImport(std::string_view input) {
  std::string_view rest = input;
  const std::string_view first = NextLine(&rest);

  if (first.rfind("jetstream ", 0) == 0) {
    RawMessage msg;
    SplitMessage(input, &msg);
    uint64_t stream_seq = 0;
    int64_t delivered = 0, ts_ns = 0;
    (void)nats_util::ParseAckReply(first.substr(10), &stream_seq, &delivered, &ts_ns);
    std::map<std::string, std::string> headers;
    for (auto& [k, v] : msg.headers) headers[k] = v;
    (void)harness::PeekEnvelope(msg.payload, headers);
  } else {
    // kcat -J lines, the way ImportKcat reads them.
    std::vector<sim::PublishRecord> records;
    int64_t first_ts_ms = 0;
    std::string_view lines = input;
    while (!lines.empty()) {
      std::string line(NextLine(&lines));
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      auto r = harness::ParseKcatLine(line, first_ts_ms > 0 ? first_ts_ms : -1);
      if (!r.ok()) {
        if (r.status().code() != Status::Code::kParse || r.status().message().empty()) {
          return "ParseKcatLine failed with " + r.status().ToString();
        }
        continue;
      }
      if (r->transport != "kafka" || r->expected != "applied" || !r->acked) {
        return "a kcat line became a record that is not an acked kafka publish";
      }
      if (first_ts_ms <= 0 && r->published_ms > 0) first_ts_ms = r->published_ms;
      records.push_back(std::move(r.value()));
    }
    const int64_t last = harness::NumberImportedRecords(first_ts_ms, &records);
    int64_t previous = 0;
    for (size_t i = 0; i < records.size(); ++i) {
      if (records[i].offset_ms < previous || records[i].seq != i + 1) {
        return "imported offsets decrease or seq is not 1..N";
      }
      previous = records[i].offset_ms;
    }
    if (last != previous) return "NumberImportedRecords returned another last offset";
    const double duration = harness::ImportDurationSeconds(last);
    if (!(std::isfinite(duration) && duration >= 1)) {
      return "import duration " + std::to_string(duration);
    }
  }

  // The generated scenario always parses back, whatever names the data brings.
  harness::ImportScenarioSpec spec;
  spec.name = std::string(first.substr(0, 64));
  spec.description = std::string(input.substr(0, 200));
  spec.duration_s = harness::ImportDurationSeconds(static_cast<int64_t>(input.size()) * 1000);
  const std::string yaml = harness::ImportScenarioYaml(spec);
  auto parsed = ParseScenario(yaml, "import.yaml");
  if (!parsed.ok())
    return "a generated import scenario does not parse: " + parsed.status().ToString();
  if (parsed->name != harness::ImportScenarioName(spec.name)) {
    return "a generated import scenario reads back another name: " + parsed->name;
  }
  if (IsValidUtf8(spec.description) && parsed->description != spec.description) {
    return "a generated import scenario reads back another description";
  }
  return "";
}

// ---- libFuzzer entry points --------------------------------------------------------------------

int FuzzEnvelope(const uint8_t* data, size_t size) {
  return Report(CheckEnvelope(AsText(data, size)), "envelope");
}
int FuzzSchema(const uint8_t* data, size_t size) {
  return Report(CheckSchema(AsText(data, size)), "schema");
}
int FuzzScenario(const uint8_t* data, size_t size) {
  return Report(CheckScenario(AsText(data, size)), "scenario");
}
int FuzzEventLog(const uint8_t* data, size_t size) {
  return Report(CheckEventLog(AsText(data, size)), "event_log");
}
int FuzzImport(const uint8_t* data, size_t size) {
  return Report(CheckImport(AsText(data, size)), "import");
}

}  // namespace ingestlab::fuzz
