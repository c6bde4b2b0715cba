// Unit tests for the importers' pure parts: kcat -J lines, the envelope peek, the generated
// scenario, and a kcat dump written as an event log and read back.
#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>
#include <string>

#include "harness/log_import.h"
#include "harness/scenario.h"
#include "simulators/event_log.h"
#include "system/sha256.h"
#include "tests/support/event_fixture.h"

using namespace ingestlab;

namespace {

// A kcat -J line as kcat writes it: payload bytes are inserted unvalidated, JSON-escaped only
// for '"', '\\' and control characters.
std::string KcatLine(const std::string& topic, int64_t offset, int64_t ts, const std::string& key,
                     const std::string& payload_json_body, const std::string& headers = "[]") {
  return R"({"topic":")" + topic + R"(","partition":0,"offset":)" + std::to_string(offset) +
         R"(,"tstype":"create","ts":)" + std::to_string(ts) + R"(,"broker":1,"headers":)" +
         headers + R"(,"key":)" + key + R"(,"payload":")" + payload_json_body + "\"}";
}

// The JSON-string body for arbitrary bytes the way kcat (yajl without UTF-8 validation) writes
// it: quote, backslash and control characters escaped, everything else raw.
std::string KcatEscape(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

struct TempDir {
  std::string path = testing::MakeTempDir("log-import");
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("kcat -J lines become kafka publish records", "[import]") {
  SECTION("topic, key, headers, payload, offset and ts are kept") {
    auto first = harness::ParseKcatLine(
        R"({"topic":"orders","partition":1,"offset":7,"tstype":"create","ts":1000,"broker":1,)"
        R"("headers":["type","orders.created","trace","x"],"key":"o-1","payload":"{\"a\":1}"})",
        -1);
    REQUIRE(first.ok());
    CHECK(first->transport == "kafka");
    CHECK(first->subject == "orders");
    CHECK(first->key == "o-1");
    CHECK(first->payload == "{\"a\":1}");
    CHECK(first->headers.size() == 2);
    CHECK(first->headers.at("type") == "orders.created");
    CHECK(first->headers.at("trace") == "x");
    CHECK(first->seq == 7);
    CHECK(first->published_ms == 1000);
    CHECK(first->offset_ms == 0);
    CHECK(first->expected == "applied");
    CHECK(first->acked);
  }
  SECTION("a null key and a null payload are empty; offsets are relative to the first ts") {
    auto second = harness::ParseKcatLine(
        R"({"topic":"orders","partition":0,"offset":8,"ts":1250,"key":null,"payload":null})", 1000);
    REQUIRE(second.ok());
    CHECK(second->offset_ms == 250);
    CHECK(second->key.empty());
    CHECK(second->payload.empty());
    CHECK(second->headers.empty());
  }
  SECTION("a null header value is an empty value") {
    auto r = harness::ParseKcatLine(
        R"({"topic":"t","ts":1,"headers":["k1",null,"k2","v"],"key":"a","payload":"p"})", -1);
    REQUIRE(r.ok());
    CHECK(r->headers.at("k1").empty());
    CHECK(r->headers.at("k2") == "v");
  }
  SECTION("binary payloads keep every byte, raw or escaped") {
    std::string bytes;
    for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
    auto r = harness::ParseKcatLine(KcatLine("bin", 0, 5, "null", KcatEscape(bytes)), -1);
    REQUIRE(r.ok());
    CHECK(r->payload.size() == 256);
    CHECK(r->payload == bytes);
    CHECK(r->type.empty());
    CHECK(r->event_id.empty());
  }
  SECTION("private-use characters, raw control characters and stray bytes come back as sent") {
    // U+F700..U+F7FF carry stray bytes through the strict parser: real ones must not be taken
    // for them, raw or escaped, nor a stray byte next to one.
    const std::string marker = "\xEF\x9C\x80", high = "\xEF\x9F\xBF";  // U+F700, U+F7FF
    const std::string raw = marker + "\xFF" + high + "\x80" + marker + marker + "\t\x01end";
    std::string body;  // as kcat writes it but with the tab and \x01 raw, as some dumps have
    for (char c : raw) body += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
    auto r = harness::ParseKcatLine(KcatLine("t", 0, 0, "\"k\"", body), -1);
    REQUIRE(r.ok());
    CHECK(r->payload == raw);
    auto escaped =
        harness::ParseKcatLine(KcatLine("t", 0, 0, R"("\uF700\uf7ff")", R"(\uF781)"), -1);
    REQUIRE(escaped.ok());
    CHECK(escaped->key == marker + high);
    CHECK(escaped->payload == "\xEF\x9E\x81");  // U+F781 itself, not the byte 0x81
  }
  SECTION("\\u escapes outside ASCII decode to UTF-8, surrogate pairs included") {
    auto r = harness::ParseKcatLine(KcatLine("t", 0, 0, "\"k\"", R"(caf\u00e9 \ud83d\ude00)"), -1);
    REQUIRE(r.ok());
    CHECK(r->payload == "caf\xC3\xA9 \xF0\x9F\x98\x80");
  }
  SECTION("lines that are not kcat message lines are parse errors") {
    CHECK_FALSE(harness::ParseKcatLine("% Reached end of topic orders [0] at offset 8", -1).ok());
    CHECK_FALSE(harness::ParseKcatLine(R"({"partition":0,"offset":1})", -1).ok());
    CHECK_FALSE(harness::ParseKcatLine(R"({"topic":"t","payload":"unterminated)", -1).ok());
    CHECK_FALSE(harness::ParseKcatLine(R"({"topic":"t","ts":"yesterday"})", -1).ok());
    CHECK_FALSE(harness::ParseKcatLine(R"({"topic":"t"} trailing)", -1).ok());
    CHECK_FALSE(harness::ParseKcatLine(R"(["topic","t"])", -1).ok());
    auto bad = harness::ParseKcatLine(R"({"topic":7})", -1);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().code() == Status::Code::kParse);
    CHECK(bad.status().message().find("topic") != std::string::npos);
  }
}

TEST_CASE("the envelope peek finds type and id in every dialect", "[import]") {
  SECTION("CloudEvents structured") {
    auto p = harness::PeekEnvelope(
        R"({"specversion":"1.0","id":"evt-1","source":"s","type":"billing.purchase.completed"})",
        {});
    CHECK(p.type == "billing.purchase.completed");
    CHECK(p.event_id == "evt-1");
  }
  SECTION("CloudEvents binary mode on Kafka headers, any case") {
    auto p = harness::PeekEnvelope(R"({"lead_id":"L-1"})", {{"CE_SpecVersion", "1.0"},
                                                            {"ce_id", "k-1"},
                                                            {"ce_type", "lead.created"},
                                                            {"ce_source", "crm"}});
    CHECK(p.type == "lead.created");
    CHECK(p.event_id == "k-1");
  }
  SECTION("service envelope") {
    auto p = harness::PeekEnvelope(
        R"({"id":"6f1c","type":"user.created","source":"auth","organization_id":"o"})", {});
    CHECK(p.type == "user.created");
    CHECK(p.event_id == "6f1c");
  }
  SECTION("customer dialect: Nats-Msg-Id, else the SHA-256 of the bytes") {
    const std::string body =
        R"({"customer_id":"c1","event_type":"purchase","timestamp":1734134400,"source_service":"x"})";
    auto with_id = harness::PeekEnvelope(body, {{"Nats-Msg-Id", "m-9"}});
    CHECK(with_id.type == "purchase");
    CHECK(with_id.event_id == "m-9");
    auto without = harness::PeekEnvelope(body, {});
    CHECK(without.event_id == Sha256Hex(body));
    CHECK(without.event_id.size() == 64);
  }
  SECTION("anything else gives empty strings") {
    for (const std::string& payload :
         {std::string("not json"), std::string("{\"a\":1}"), std::string("[1,2]"),
          std::string("{\"id\":\"x\",\"type\":\"y\"}"), std::string("{truncated"),
          std::string("\xff\xfe")}) {
      auto p = harness::PeekEnvelope(payload, {});
      CHECK(p.type.empty());
      CHECK(p.event_id.empty());
    }
  }
}

TEST_CASE("the generated scenario parses with the topology and assertions asked for", "[import]") {
  harness::ImportScenarioSpec spec;
  spec.name = "import-orders/2024 dump";
  spec.description = "imported from \"dump.jsonl\": 3 messages: topic orders";
  spec.duration_s = harness::ImportDurationSeconds(2'500);
  spec.nats_nodes = 3;
  spec.kafka_brokers = 1;
  spec.ingestd = 1;
  CHECK(spec.duration_s == 4);
  CHECK(harness::ImportDurationSeconds(0) == 1);
  CHECK(harness::ImportDurationSeconds(1'000) == 2);
  CHECK(harness::ImportDurationSeconds(1'001) == 3);

  const std::string yaml = harness::ImportScenarioYaml(spec);
  auto scenario = ParseScenario(yaml, "imported.yaml");
  INFO(yaml);
  REQUIRE(scenario.ok());
  CHECK(scenario->name == "import-orders-2024-dump");
  CHECK(scenario->description == spec.description);
  CHECK(scenario->seed == 0);
  CHECK(scenario->duration_s == 4);
  CHECK(scenario->topology.nats_nodes == 3);
  CHECK(scenario->topology.kafka_brokers == 1);
  CHECK(scenario->topology.ingestd_count == 1);
  CHECK(scenario->services.empty());
  CHECK(scenario->timeline.empty());
  REQUIRE(scenario->assertions.size() == 2);
  CHECK(scenario->assertions[0].kind == "no_loss");
  CHECK(scenario->assertions[1].kind == "exactly_once");

  spec.kafka_brokers = 0;
  spec.nats_nodes = 1;
  auto nats_only = ParseScenario(harness::ImportScenarioYaml(spec), "x.yaml");
  REQUIRE(nats_only.ok());
  CHECK(nats_only->topology.kafka_brokers == 0);
  CHECK(nats_only->topology.nats_nodes == 1);
}

TEST_CASE("a kcat dump becomes an event log that reads back byte for byte", "[import]") {
  TempDir dir;
  const std::string log_path = dir.path + "/imported.log";
  std::string binary;
  for (int i = 255; i >= 0; --i) binary.push_back(static_cast<char>(i));
  const std::string envelope =
      R"({"specversion":"1.0","id":"evt-7","source":"billing","type":"billing.invoice.paid"})";
  std::ostringstream dump;
  dump << KcatLine("billing.events", 10, 1'700'000'000'000, "\"cust-1\"", KcatEscape(envelope),
                   R"(["trace","t-1","ce_note","n"])")
       << "\n\n"
       << KcatLine("billing.events", 11, 1'700'000'001'200, "null", KcatEscape(binary))
       << "\n"
       // A clock step backwards: the record keeps its place, at the previous offset.
       << KcatLine("crm.leads", 3, 1'699'999'999'000, "\"k\"", "plain text") << "\n"
       << KcatLine("crm.leads", 4, 1'700'000'002'100, "\"k\"", "") << "\n";
  std::istringstream in(dump.str());
  harness::KcatImportOptions options;
  options.source = "dump.jsonl";
  auto summary = harness::ImportKcat(in, log_path, options);
  REQUIRE(summary.ok());
  CHECK(summary->imported == 4);
  CHECK(summary->scenario == "import-billing.events");
  CHECK(summary->first_ts_ms == 1'700'000'000'000);
  CHECK(summary->last_offset_ms == 2'100);

  auto log = sim::ReadEventLog(log_path);
  REQUIRE(log.ok());
  CHECK(log->header.scenario == "import-billing.events");
  CHECK(log->header.seed == 0);
  CHECK(log->header.started_at_ms == 1'700'000'000'000);
  CHECK(log->header.epoch_ms == 1'700'000'000'000);
  CHECK(log->header.topology["kafka_brokers"] == 1);
  CHECK(log->header.topology["nats_nodes"] == 1);
  CHECK_FALSE(log->header.ingestlab_version.empty());
  auto scenario = ParseScenario(log->header.scenario_yaml, "header");
  REQUIRE(scenario.ok());
  CHECK(scenario->duration_s == 4);  // 2.1 s rounded up, plus 1 s
  CHECK(scenario->description.find("dump.jsonl") != std::string::npos);
  CHECK(scenario->description.find("crm.leads") != std::string::npos);

  REQUIRE(log->publishes.size() == 4);
  const auto& p = log->publishes;
  for (size_t i = 0; i < p.size(); ++i) {
    CHECK(p[i].seq == i + 1);
    CHECK(p[i].service == "import");
    CHECK(p[i].transport == "kafka");
    CHECK(p[i].expected == "applied");
    CHECK(p[i].acked);
  }
  CHECK(p[0].offset_ms == 0);
  CHECK(p[1].offset_ms == 1'200);
  CHECK(p[2].offset_ms == 1'200);  // clamped to the previous offset
  CHECK(p[3].offset_ms == 2'100);
  CHECK(p[0].payload == envelope);
  CHECK(p[0].type == "billing.invoice.paid");
  CHECK(p[0].event_id == "evt-7");
  CHECK(p[0].key == "cust-1");
  CHECK(p[0].headers.at("trace") == "t-1");
  CHECK(p[1].payload == binary);
  CHECK(p[1].key.empty());
  CHECK(p[2].subject == "crm.leads");
  CHECK(p[2].payload == "plain text");
  CHECK(p[2].type.empty());
  CHECK(p[3].payload.empty());
}

TEST_CASE("kcat messages without a timestamp keep their place at the previous offset", "[import]") {
  TempDir dir;
  // kcat writes ts -1 for messages without one; the origin is the first real timestamp.
  std::istringstream in(
      KcatLine("t", 0, -1, "null", "a") + "\n" + KcatLine("t", 1, 5'000, "null", "b") + "\n" +
      KcatLine("t", 2, -1, "null", "c") + "\n" + KcatLine("t", 3, 6'500, "null", "d") + "\n");
  auto r = harness::ImportKcat(in, dir.path + "/ts.log", {});
  REQUIRE(r.ok());
  CHECK(r->first_ts_ms == 5'000);
  auto log = sim::ReadEventLog(dir.path + "/ts.log");
  REQUIRE(log.ok());
  CHECK(log->header.started_at_ms == 5'000);
  REQUIRE(log->publishes.size() == 4);
  CHECK(log->publishes[0].offset_ms == 0);
  CHECK(log->publishes[1].offset_ms == 0);
  CHECK(log->publishes[2].offset_ms == 0);
  CHECK(log->publishes[3].offset_ms == 1'500);
  CHECK(log->publishes[3].payload == "d");
}

TEST_CASE("bad kcat lines fail the import with their line number unless skipped", "[import]") {
  TempDir dir;
  const std::string dump = KcatLine("orders", 0, 1'000, "null", "a") + "\n" + "\n" +
                           "% Reached end of topic orders [0] at offset 1\n" +
                           KcatLine("orders", 1, 2'000, "null", "b") + "\n" +
                           R"({"topic":"orders","payload":)" + "\n";
  SECTION("a bad line is an error naming it") {
    std::istringstream in(dump);
    auto r = harness::ImportKcat(in, dir.path + "/a.log", {});
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().rfind("line 3: ", 0) == 0);
    CHECK_FALSE(std::filesystem::exists(dir.path + "/a.log"));
  }
  SECTION("skip_bad counts bad lines and imports the rest") {
    std::istringstream in(dump);
    harness::KcatImportOptions options;
    options.skip_bad = true;
    options.scenario_name = "orders-incident";
    auto r = harness::ImportKcat(in, dir.path + "/b.log", options);
    REQUIRE(r.ok());
    CHECK(r->imported == 2);
    CHECK(r->skipped_bad == 2);
    CHECK(r->first_bad.rfind("line 3: ", 0) == 0);
    auto log = sim::ReadEventLog(dir.path + "/b.log");
    REQUIRE(log.ok());
    CHECK(log->header.scenario == "orders-incident");
    REQUIRE(log->publishes.size() == 2);
    CHECK(log->publishes[0].payload == "a");
    CHECK(log->publishes[1].payload == "b");
    CHECK(log->publishes[1].offset_ms == 1'000);
  }
  SECTION("no message at all is an error") {
    std::istringstream in("\n\n");
    auto r = harness::ImportKcat(in, dir.path + "/c.log", {});
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kInvalidArgument);
  }
}
