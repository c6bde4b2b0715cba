// End to end: simulated services publish a mixed, faulted stream through a real nats-server
// (JetStream) and the librdkafka mock cluster into a real ingestd; every message's expected
// outcome recorded in the event log is then checked against ingestd's SQLite database:
// applied ids are in `events`, parse/schema faults are in `dead_letters` with their reason, and
// duplicates are counted, not applied twice.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <httplib.h>

#include "common/clock.h"
#include "harness/infra/kafka_cluster.h"
#include "harness/infra/nats_cluster.h"
#include "harness/infra/process.h"
#include "simulators/event_log.h"
#include "simulators/kafka_publisher.h"
#include "simulators/nats_publisher.h"
#include "simulators/simulate_command.h"
#include "simulators/simulation.h"
#include "tests/integration/nats_test_util.h"
#include "tests/support/cli.h"
#include "tests/support/metrics_text.h"

using namespace ingestlab;

namespace {

std::string MakeTempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ingestlab-simit-XXXXXX").string();
  REQUIRE(mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

std::string ReadFile(const std::string& path) { return ingestlab::testing::ReadFileBytes(path); }

// What the database says, read through a fresh read-only connection.
struct DbView {
  std::set<std::string> event_ids;
  std::multimap<std::string, std::string> dead_letters;  // payload → reason
};

DbView ReadDb(const std::string& path) {
  DbView v;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return v;
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT event_id FROM events", -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      v.event_ids.insert(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    }
  }
  sqlite3_finalize(st);
  if (sqlite3_prepare_v2(db, "SELECT payload, reason FROM dead_letters", -1, &st, nullptr) ==
      SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      const void* blob = sqlite3_column_blob(st, 0);
      const int n = sqlite3_column_bytes(st, 0);
      v.dead_letters.emplace(std::string(static_cast<const char*>(blob), static_cast<size_t>(n)),
                             reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

double MetricValue(const std::string& text, const std::string& name) {
  return ingestlab::testing::SumMetric(text, name);
}

}  // namespace

TEST_CASE("a faulted mixed stream reaches ingestd with the outcomes the simulators expect") {
  const std::string dir = MakeTempDir();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(50);

  NatsClusterOptions nats_options;
  nats_options.dir = dir;
  auto nats = NatsCluster::Start(nats_options);
  REQUIRE(nats.ok());
  KafkaClusterOptions kafka_options;
  kafka_options.brokers = 1;
  kafka_options.replication = 1;
  auto kafka = KafkaMockCluster::Start(kafka_options);
  REQUIRE(kafka.ok());

  const std::string db_path = dir + "/ingest.db";
  const std::string port_file = dir + "/http.port";
  SpawnOptions spawn;
  spawn.program = INGESTLAB_INGESTD;
  spawn.args = {"--nats",
                nats.value()->urls(),
                "--kafka",
                kafka.value()->bootstrap(),
                "--db",
                db_path,
                "--http",
                "127.0.0.1:0",
                "--http-port-file",
                port_file};
  spawn.log_path = dir + "/ingestd.log";
  auto ingestd = ChildProcess::Spawn(spawn);
  REQUIRE(ingestd.ok());

  // Ready when /healthz says ok (database open, both transports connected, streams created).
  int http_port = 0;
  bool healthy = false;
  while (std::chrono::steady_clock::now() < deadline && !healthy) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    REQUIRE(ingestd.value()->Running());
    if (http_port == 0) {
      const std::string p = ReadFile(port_file);
      if (!p.empty()) http_port = std::stoi(p);
      continue;
    }
    httplib::Client client("127.0.0.1", http_port);
    auto res = client.Get("/healthz");
    healthy = res && res->status == 200 && res->body.find("\"status\":\"ok\"") != std::string::npos;
  }
  INFO(ingestd.value()->LogTail());
  REQUIRE(healthy);

  // Publish: three services on JetStream, billing and crm on Kafka, all faults on.
  sim::NatsPublisherOptions nats_pub;
  nats_pub.urls = nats.value()->urls();
  auto js = sim::NatsPublisher::Connect(nats_pub);
  REQUIRE(js.ok());
  sim::KafkaPublisherOptions kafka_pub;
  kafka_pub.bootstrap = kafka.value()->bootstrap();
  kafka_pub.message_timeout_ms = 20000;
  auto kp = sim::KafkaPublisher::Create(kafka_pub);
  REQUIRE(kp.ok());

  sim::EventLogHeader header;
  header.scenario = "simulators-integration";
  header.seed = 21;
  header.started_at_ms = Clock::System().NowUnixMillis();
  const std::string log_path = dir + "/events.log";
  auto log = sim::EventLogWriter::Create(log_path, header);
  REQUIRE(log.ok());

  std::vector<std::unique_ptr<sim::ServiceRun>> runs;
  for (const std::string service : {"auth", "learning", "support", "billing", "crm"}) {
    const bool on_kafka = service == "billing" || service == "crm";
    sim::ServiceRunOptions o;
    o.stream.service = service;
    o.stream.seed = 21;
    o.stream.service_envelope_share = 0.15;
    o.stream.customer_dialect_share = 0.15;
    // No oversized payloads here: nats-server refuses them at publish (max_payload 1 MiB), and
    // on Kafka ingestd cannot forward a > 1 MiB dead letter to the mock broker's <topic>.dlq, so
    // its retries would blur the duplicate count checked below. The decoder spec covers them.
    o.stream.faults = sim::FaultSpec::Parse(
                          "duplicate=0.03,malformed=0.02,poison=0.02,out_of_order=0.05,"
                          "schema_mix=0.3,unknown_customer=0.05")
                          .value();
    o.shape = sim::LoadShape::Parse("constant", 500, 0).value();
    o.count = 600;
    o.start_unix_ms = header.started_at_ms;
    sim::Publisher* publisher = on_kafka ? static_cast<sim::Publisher*>(kp.value().get())
                                         : static_cast<sim::Publisher*>(js.value().get());
    auto run = sim::ServiceRun::Create(o, publisher, log.value().get(), &Clock::System());
    REQUIRE(run.ok());
    runs.push_back(std::move(run).value());
  }
  std::vector<std::thread> threads;
  std::vector<Status> results(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = runs[i]->Run(); });
  }
  for (auto& t : threads) t.join();
  // A payload over nats-server's max_payload is refused at publish, never silently dropped.
  {
    bool called = false;
    const Status big =
        js.value()->Publish("support.note.added", "", {}, std::string((1 << 20) + 4096, 'x'),
                            [&](const sim::PublishOutcome&) { called = true; });
    CHECK_FALSE(big.ok());
    CHECK_FALSE(called);
  }
  js.value()->Close();
  kp.value()->Close();
  REQUIRE(log.value()->Close().ok());
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto s = runs[i]->stats();
    INFO(runs[i]->service() << ": sent " << s.sent << " acked " << s.acked << " failed " << s.failed
                            << " retried " << s.retried);
    CHECK(s.retried == 0);
    CHECK(results[i].ok());
    CHECK(s.acked == s.sent);
  }

  // Expected outcomes, from the recorded log (what record/replay will read).
  auto recorded = sim::ReadEventLog(log_path);
  REQUIRE(recorded.ok());
  std::set<std::string> want_applied;
  std::vector<const sim::PublishRecord*> want_dead;
  size_t want_duplicates = 0;
  for (const auto& r : recorded->publishes) {
    REQUIRE(r.acked);
    if (r.expected == sim::kExpectApplied) want_applied.insert(r.event_id);
    if (r.expected == sim::kExpectDuplicate) ++want_duplicates;
    if (r.expected.rfind("dead_letter:", 0) == 0) want_dead.push_back(&r);
  }
  REQUIRE(recorded->publishes.size() >= 3000);
  REQUIRE(want_dead.size() > 50);
  REQUIRE(want_duplicates > 30);

  // Wait for ingestd to settle everything (duplicates come last: they trail their originals).
  httplib::Client client("127.0.0.1", http_port);
  auto duplicates_counted = [&] {
    auto metrics = client.Get("/metrics");
    return metrics ? MetricValue(metrics->body, "ingest_duplicates_total") : -1.0;
  };
  DbView db;
  while (std::chrono::steady_clock::now() < deadline) {
    db = ReadDb(db_path);
    if (db.event_ids.size() >= want_applied.size() && db.dead_letters.size() >= want_dead.size() &&
        duplicates_counted() >= static_cast<double>(want_duplicates)) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // anything unexpected shows now
  db = ReadDb(db_path);
  INFO("events " << db.event_ids.size() << "/" << want_applied.size() << ", dead letters "
                 << db.dead_letters.size() << "/" << want_dead.size() << "\n"
                 << ingestd.value()->LogTail());

  size_t missing = 0;
  for (const auto& id : want_applied) missing += db.event_ids.count(id) == 0;
  CHECK(missing == 0);
  CHECK(db.event_ids.size() == want_applied.size());  // nothing applied that was not expected

  size_t wrong_reason = 0;
  for (const auto* r : want_dead) {
    const std::string reason = r->expected.substr(std::string("dead_letter:").size());
    auto [lo, hi] = db.dead_letters.equal_range(r->payload);
    bool found = false;
    for (auto it = lo; it != hi; ++it) found |= it->second == reason;
    if (!found) {
      ++wrong_reason;
      UNSCOPED_INFO("not dead-lettered as " << reason << ": " << r->event_id);
    }
  }
  CHECK(wrong_reason == 0);
  CHECK(db.dead_letters.size() == want_dead.size());  // no max_deliveries or other surprises

  CHECK(duplicates_counted() == static_cast<double>(want_duplicates));

  // The command line against the same endpoints: every service, recorded, all acknowledged.
  {
    const std::string cli_log = dir + "/cli.log";
    std::vector<std::string> args = {"simulate", "all",
                                     "--nats",   nats.value()->urls(),
                                     "--kafka",  kafka.value()->bootstrap(),
                                     "--count",  "100",
                                     "--rate",   "2000",
                                     "--seed",   "99",
                                     "--faults", "duplicate=0.05,poison=0.05",
                                     "--log",    cli_log};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    std::FILE* out = std::tmpfile();
    CHECK(sim::RunSimulateCommand(static_cast<int>(argv.size()), argv.data(), out, stderr) == 0);
    std::fclose(out);
    auto cli = sim::ReadEventLog(cli_log);
    REQUIRE(cli.ok());
    CHECK(cli->header.seed == 99);
    CHECK(cli->publishes.size() == 500);
    size_t acked = 0;
    std::set<std::string> transports;
    for (const auto& r : cli->publishes) {
      acked += r.acked;
      transports.insert(r.transport);
    }
    CHECK(acked == 500);
    CHECK(transports == std::set<std::string>{"jetstream", "kafka"});

    // Core NATS (no PubAck): acked once a flush round trip confirms the server has them.
    const std::string core_log = dir + "/core.log";
    std::vector<std::string> core = {
        "simulate", "auth", "--transport", "auth=nats", "--nats", nats.value()->urls(),
        "--count",  "50",   "--rate",      "1000",      "--log",  core_log};
    argv.clear();
    for (auto& a : core) argv.push_back(a.data());
    out = std::tmpfile();
    CHECK(sim::RunSimulateCommand(static_cast<int>(argv.size()), argv.data(), out, stderr) == 0);
    std::fclose(out);
    auto core_records = sim::ReadEventLog(core_log);
    REQUIRE(core_records.ok());
    CHECK(core_records->publishes.size() == 50);
    for (const auto& r : core_records->publishes) {
      CHECK(r.transport == "nats");
      CHECK(r.acked);
    }

    std::vector<std::string> one = {"simulate", "--event", "billing.purchase.completed", "--kafka",
                                    kafka.value()->bootstrap()};
    argv.clear();
    for (auto& a : one) argv.push_back(a.data());
    out = std::tmpfile();
    CHECK(sim::RunSimulateCommand(static_cast<int>(argv.size()), argv.data(), out, stderr) == 0);
    std::fclose(out);
  }

  ingestd.value()->Stop(5000);
  std::filesystem::remove_all(dir);
}

