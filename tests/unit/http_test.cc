// Specification of ingestd's HTTP endpoint (system/http_server.h): /healthz JSON and status codes,
// /metrics Prometheus text with per-source gauges, served over a real loopback socket on a port
// the kernel picks; and IngestdApp assembled with a fake transport and the real store.
#include <catch2/catch.hpp>

#include <httplib.h>

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "system/http_server.h"
#include "system/ingestd_app.h"
#include "system/metrics.h"
#include "tests/support/text_checks.h"

using namespace ingestlab;

namespace {

HealthInputs Healthy() {
  HealthInputs h;
  SourceHealth nats;
  nats.connected = true;
  nats.detail = "connected to nats://127.0.0.1:4222";
  nats.reconnects = 2;
  nats.lag = {{"BILLING", 7}, {"AUTH", 0}};
  h.nats = nats;
  h.db_ok = true;
  h.db_path = "/tmp/ingest.db";
  h.last_commit_unix_ms = 1'700'000'000'123;
  h.queue = 42;
  h.uptime_s = 9;
  return h;
}

}  // namespace

TEST_CASE("/healthz reports transports, database, queue and last commit as JSON") {
  HealthInputs health = Healthy();
  std::mutex mu;
  HttpServer server;
  server.Handle("/healthz", [&] {
    std::lock_guard<std::mutex> lock(mu);
    return RenderHealthz(health);
  });
  REQUIRE(server.Start("127.0.0.1", 0).ok());
  REQUIRE(server.port() > 0);
  httplib::Client client("127.0.0.1", server.port());
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(2, 0);

  SECTION("all well: 200 and status ok") {
    auto res = client.Get("/healthz");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->get_header_value("Content-Type") == "application/json");
    const auto j = nlohmann::json::parse(res->body);
    CHECK(j["status"] == "ok");
    CHECK(j["nats"]["connected"] == true);
    CHECK(j["nats"]["detail"] == "connected to nats://127.0.0.1:4222");
    CHECK(j["nats"]["reconnects"] == 2);
    CHECK(j["nats"]["lag"]["BILLING"] == 7);
    CHECK_FALSE(j.contains("kafka"));  // not configured
    CHECK(j["db"]["ok"] == true);
    CHECK(j["db"]["path"] == "/tmp/ingest.db");
    CHECK(j["last_commit_unix_ms"] == 1'700'000'000'123);
    CHECK(j["queue"] == 42);
    CHECK(j["uptime_s"] == 9);
  }
  SECTION("a disconnected transport is degraded, still 200") {
    {
      std::lock_guard<std::mutex> lock(mu);
      SourceHealth kafka;
      kafka.connected = false;
      kafka.detail = "connecting to 127.0.0.1:1";
      health.kafka = kafka;
    }
    auto res = client.Get("/healthz");
    REQUIRE(res);
    CHECK(res->status == 200);
    const auto j = nlohmann::json::parse(res->body);
    CHECK(j["status"] == "degraded");
    CHECK(j["kafka"]["connected"] == false);
  }
  SECTION("an unusable database is 503") {
    {
      std::lock_guard<std::mutex> lock(mu);
      health.db_ok = false;
      health.db_error = "disk I/O error";
    }
    auto res = client.Get("/healthz");
    REQUIRE(res);
    CHECK(res->status == 503);
    const auto j = nlohmann::json::parse(res->body);
    CHECK(j["status"] == "unavailable");
    CHECK(j["db"]["error"] == "disk I/O error");
  }
  SECTION("unknown paths are 404") {
    auto res = client.Get("/nope");
    REQUIRE(res);
    CHECK(res->status == 404);
  }
  server.Stop();
}

TEST_CASE("/metrics serves the registry and per-source gauges as Prometheus text") {
  Metrics metrics;
  metrics
      .counter("ingest_applied_total", "Events applied", {{"type", "billing.purchase.completed"}})
      ->Inc(3);
  metrics.histogram("ingest_e2e_latency_ms", "latency", Metrics::LatencyBoundsMs())->Observe(4);
  HealthInputs health = Healthy();
  HttpServer server;
  server.Handle("/metrics", [&] {
    HttpReply reply;
    reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
    reply.body = metrics.RenderPrometheus() + RenderSourceMetrics(health);
    return reply;
  });
  REQUIRE(server.Start("127.0.0.1", 0).ok());
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(2, 0);
  auto res = client.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  const std::string& body = res->body;
  ingestlab::testing::CheckContainsAll(
      body, {"ingest_applied_total{type=\"billing.purchase.completed\"} 3\n",
             "ingest_e2e_latency_ms_bucket{le=\"5\"} 1\n",
             "ingest_source_connected{transport=\"nats\"} 1\n",
             "ingest_source_in_flight{transport=\"nats\"} 0\n",
             "ingest_source_lag{transport=\"nats\",consumer=\"BILLING\"} 7\n",
             "# TYPE ingest_source_lag gauge\n"});
  server.Stop();
}

