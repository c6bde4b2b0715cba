// Secure transports to NATS, against real nats-server processes with TLS (a CA and certificates
// made by openssl at test time) and authorization: ingestd connects and consumes with a
// credentials file, a token with a client certificate, or an NKey seed; a client without
// credentials, with a wrong password, without the CA or trusting another CA is refused; nothing
// secret reaches ingestd's log, /healthz or /metrics; `ingestlab up --secure` prints what a
// client needs and the simulators' publisher uses it.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nats/nats.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness/infra/nats_cluster.h"
#include "harness/infra/ports.h"
#include "harness/infra/process.h"
#include "harness/infra/test_pki.h"
#include "simulators/nats_publisher.h"
#include "system/nats/nats_security.h"
#include "tests/integration/nats_test_util.h"
#include "tests/support/child.h"
#include "tests/support/ingestd_child.h"
#include "tests/support/up_process.h"

using namespace ingestlab;
using ingestlab::testing::Contains;
using ingestlab::testing::IngestdChild;
using ingestlab::testing::PurchaseEvent;
using ingestlab::testing::ReadAll;
using ingestlab::testing::WaitUntil;

namespace {

std::unique_ptr<NatsCluster> StartCluster(const TempDir& dir, bool tls, NatsAuth auth,
                                          bool verify_clients = false) {
  NatsClusterOptions o;
  o.dir = dir.Sub("nats");
  std::filesystem::create_directories(o.dir);
  o.tls = tls;
  o.tls_verify_clients = verify_clients;
  o.auth = auth;
  auto c = NatsCluster::Start(o);
  INFO(c.status().message());
  REQUIRE(c.ok());
  return std::move(c).value();
}

// One connection attempt with `security` (no retries); cnats's status and its last error.
std::pair<natsStatus, std::string> TryConnect(const std::string& url,
                                              const NatsSecurity& security) {
  natsOptions* opts = nullptr;
  REQUIRE(natsOptions_Create(&opts) == NATS_OK);
  REQUIRE(natsOptions_SetURL(opts, url.c_str()) == NATS_OK);
  natsOptions_SetTimeout(opts, 2000);
  natsOptions_SetMaxReconnect(opts, 0);
  const Status applied = ApplyNatsSecurity(opts, security);
  INFO(applied.message());
  REQUIRE(applied.ok());
  natsConnection* nc = nullptr;
  const natsStatus s = natsConnection_Connect(&nc, opts);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  std::string error = detail != nullptr ? detail : "";
  if (nc != nullptr) natsConnection_Destroy(nc);
  natsOptions_Destroy(opts);
  return {s, error};
}

// Publishes one purchase through the simulators' publisher with `security`; true once acked.
bool PublishWithSimulator(const std::string& urls, const NatsSecurity& security,
                          const std::string& id) {
  sim::NatsPublisherOptions o;
  o.urls = urls;
  o.security = security;
  auto publisher = sim::NatsPublisher::Connect(o);
  INFO(publisher.status().message());
  REQUIRE(publisher.ok());
  std::atomic<int> acked{0};
  // The stream may not exist until ingestd has created it: the publisher retries.
  REQUIRE((*publisher)
              ->Publish("billing.purchase.completed", id, {{"Nats-Msg-Id", id}}, PurchaseEvent(id),
                        [&](const sim::PublishOutcome& outcome) {
                          if (outcome.acked) acked = 1;
                        })
              .ok());
  (*publisher)->Flush(std::chrono::seconds(15));
  const bool ok = WaitUntil([&] { return acked.load() == 1; }, 15'000);
  (*publisher)->Close();
  return ok;
}

// Nothing in `text` that is a secret of `security`.
void CheckNoSecret(const std::string& where, const std::string& text,
                   const NatsSecurity& security) {
  INFO(where << ":\n" << text);
  for (const std::string& secret : {security.password, security.token}) {
    if (!secret.empty()) CHECK_FALSE(Contains(text, secret));
  }
}

}  // namespace

TEST_CASE(
    "ingestd consumes from nats-server with TLS and a password, given a credentials file; "
    "nothing secret is shown",
    "[nats][secure]") {
  auto dir = TempDir::Create("nats-secure").value();
  auto cluster = StartCluster(dir, /*tls=*/true, NatsAuth::kUser);
  const NatsSecurity& security = cluster->client_security();
  REQUIRE(cluster->url(0).rfind("tls://127.0.0.1:", 0) == 0);
  REQUIRE(security.password.size() >= 16);
  const std::string credentials = dir.Sub("credentials");
  REQUIRE(WriteNatsCredentialsFile(credentials, security).ok());

  // The credentials file through the environment, as `ingestlab up --secure` hands it over.
  IngestdChild ingestd(dir, cluster->url(0), {}, {{"INGEST_NATS_CREDENTIALS", credentials}});
  REQUIRE(WaitUntil([&] { return ingestd.Connected(); }, 20'000));
  REQUIRE(PublishWithSimulator(cluster->urls(), security, "evt-secure-1"));
  REQUIRE(WaitUntil([&] { return ingestd.Applied(1); }, 15'000));

  CheckNoSecret("/healthz", ingestd.Get("/healthz"), security);
  CheckNoSecret("/metrics", ingestd.Get("/metrics"), security);
  const std::string log = ingestd.StopAndReadLog();
  CHECK(Contains(log, "connected to tls://127.0.0.1:"));
  CHECK(Contains(log, "security: credentials file"));
  CheckNoSecret("ingestd log", log, security);
}

TEST_CASE(
    "a server with TLS and a password refuses clients without either, or trusting another "
    "CA",
    "[nats][secure]") {
  auto dir = TempDir::Create("nats-secure-refuse").value();
  auto cluster = StartCluster(dir, /*tls=*/true, NatsAuth::kUser);
  const NatsSecurity& good = cluster->client_security();
  const std::string url = cluster->url(0);

  SECTION("with the CA and the password: connected") {
    CHECK(TryConnect(url, good).first == NATS_OK);
  }
  SECTION("no credentials: refused by authorization") {
    NatsSecurity no_credentials;
    no_credentials.tls_ca = good.tls_ca;
    const auto [status, error] = TryConnect(url, no_credentials);
    INFO(error);
    CHECK(status != NATS_OK);
    CHECK(Contains(error, "Authorization Violation"));
  }
  SECTION("a wrong password: refused by authorization") {
    NatsSecurity wrong = good;
    wrong.password = "not-the-password";
    const auto [status, error] = TryConnect(url, wrong);
    INFO(error);
    CHECK(status != NATS_OK);
    CHECK(Contains(error, "Authorization Violation"));
  }
  SECTION("no CA: the server's certificate is not trusted") {
    NatsSecurity no_ca = good;
    no_ca.tls_ca.clear();
    const auto [status, error] = TryConnect(url, no_ca);
    INFO(error);
    CHECK(status == NATS_SSL_ERROR);
  }
  SECTION("another CA: the server's certificate is not trusted") {
    auto other = TestPki::Generate(dir.Sub("other-ca"));
    REQUIRE(other.ok());
    NatsSecurity other_ca = good;
    other_ca.tls_ca = other->ca_cert;
    const auto [status, error] = TryConnect(url, other_ca);
    INFO(error);
    CHECK(status == NATS_SSL_ERROR);
  }
  SECTION("plain nats:// without TLS settings: refused too") {
    NatsSecurity plain = good;
    plain.tls = false;
    plain.tls_ca.clear();
    const std::string nats_url = "nats://127.0.0.1:" + std::to_string(cluster->client_port(0));
    CHECK(TryConnect(nats_url, plain).first != NATS_OK);
  }
}

// ingestd refused at start-up exits 1 with one line saying why (it does not sit "ready" with a
// connection cnats has given up on), and shows no secret.
TEST_CASE("ingestd refused by the server exits with a one-line error, without secrets",
          "[nats][secure]") {
  auto dir = TempDir::Create("nats-secure-ingestd-refused").value();
  auto cluster = StartCluster(dir, /*tls=*/true, NatsAuth::kUser);
  const NatsSecurity& good = cluster->client_security();
  auto run = [&](std::vector<std::string> args) {
    SpawnOptions spawn;
    spawn.program = INGESTLAB_INGESTD;
    spawn.args = {"--nats", cluster->url(0), "--db", dir.Sub("ingest.db"), "--http", "127.0.0.1:0"};
    spawn.args.insert(spawn.args.end(), args.begin(), args.end());
    spawn.log_path = dir.Sub("refused.log");
    std::filesystem::remove(spawn.log_path);
    auto child = ChildProcess::Spawn(spawn);
    REQUIRE(child.ok());
    auto exit = (*child)->WaitExit(15'000);
    REQUIRE(exit.ok());
    return std::make_pair(*exit, ReadAll(spawn.log_path));
  };
  SECTION("no credentials") {
    const auto [exit, log] = run({"--nats-tls-ca", good.tls_ca});
    INFO(log);
    CHECK(exit.exited);
    CHECK(exit.code == 1);
    CHECK(Contains(log, "nats: refused by [tls://127.0.0.1:"));
    CHECK(Contains(log, "Authorization Violation"));
    CHECK(Contains(ReadAll(cluster->log_path(0)), "authentication error"));
  }
  SECTION("a wrong password") {
    const std::string wrong = "Wrong-5c1e-do-not-print";
    const auto [exit, log] =
        run({"--nats-tls-ca", good.tls_ca, "--nats-user", good.user, "--nats-password", wrong});
    INFO(log);
    CHECK(exit.code == 1);
    CHECK(Contains(log, "Authorization Violation"));
    CHECK_FALSE(Contains(log, wrong));
    CheckNoSecret("ingestd log", log, good);
  }
  SECTION("the password, but not the CA") {
    const auto [exit, log] =
        run({"--nats-tls", "true", "--nats-user", good.user, "--nats-password", good.password});
    INFO(log);
    CHECK(exit.code == 1);
    CHECK(Contains(log, "SSL"));
    CheckNoSecret("ingestd log", log, good);
  }
  SECTION("an unreadable CA file: a one-line error naming the setting") {
    const auto [exit, log] = run({"--nats-tls-ca", dir.Sub("missing-ca.pem")});
    INFO(log);
    CHECK(exit.code == 2);
    CHECK(log == "ingestd: --nats-tls-ca: cannot read \"" + dir.Sub("missing-ca.pem") +
                     "\": No such file or directory\n");
  }
}

TEST_CASE(
    "ingestd connects with a token and a client certificate to a server that verifies "
    "clients",
    "[nats][secure]") {
  auto dir = TempDir::Create("nats-secure-mtls").value();
  auto cluster = StartCluster(dir, /*tls=*/true, NatsAuth::kToken, /*verify_clients=*/true);
  const NatsSecurity& security = cluster->client_security();
  REQUIRE_FALSE(security.token.empty());
  REQUIRE_FALSE(security.tls_cert.empty());

  SECTION("a client without the client certificate is refused") {
    NatsSecurity no_cert = security;
    no_cert.tls_cert.clear();
    no_cert.tls_key.clear();
    CHECK(TryConnect(cluster->url(0), no_cert).first != NATS_OK);
  }
  SECTION("ingestd with flags for the files and the token in the environment consumes") {
    IngestdChild ingestd(dir, cluster->url(0),
                         {"--nats-tls-ca", security.tls_ca, "--nats-tls-cert", security.tls_cert,
                          "--nats-tls-key", security.tls_key},
                         {{"INGEST_NATS_TOKEN", security.token}});
    REQUIRE(WaitUntil([&] { return ingestd.Connected(); }, 20'000));
    REQUIRE(PublishWithSimulator(cluster->urls(), security, "evt-secure-mtls"));
    REQUIRE(WaitUntil([&] { return ingestd.Applied(1); }, 15'000));
    CheckNoSecret("/healthz", ingestd.Get("/healthz"), security);
    const std::string log = ingestd.StopAndReadLog();
    CHECK(Contains(log, "security: token+tls+client certificate"));
    CheckNoSecret("ingestd log", log, security);
  }
}

TEST_CASE("ingestd connects with an NKey seed file; a client without it is refused",
          "[nats][secure]") {
  auto dir = TempDir::Create("nats-secure-nkey").value();
  auto cluster = StartCluster(dir, /*tls=*/false, NatsAuth::kNKey);
  const NatsSecurity& security = cluster->client_security();
  REQUIRE_FALSE(security.nkey_seed_file.empty());
  CHECK(TryConnect(cluster->url(0), NatsSecurity()).first != NATS_OK);
  CHECK(TryConnect(cluster->url(0), security).first == NATS_OK);

  IngestdChild ingestd(dir, cluster->url(0), {"--nats-nkey-seed", security.nkey_seed_file});
  REQUIRE(WaitUntil([&] { return ingestd.Connected(); }, 20'000));
  REQUIRE(PublishWithSimulator(cluster->urls(), security, "evt-secure-nkey"));
  REQUIRE(WaitUntil([&] { return ingestd.Applied(1); }, 15'000));
  std::string seed = ReadAll(security.nkey_seed_file);
  while (!seed.empty() && seed.back() == '\n') seed.pop_back();
  const std::string log = ingestd.StopAndReadLog();
  INFO(log);
  CHECK_FALSE(Contains(log, seed));
}

TEST_CASE(
    "ingestlab up --secure prints tls:// URLs, the CA and a credentials file that let a "
    "client in",
    "[nats][secure][up]") {
  auto dir = TempDir::Create("up-secure").value();
  ingestlab::testing::UpProcess up =
      ingestlab::testing::StartUp(dir, {"--secure", "--kafka-brokers", "0"});
  const nlohmann::json& ready = up.ready;
  REQUIRE(ready["nats_urls"].size() == 1);
  const std::string url = ready["nats_urls"][0].get<std::string>();
  CHECK(url.rfind("tls://127.0.0.1:", 0) == 0);
  const std::string ca = ready.value("tls_ca", "");
  const std::string credentials = ready.value("credentials", "");
  REQUIRE_FALSE(ca.empty());
  REQUIRE_FALSE(credentials.empty());

  NatsSecurity from_file;
  REQUIRE(ReadNatsCredentialsFile(credentials, &from_file).ok());
  CHECK(from_file.user == "ingestlab");
  CHECK(from_file.password.size() >= 16);
  CHECK(from_file.tls_ca == ca);

  NatsSecurity with_file;
  with_file.credentials = credentials;
  CHECK(TryConnect(url, with_file).first == NATS_OK);
  NatsSecurity only_ca;
  only_ca.tls_ca = ca;
  CHECK(TryConnect(url, only_ca).first != NATS_OK);

  // ingestd, started by up with the same file, is connected and consumes what a simulator sends.
  REQUIRE(PublishWithSimulator(url, with_file, "evt-up-secure"));
  httplib::Client http(ready.value("http", "").substr(7));
  REQUIRE(WaitUntil(
      [&] {
        auto res = http.Get("/metrics");
        return res &&
               Contains(res->body, "ingest_applied_total{type=\"billing.purchase.completed\"} 1");
      },
      15'000));
  CHECK_FALSE(Contains(ReadAll(dir.Sub("env") + "/logs/ingestd-0.log"), from_file.password));
  CHECK_FALSE(Contains(ReadAll(up.log_path), from_file.password));

  REQUIRE(up.process->Signal(SIGINT).ok());
  const ExitStatus how = up.process->Stop(30'000);
  CHECK(how.exited);
  CHECK(how.code == 0);
}

TEST_CASE(
    "a 3-node cluster with TLS and a password: ingestd consumes, rides out a node's "
    "restart over TLS",
    "[nats][secure][cluster]") {
  auto dir = TempDir::Create("nats-secure-cluster").value();
  NatsClusterOptions o;
  o.dir = dir.Sub("nats");
  std::filesystem::create_directories(o.dir);
  o.nodes = 3;
  o.tls = true;
  o.auth = NatsAuth::kUser;
  auto started = NatsCluster::Start(o);
  INFO(started.status().message());
  REQUIRE(started.ok());
  auto& cluster = *started;
  const NatsSecurity& security = cluster->client_security();
  for (int i = 0; i < 3; ++i) {
    CHECK(TryConnect(cluster->url(i), security).first == NATS_OK);
    NatsSecurity no_password = security;
    no_password.password.clear();
    no_password.user.clear();
    CHECK(TryConnect(cluster->url(i), no_password).first != NATS_OK);
  }
  const std::string credentials = dir.Sub("credentials");
  REQUIRE(WriteNatsCredentialsFile(credentials, security).ok());
  IngestdChild ingestd(dir, cluster->urls(), {"--nats-credentials", credentials});
  REQUIRE(WaitUntil([&] { return ingestd.Connected(); }, 30'000));
  REQUIRE(PublishWithSimulator(cluster->urls(), security, "evt-cluster-1"));
  REQUIRE(WaitUntil([&] { return ingestd.Applied(1); }, 20'000));

  for (int i = 0; i < 3; ++i) REQUIRE(cluster->Restart(i).ok());
  REQUIRE(WaitUntil([&] { return ingestd.Connected(); }, 30'000));
  // With every node restarted, JetStream elects its stream leader again, which on a busy machine
  // can outlast one publish's retries: publish until one is acked (the same Nats-Msg-Id each
  // time, so a retry cannot make a second event; Applied(2) below checks it).
  REQUIRE(WaitUntil(
      [&] { return PublishWithSimulator(cluster->urls(), security, "evt-cluster-2"); },
      std::chrono::milliseconds(90'000), std::chrono::milliseconds(500)));
  REQUIRE(WaitUntil([&] { return ingestd.Applied(2); }, 30'000));
  const std::string log = ingestd.StopAndReadLog();
  CHECK(Contains(log, "reconnected to tls://127.0.0.1:"));
  CheckNoSecret("ingestd log", log, security);
}