TEST_CASE("JetStream publishes are retried until a stream exists and across a server restart") {
  const std::string dir = MakeTempDir();
  NatsClusterOptions nats_options;
  nats_options.dir = dir;
  auto nats = NatsCluster::Start(nats_options);
  REQUIRE(nats.ok());

  sim::NatsPublisherOptions o;
  // A list of URLs, the first of which has no server: the publisher connects to the other.
  o.urls = "nats://127.0.0.1:1, " + nats.value()->urls();
  o.ack_wait_ms = 500;
  o.backoff_ms = 50;
  o.max_attempts = 40;
  auto publisher = sim::NatsPublisher::Connect(o);
  REQUIRE(publisher.ok());

  std::mutex mu;
  int acked = 0, failed = 0, retried = 0;
  auto publish = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      const std::string id = "retry-" + std::to_string(i);
      REQUIRE(publisher.value()
                  ->Publish("sim.retry." + std::to_string(i % 7), "", {{"Nats-Msg-Id", id}},
                            "{\"n\":" + std::to_string(i) + "}",
                            [&](const sim::PublishOutcome& outcome) {
                              std::lock_guard<std::mutex> lock(mu);
                              (outcome.acked ? acked : failed)++;
                              retried += outcome.attempts > 1;
                            })
                  .ok());
    }
  };

  // No stream yet: every publish meets "no responders" and waits for a retry.
  publish(0, 100);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  testing::JsTestClient admin(nats.value()->urls());
  admin.AddStream("SIMRETRY", {"sim.retry.>"});
  REQUIRE(publisher.value()->Flush(std::chrono::seconds(15)).ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    CHECK(acked == 100);
    CHECK(failed == 0);
    CHECK(retried > 0);
  }
  CHECK(admin.StreamMessages("SIMRETRY") == 100);

  // The server dies and comes back with its store: publishes made meanwhile still get acked,
  // and retried copies of stored messages are dropped by Nats-Msg-Id de-duplication.
  REQUIRE(nats.value()->Kill(0).ok());
  publish(100, 200);
  REQUIRE(nats.value()->Restart(0).ok());
  REQUIRE(publisher.value()->Flush(std::chrono::seconds(20)).ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    CHECK(acked == 200);
    CHECK(failed == 0);
  }
  CHECK(testing::WaitUntil([&] { return admin.StreamMessages("SIMRETRY") == 200; }, 5000));
  publisher.value()->Close();
  nats.value().reset();
  std::filesystem::remove_all(dir);
}