TEST_CASE("a port in use is an error naming the address") {
  HttpServer first;
  REQUIRE(first.Start("127.0.0.1", 0).ok());
  HttpServer second;
  const Status st = second.Start("127.0.0.1", first.port());
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("127.0.0.1:" + std::to_string(first.port())) != std::string::npos);
  first.Stop();
}

// ---- ingestd assembled (IngestdApp) with a fake transport and the real store ----

namespace {

class FakeSource final : public Source {
 public:
  explicit FakeSource(BatchSink* sink) : sink_(sink) {}
  Status Start() override {
    started = true;
    return Status::Ok();
  }
  void Stop() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return in_flight_ == 0; });
    if (stopped_with_in_flight) *stopped_with_in_flight = in_flight_;
  }
  DeadLetterSink* dead_letter_sink() override { return nullptr; }
  SourceHealth Health() const override {
    SourceHealth h;
    h.connected = connected;
    h.detail = connected ? "connected to fake" : "connecting to fake";
    h.lag = {{"BILLING", 3}};
    return h;
  }
  // Submits one message; settled verdicts are appended to `verdicts`.
  void Push(const std::string& payload, const std::string& origin) {
    InboundBatch batch;
    RawMessage m;
    m.payload = payload;
    m.origin = origin;
    m.subject = "billing.customer.created";
    batch.messages.push_back(std::move(m));
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++in_flight_;
    }
    batch.on_settled = [this](std::vector<Settlement>&& s) {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& one : s) verdicts.push_back(one.verdict);
      --in_flight_;
      cv_.notify_all();
    };
    sink_->Submit(std::move(batch));
  }
  bool WaitSettled() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [&] { return in_flight_ == 0; });
  }

  std::atomic<bool> connected{false};
  bool started = false;
  int* stopped_with_in_flight = nullptr;  // where Stop reports what was still in flight
  std::vector<Verdict> verdicts;

 private:
  BatchSink* sink_;
  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0;
};

struct AppFixture {
  std::string dir;
  IngestdConfig config;
  FakeSource* source = nullptr;  // owned by the app
  int stopped_with_in_flight = -1;
  SourceFactories factories;
  AppFixture() {
    dir = (std::filesystem::temp_directory_path() / ("http_test_" + std::to_string(::getpid())))
              .string();
    std::filesystem::create_directories(dir);
    config.nats_urls = {"nats://127.0.0.1:1"};
    config.db_path = dir + "/ingest.db";
    config.http = "127.0.0.1:0";
    config.http_port_file = dir + "/port";
    factories.jetstream = [this](JetStreamOptions options, BatchSink* sink, Metrics*,
                                 Clock*) -> Result<std::unique_ptr<Source>> {
      CHECK(options.urls == config.nats_urls);
      auto s = std::make_unique<FakeSource>(sink);
      s->stopped_with_in_flight = &stopped_with_in_flight;
      source = s.get();
      return std::unique_ptr<Source>(std::move(s));
    };
  }
  ~AppFixture() { std::filesystem::remove_all(dir); }
};

}  // namespace

