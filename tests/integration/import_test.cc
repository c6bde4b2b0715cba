// Specification of `ingestlab import` on real data: a real nats-server with JetStream read by
// ImportJetStream (and once by the ingestlab binary), and the librdkafka mock cluster dumped by
// the real `kcat -C -J` and read by ImportKcat (and once by the binary). Every imported record
// must match what was published: count, order, subject / topic, key, headers and exact bytes.
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "harness/infra/kafka_cluster.h"
#include "harness/infra/nats_cluster.h"
#include "harness/infra/ports.h"
#include "harness/log_import.h"
#include "harness/scenario.h"
#include "simulators/event_log.h"
#include "tests/integration/nats_test_util.h"
#include "tests/integration/test_nats.h"
#include "tests/support/cli.h"

using namespace ingestlab;
using ingestlab::testing::JsTestClient;

namespace {

using ingestlab::testing::RunShell;

// The i-th test payload: CloudEvents JSON for most, raw binary (every byte value) for some.
std::string PayloadFor(int i) {
  if (i % 7 == 3) {
    std::string bytes;
    for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<char>((b + i) & 0xFF));
    return bytes;
  }
  return R"({"specversion":"1.0","id":"evt-)" + std::to_string(i) +
         R"(","source":"billing-service","type":"billing.purchase.completed","data":{"n":)" +
         std::to_string(i) + R"(,"note":"caf\u00e9 \"quoted\""}})";
}

struct Published {
  std::string subject;
  std::string payload;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct Broker : ingestlab::testing::TestNats {
  Broker() : TestNats("import-nats") {}
};

void CheckMatches(const sim::PublishRecord& r, const Published& p) {
  CHECK(r.subject == p.subject);
  CHECK(r.payload == p.payload);
  for (const auto& [k, v] : p.headers) {
    INFO("header " << k);
    REQUIRE(r.headers.count(k) == 1);
    CHECK(r.headers.at(k) == v);
  }
}

}  // namespace

