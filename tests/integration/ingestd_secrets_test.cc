// ingestd keeps its NATS credentials to itself: against a real nats-server that requires a user
// and password (or a token), ingestd connects and consumes, while neither its log, nor /healthz,
// nor /metrics ever shows the password — connected, disconnected, reconnected, or refused.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <httplib.h>
#include <catch2/catch.hpp>

#include "harness/infra/nats_cluster.h"
#include "harness/infra/ports.h"
#include "harness/infra/process.h"
#include "tests/integration/nats_test_util.h"
#include "tests/support/child.h"
#include "tests/support/ingestd_child.h"

using namespace ingestlab;
using ingestlab::testing::Contains;
using ingestlab::testing::IngestdChild;
using ingestlab::testing::PurchaseEvent;
using ingestlab::testing::ReadAll;
using ingestlab::testing::JsTestClient;
using ingestlab::testing::WaitUntil;

namespace {

// Distinctive, so that finding them anywhere is never a coincidence.
constexpr const char* kUser = "ingest";
constexpr const char* kPassword = "Pw-7f2c9aQx-do-not-print";
constexpr const char* kToken = "Tok-3be1c0Zy-do-not-print";
constexpr const char* kWrongPassword = "Wrong-91dd2bKv-do-not-print";

struct Server {
  TempDir dir = TempDir::Create("ingestd-secrets").value();
  std::unique_ptr<NatsCluster> cluster;
  explicit Server(const std::string& authorization) {
    NatsClusterOptions o;
    o.dir = dir.path();
    o.extra_config = "authorization {\n" + authorization + "\n}\n";
    auto c = NatsCluster::Start(o);
    REQUIRE(c.ok());
    cluster = std::move(c).value();
  }
  // nats://<userinfo>@127.0.0.1:<port>
  std::string Url(const std::string& userinfo) const {
    return "nats://" + userinfo + "@127.0.0.1:" + std::to_string(cluster->client_port(0));
  }
};

}  // namespace

TEST_CASE("ingestd connects with a NATS user and password and never shows the password",
          "[ingestd][nats][secrets]") {
  Server server(std::string("  user: ") + kUser + "\n  password: \"" + kPassword + "\"");
  const std::string url = server.Url(std::string(kUser) + ":" + kPassword);
  const std::string shown = server.Url(std::string(kUser) + ":***");
  IngestdChild ingestd(server.dir, url);

  // Still connects: redaction must not touch the URL ingestd actually uses.
  REQUIRE(WaitUntil([&] { return ingestd.Connected(); }, 20'000));
  JsTestClient publisher(url);  // the same credentials work for a publisher
  publisher.PublishRetrying("billing.purchase.completed", PurchaseEvent("evt-secret-1"),
                            {{"Nats-Msg-Id", "evt-secret-1"}});
  REQUIRE(WaitUntil(
      [&] {
        return Contains(ingestd.Get("/metrics"),
                        "ingest_applied_total{type=\"billing.purchase.completed\"} 1");
      },
      15'000));

  const std::string healthz = ingestd.Get("/healthz");
  const std::string metrics = ingestd.Get("/metrics");
  INFO(healthz);
  CHECK_FALSE(Contains(healthz, kPassword));
  CHECK(Contains(healthz, shown));  // user, host and port are still shown
  CHECK_FALSE(metrics.empty());
  CHECK_FALSE(Contains(metrics, kPassword));

  // The broker goes away: /healthz names the URLs it reconnects to; the reconnection is logged.
  REQUIRE(server.cluster->Kill(0).ok());
  REQUIRE(WaitUntil([&] { return !ingestd.Connected(); }, 15'000));
  const std::string down = ingestd.Get("/healthz");
  INFO(down);
  CHECK(Contains(down, "reconnecting to"));
  CHECK_FALSE(Contains(down, kPassword));
  REQUIRE(server.cluster->Restart(0).ok());
  REQUIRE(WaitUntil([&] { return ingestd.Connected(); }, 30'000));
  CHECK_FALSE(Contains(ingestd.Get("/healthz"), kPassword));
  CHECK_FALSE(Contains(ingestd.Get("/metrics"), kPassword));

  const std::string log = ingestd.StopAndReadLog();
  INFO(log);
  CHECK(Contains(log, "ready: "));
  CHECK(Contains(log, "nats=" + shown));
  CHECK(Contains(log, "reconnected to " + shown));
  CHECK_FALSE(Contains(log, kPassword));
}

TEST_CASE("ingestd connects with a NATS token and never shows the token",
          "[ingestd][nats][secrets]") {
  Server server(std::string("  token: \"") + kToken + "\"");
  IngestdChild ingestd(server.dir, server.Url(kToken));
  REQUIRE(WaitUntil([&] { return ingestd.Connected(); }, 20'000));
  const std::string healthz = ingestd.Get("/healthz");
  INFO(healthz);
  CHECK(Contains(healthz, server.Url("***")));
  CHECK_FALSE(Contains(healthz, kToken));
  CHECK_FALSE(Contains(ingestd.Get("/metrics"), kToken));
  const std::string log = ingestd.StopAndReadLog();
  INFO(log);
  CHECK(Contains(log, "nats=" + server.Url("***")));
  CHECK_FALSE(Contains(log, kToken));
}

TEST_CASE("ingestd refused by NATS for a wrong password does not show the password",
          "[ingestd][nats][secrets]") {
  Server server(std::string("  user: ") + kUser + "\n  password: \"" + kPassword + "\"");
  IngestdChild ingestd(server.dir, server.Url(std::string(kUser) + ":" + kWrongPassword));
  // It keeps trying; give it a few refusals to log.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const std::string healthz = ingestd.Get("/healthz");
  INFO(healthz);
  CHECK(Contains(healthz, "\"connected\":false"));
  CHECK_FALSE(Contains(healthz, kWrongPassword));
  CHECK_FALSE(Contains(ingestd.Get("/metrics"), kWrongPassword));
  const std::string log = ingestd.StopAndReadLog();
  INFO(log);
  CHECK_FALSE(log.empty());
  CHECK_FALSE(Contains(log, kWrongPassword));
}