TEST_CASE("ingestd serves /healthz and /metrics for its store and transports") {
  AppFixture f;
  f.config.api_tokens = {{"token-of-org-a-0123456789", "org_a"},
                         {"token-of-org-b-0123456789", "org_b"}};
  IngestdApp app(f.config, f.factories);
  REQUIRE(app.Start().ok());
  REQUIRE(f.source != nullptr);
  CHECK(f.source->started);
  std::ifstream port_file(f.config.http_port_file);
  int port_from_file = 0;
  port_file >> port_from_file;
  CHECK(port_from_file == app.http_port());

  httplib::Client client("127.0.0.1", app.http_port());
  client.set_read_timeout(2, 0);
  SECTION("a transport still connecting is degraded but 200; connected is ok") {
    auto res = client.Get("/healthz");
    REQUIRE(res);
    CHECK(res->status == 200);
    auto j = nlohmann::json::parse(res->body);
    CHECK(j["status"] == "degraded");
    CHECK(j["nats"]["connected"] == false);
    CHECK(j["db"]["ok"] == true);
    CHECK(j["db"]["path"] == f.config.db_path);
    CHECK(j["last_commit_unix_ms"] == 0);

    f.source->connected = true;
    res = client.Get("/healthz");
    REQUIRE(res);
    CHECK(nlohmann::json::parse(res->body)["status"] == "ok");
  }
  SECTION("an event pushed by the transport is committed, counted and acked") {
    f.source->Push(R"({"specversion":"1.0","id":"app-1","source":"billing",)"
                   R"("type":"billing.customer.created","time":"2026-11-23T19:00:00Z",)"
                   R"("data":{"customer_id":"c-9","email":"c9@example.com"}})",
                   "nats:BILLING:1");
    f.source->Push("not json", "nats:BILLING:2");
    REQUIRE(f.source->WaitSettled());
    CHECK(f.source->verdicts == std::vector<Verdict>{Verdict::kAck, Verdict::kAck});
    auto health = nlohmann::json::parse(client.Get("/healthz")->body);
    CHECK(health["last_commit_unix_ms"].get<int64_t>() > 0);
    auto metrics = client.Get("/metrics");
    REQUIRE(metrics);
    CHECK(metrics->body.find("ingest_applied_total{type=\"billing.customer.created\"} 1\n") !=
          std::string::npos);
    CHECK(metrics->body.find("ingest_dead_letters_total{reason=\"parse\"} 1\n") !=
          std::string::npos);
    CHECK(metrics->body.find("ingest_source_lag{transport=\"nats\",consumer=\"BILLING\"} 3\n") !=
          std::string::npos);
  }
  SECTION("the customer context API serves what was committed, to its organisation only") {
    f.source->Push(R"({"specversion":"1.0","id":"app-3","source":"billing","orgid":"org_a",)"
                   R"("type":"billing.customer.created","time":"2026-11-23T19:00:00Z",)"
                   R"("data":{"customer_id":"c-7","email":"c7@example.com"}})",
                   "nats:BILLING:4");
    REQUIRE(f.source->WaitSettled());
    auto get = [&](const std::string& token) {
      return client.Get("/v1/customers/c-7/context", {{"Authorization", "Bearer " + token}});
    };
    auto res = get("token-of-org-a-0123456789");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    CHECK(nlohmann::json::parse(res->body)["profile"]["email"] == "c7@example.com");
    CHECK(get("token-of-org-b-0123456789")->status == 404);
    CHECK(get("token-of-nobody-0123456789")->status == 401);
  }
  SECTION("Stop stops the transport first, with nothing left in flight") {
    f.source->Push(R"({"specversion":"1.0","id":"app-2","source":"billing",)"
                   R"("type":"billing.customer.created","time":"2026-11-23T19:00:00Z",)"
                   R"("data":{"customer_id":"c-9","email":"c9@example.com"}})",
                   "nats:BILLING:3");
    app.Stop();
    CHECK(f.stopped_with_in_flight == 0);  // the source waited for its batch to settle
    CHECK_FALSE(client.Get("/healthz"));   // HTTP is down
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(f.config.db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
            SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM events WHERE event_id = 'app-2'", -1,
                               &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    CHECK(sqlite3_column_int(stmt, 0) == 1);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
  }
}

TEST_CASE("ingestd start-up failures name what failed") {
  AppFixture f;
  SECTION("a database in a missing directory") {
    f.config.db_path = f.dir + "/missing/dir/ingest.db";
    IngestdApp app(f.config, f.factories);
    const Status st = app.Start();
    CHECK_FALSE(st.ok());
    CHECK(st.message().find("store") == 0);
    CHECK(st.message().find(f.config.db_path) != std::string::npos);
  }
  SECTION("an HTTP port already in use") {
    HttpServer other;
    REQUIRE(other.Start("127.0.0.1", 0).ok());
    f.config.http = "127.0.0.1:" + std::to_string(other.port());
    IngestdApp app(f.config, f.factories);
    const Status st = app.Start();
    CHECK_FALSE(st.ok());
    CHECK(st.message().find(f.config.http) != std::string::npos);
  }
}