TEST_CASE("import nats reads a JetStream stream into an event log", "[import][nats]") {
  Broker broker;
  const std::string url = broker.cluster->url(0);
  JsTestClient client(url);
  client.AddStream("ORDERS", {"orders.>"});
  constexpr int kMessages = 300;
  std::vector<Published> published;
  for (int i = 0; i < kMessages; ++i) {
    Published p;
    p.subject = i % 3 == 0 ? "orders.created" : (i % 3 == 1 ? "orders.paid" : "orders.eu.shipped");
    p.payload = PayloadFor(i);
    p.headers = {{"Nats-Msg-Id", "msg-" + std::to_string(i)},
                 {"Trace-Id", "trace-" + std::to_string(i * 31)}};
    REQUIRE(client.Publish(p.subject, p.payload, p.headers) == NATS_OK);
    published.push_back(std::move(p));
  }
  TempDir out = TempDir::Create("import-nats-out").value();

  SECTION("every message, in stream order, with subject, headers and exact bytes") {
    harness::JetStreamImportOptions options;
    options.url = url;
    options.stream = "ORDERS";
    options.timeout_ms = 15'000;
    uint64_t progress_calls = 0;
    options.progress = [&](uint64_t, uint64_t) { ++progress_calls; };
    auto summary = harness::ImportJetStream(options, out.Sub("orders.log"));
    REQUIRE(summary.ok());
    CHECK(summary->imported == kMessages);
    CHECK(summary->scenario == "import-ORDERS");

    auto log = sim::ReadEventLog(out.Sub("orders.log"));
    REQUIRE(log.ok());
    CHECK(log->header.scenario == "import-ORDERS");
    CHECK(log->header.topology["nats_nodes"] == 1);
    CHECK(log->header.topology["kafka_brokers"] == 0);
    CHECK(log->header.started_at_ms == summary->first_ts_ms);
    auto scenario = ParseScenario(log->header.scenario_yaml, "header");
    REQUIRE(scenario.ok());
    CHECK(scenario->topology.kafka_brokers == 0);
    CHECK(scenario->assertions.size() == 2);
    CHECK(scenario->duration_s >= 1 + log->publishes.back().offset_ms / 1000.0);

    REQUIRE(log->publishes.size() == kMessages);
    int64_t previous_offset = 0;
    for (int i = 0; i < kMessages; ++i) {
      INFO("message " << i);
      const sim::PublishRecord& r = log->publishes[static_cast<size_t>(i)];
      CheckMatches(r, published[static_cast<size_t>(i)]);
      CHECK(r.transport == "jetstream");
      CHECK(r.service == "import");
      CHECK(r.seq == static_cast<uint64_t>(i + 1));
      CHECK(r.offset_ms >= previous_offset);
      previous_offset = r.offset_ms;
      if (i % 7 == 3) {
        CHECK(r.type.empty());
      } else {
        CHECK(r.type == "billing.purchase.completed");
        CHECK(r.event_id == "evt-" + std::to_string(i));
      }
    }
    CHECK(log->publishes.front().offset_ms == 0);
    // Reading left the stream as it was: no consumer remains.
    client.WithStreamInfo("ORDERS", [](jsStreamInfo* si) { CHECK(si->State.Consumers == 0); });
  }

  SECTION("a subject filter, a start sequence and a maximum select a slice") {
    harness::JetStreamImportOptions options;
    options.url = url;
    options.stream = "ORDERS";
    options.subject_filter = "orders.paid";
    options.from_seq = 100;  // sequence = index + 1
    options.max_messages = 20;
    options.scenario_name = "paid-slice";
    auto summary = harness::ImportJetStream(options, out.Sub("slice.log"));
    REQUIRE(summary.ok());
    CHECK(summary->imported == 20);
    auto log = sim::ReadEventLog(out.Sub("slice.log"));
    REQUIRE(log.ok());
    CHECK(log->header.scenario == "paid-slice");
    REQUIRE(log->publishes.size() == 20);
    // orders.paid is every i % 3 == 1; the first at or after index 99 is 100.
    for (size_t k = 0; k < 20; ++k) {
      const size_t i = 100 + 3 * k;
      INFO("index " << i);
      CheckMatches(log->publishes[k], published[i]);
    }
  }

  SECTION("the ingestlab binary imports the same log and reports the count") {
    const std::string log_path = out.Sub("cli.log");
    auto r = RunShell(std::string(INGESTLAB_CLI) + " import nats --url " + url +
                      " --stream ORDERS -o " + log_path + " --timeout 15s 2>&1");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("imported 300 messages from stream ORDERS into " + log_path) !=
          std::string::npos);
    auto log = sim::ReadEventLog(log_path);
    REQUIRE(log.ok());
    REQUIRE(log->publishes.size() == kMessages);
    for (int i = 0; i < kMessages; ++i) {
      CheckMatches(log->publishes[static_cast<size_t>(i)], published[static_cast<size_t>(i)]);
    }

    auto missing = RunShell(std::string(INGESTLAB_CLI) + " import nats --url " + url +
                            " --stream NOPE -o " + out.Sub("nope.log") + " --timeout 5s 2>&1");
    CHECK(missing.exit_code == 1);
    CHECK(missing.output.find("stream NOPE not found") != std::string::npos);
    auto usage = RunShell(std::string(INGESTLAB_CLI) + " import nats --stream ORDERS -o x 2>&1");
    CHECK(usage.exit_code == 2);
    CHECK(usage.output.find("missing --url") != std::string::npos);
  }

  SECTION("a missing stream and an unreachable server are named errors") {
    harness::JetStreamImportOptions options;
    options.url = url;
    options.stream = "MISSING";
    auto missing = harness::ImportJetStream(options, out.Sub("missing.log"));
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.status().code() == Status::Code::kNotFound);
    CHECK(missing.status().message().find("MISSING") != std::string::npos);

    const int port = FreeLoopbackPort().value();
    options.url = "nats://importer:s3cret@127.0.0.1:" + std::to_string(port);
    options.stream = "ORDERS";
    options.timeout_ms = 2'000;
    auto unreachable = harness::ImportJetStream(options, out.Sub("unreachable.log"));
    REQUIRE_FALSE(unreachable.ok());
    const std::string& message = unreachable.status().message();
    CHECK(message.find("nats://importer:***@127.0.0.1:" + std::to_string(port)) !=
          std::string::npos);
    CHECK(message.find("s3cret") == std::string::npos);  // credentials are not repeated
    CHECK_FALSE(std::filesystem::exists(out.Sub("unreachable.log")));
  }
}

