// Specification of ingestd's HTTP endpoint (system/http_server.h): /healthz JSON and status codes,
// /metrics Prometheus text with per-source gauges, served over a real loopback socket on a port
// the kernel picks.
#include <catch2/catch.hpp>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "system/http_server.h"
#include "system/metrics.h"

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
  metrics.counter("ingest_applied_total", "Events applied", {{"type", "billing.purchase.completed"}})
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
  CHECK(body.find("ingest_applied_total{type=\"billing.purchase.completed\"} 3\n") !=
        std::string::npos);
  CHECK(body.find("ingest_e2e_latency_ms_bucket{le=\"5\"} 1\n") != std::string::npos);
  CHECK(body.find("ingest_source_connected{transport=\"nats\"} 1\n") != std::string::npos);
  CHECK(body.find("ingest_source_reconnects{transport=\"nats\"} 2\n") != std::string::npos);
  CHECK(body.find("ingest_source_lag{transport=\"nats\",consumer=\"BILLING\"} 7\n") !=
        std::string::npos);
  CHECK(body.find("# TYPE ingest_source_lag gauge\n") != std::string::npos);
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