TEST_CASE("import kcat reads a real kcat -J dump of the Kafka mock cluster", "[import][kafka]") {
  KafkaClusterOptions cluster_options;
  cluster_options.brokers = 1;
  cluster_options.create_default_topics = false;
  auto cluster_or = KafkaMockCluster::Start(cluster_options);
  REQUIRE(cluster_or.ok());
  KafkaMockCluster& cluster = *cluster_or.value();
  REQUIRE(cluster.CreateTopic("billing.events", 1, 1).ok());
  auto producer_or = KafkaTestProducer::Create(cluster.bootstrap());
  REQUIRE(producer_or.ok());
  KafkaTestProducer& producer = *producer_or.value();

  constexpr int kMessages = 200;
  std::vector<KafkaRecord> produced;
  for (int i = 0; i < kMessages; ++i) {
    KafkaRecord r;
    r.topic = "billing.events";
    r.partition = 0;
    r.key = i % 5 == 0 ? "" : "cust-" + std::to_string(i % 17);
    r.value = PayloadFor(i);
    r.headers = {{"trace", "t-" + std::to_string(i)}, {"source", "billing \"svc\""}};
    REQUIRE(producer.Produce(r).ok());
    produced.push_back(std::move(r));
  }
  REQUIRE(producer.Flush().ok());

  TempDir out = TempDir::Create("import-kcat").value();
  const std::string dump = out.Sub("dump.jsonl");
  auto kcat = RunShell("timeout 30 kcat -C -J -q -e -b " + cluster.bootstrap() +
                       " -t billing.events -o beginning > " + dump + " 2>" + out.Sub("kcat.err"));
  {
    std::ifstream err(out.Sub("kcat.err"));
    std::stringstream s;
    s << err.rdbuf();
    INFO("kcat stderr: " << s.str());
    REQUIRE(kcat.exit_code == 0);
  }

  auto check_log = [&](const std::string& log_path) {
    auto log = sim::ReadEventLog(log_path);
    REQUIRE(log.ok());
    CHECK(log->header.scenario == "import-billing.events");
    CHECK(log->header.topology["kafka_brokers"] == 1);
    auto scenario = ParseScenario(log->header.scenario_yaml, "header");
    REQUIRE(scenario.ok());
    CHECK(scenario->topology.kafka_brokers == 1);
    REQUIRE(log->publishes.size() == kMessages);
    int64_t previous_offset = 0;
    for (int i = 0; i < kMessages; ++i) {
      INFO("message " << i);
      const sim::PublishRecord& r = log->publishes[static_cast<size_t>(i)];
      const KafkaRecord& p = produced[static_cast<size_t>(i)];
      CHECK(r.transport == "kafka");
      CHECK(r.subject == p.topic);
      CHECK(r.key == p.key);
      CHECK(r.payload == p.value);
      CHECK(r.headers.size() == p.headers.size());
      for (const auto& [k, v] : p.headers) {
        REQUIRE(r.headers.count(k) == 1);
        CHECK(r.headers.at(k) == v);
      }
      CHECK(r.seq == static_cast<uint64_t>(i + 1));
      CHECK(r.offset_ms >= previous_offset);
      previous_offset = r.offset_ms;
      if (i % 7 != 3) CHECK(r.event_id == "evt-" + std::to_string(i));
    }
  };

  SECTION("the library import keeps count, order, keys, headers and bytes") {
    std::ifstream in(dump, std::ios::binary);
    harness::KcatImportOptions options;
    options.source = dump;
    auto summary = harness::ImportKcat(in, out.Sub("kafka.log"), options);
    REQUIRE(summary.ok());
    CHECK(summary->imported == kMessages);
    CHECK(summary->skipped_bad == 0);
    check_log(out.Sub("kafka.log"));
  }

  SECTION("the ingestlab binary imports the same dump from stdin") {
    const std::string log_path = out.Sub("cli.log");
    auto r = RunShell(std::string(INGESTLAB_CLI) + " import kcat - -o " + log_path + " < " + dump +
                      " 2>&1");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("imported 200 messages") != std::string::npos);
    check_log(log_path);
  }
}

// A measurement, not run by default: `integration_import_test "[perf]"` prints how long
// importing 100k JetStream messages takes.
TEST_CASE("import nats of 100k messages", "[.][perf]") {
  Broker broker;
  const std::string url = broker.cluster->url(0);
  JsTestClient client(url);
  client.AddStream("BULK", {"bulk.>"});
  constexpr int kMessages = 100'000;
  const std::string payload = PayloadFor(1);
  for (int i = 0; i < kMessages; ++i) {
    natsMsg* msg = nullptr;
    REQUIRE(natsMsg_Create(&msg, "bulk.events", nullptr, payload.data(),
                           static_cast<int>(payload.size())) == NATS_OK);
    natsMsgHeader_Set(msg, "Nats-Msg-Id", ("bulk-" + std::to_string(i)).c_str());
    REQUIRE(js_PublishMsgAsync(client.js(), &msg, nullptr) == NATS_OK);
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 30'000;
  REQUIRE(js_PublishAsyncComplete(client.js(), &po) == NATS_OK);
  REQUIRE(client.StreamMessages("BULK") == kMessages);

  TempDir out = TempDir::Create("import-perf").value();
  harness::JetStreamImportOptions options;
  options.url = url;
  options.stream = "BULK";
  options.timeout_ms = 60'000;
  const auto start = std::chrono::steady_clock::now();
  auto summary = harness::ImportJetStream(options, out.Sub("bulk.log"));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(summary.ok());
  CHECK(summary->imported == kMessages);
  std::printf("imported %d JetStream messages (%zu bytes each) in %.2f s (%.0f msg/s)\n", kMessages,
              payload.size(), seconds, kMessages / seconds);
}
