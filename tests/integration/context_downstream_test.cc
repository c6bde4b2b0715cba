// The context API with its live sources (system/downstream.h) against the simulated CRM,
// scheduling and email services (simulators/downstream_services.h) on loopback: answers from all
// three, a service down or slow makes the context partial but still served from the store and
// the cache within the timeout, the breaker opens after its failures (and then asks nobody), and
// closes again through its probe once the service is back.
#include <catch2/catch.hpp>

#include <httplib.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "harness/infra/ports.h"
#include "harness/infra/process.h"
#include "simulators/downstream_services.h"
#include "system/context_api.h"
#include "system/downstream.h"
#include "system/http_server.h"
#include "system/metrics.h"
#include "tests/support/event_fixture.h"
#include "tests/support/ingestd_child.h"
#include "tests/support/up_process.h"
#include "tests/support/wait.h"

using namespace ingestlab;
using ingestlab::testing::StoreHarness;
using nlohmann::json;

namespace {

constexpr char kToken[] = "token-of-org-a-0123456789";

struct World {
  StoreHarness h;
  std::unique_ptr<sim::DownstreamSet> services;
  Metrics metrics;
  std::unique_ptr<Downstreams> downstreams;
  HttpServer server;
  std::unique_ptr<ContextApi> api;
  std::unique_ptr<httplib::Client> client;

  explicit World(int64_t cache_ttl_ms = 60'000) {
    for (const char* id : {"c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"}) {
      REQUIRE(
          h.Apply(
               std::string(R"({"id":"e-)") + id +
               R"(","type":"billing.customer.created","org_id":"org_a","data":{"customer_id":")" +
               id + R"(","email":")" + id + R"(@acme.io"}})")
              .ok());
    }
    auto set = sim::DownstreamSet::Start(7);
    REQUIRE(set.ok());
    services = std::move(*set);
    DownstreamOptions options;
    for (const auto& s : services->services()) options.services.emplace_back(s->name(), s->url());
    options.timeout_ms = 150;
    options.breaker = {2, 10'000, 400};
    options.cache_ttl_ms = cache_ttl_ms;
    downstreams = std::make_unique<Downstreams>(std::move(options), &metrics, &Clock::System());
    ContextApiOptions api_options;
    api_options.db_path = h.path();
    REQUIRE(AddApiToken("org_a", kToken, &api_options.tokens).ok());
    api_options.downstreams = downstreams.get();
    api = std::make_unique<ContextApi>(std::move(api_options));
    api->Register(server);
    REQUIRE(server.Start("127.0.0.1", 0).ok());
    client = std::make_unique<httplib::Client>("127.0.0.1", server.port());
    client->set_read_timeout(10, 0);
  }

  // GET the context; *ms is how long it took.
  json Context(const std::string& id, int64_t* ms = nullptr) {
    const auto start = std::chrono::steady_clock::now();
    auto res = client->Get(("/v1/customers/" + id + "/context").c_str(),
                           {{"Authorization", std::string("Bearer ") + kToken}});
    if (ms != nullptr) {
      *ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
    }
    REQUIRE(res);
    REQUIRE(res->status == 200);
    return json::parse(res->body);
  }

  std::string BreakerState() {
    return json::parse(downstreams->HealthJson())["crm"]["breaker"].get<std::string>();
  }
};

}  // namespace

TEST_CASE("the context carries every downstream source, seeded and repeatable") {
  World w;
  const json first = w.Context("c1");
  CHECK(first["partial"] == false);
  CHECK(first["missing_sources"].empty());
  for (const char* source : {"crm", "scheduling", "email"}) {
    INFO(source);
    REQUIRE(first["sources"][source].is_object());
    CHECK(first["sources"][source]["customer_id"] == "c1");
  }
  CHECK(first["sources"]["crm"]["lifecycle_stage"].is_string());
  // The same seed answers the same; a second read within the TTL comes from the cache.
  const int64_t calls = w.services->Find("crm")->requests();
  CHECK(w.Context("c1")["sources"] == first["sources"]);
  CHECK(w.services->Find("crm")->requests() == calls);
  CHECK(w.metrics.RenderPrometheus().find(
            "ingest_context_cache_total{service=\"crm\",result=\"hit\"} 1") != std::string::npos);
}

TEST_CASE("a downstream down: partial answers at once, the breaker opens, then closes again") {
  World w;
  w.Context("c1");  // cached: c1's CRM answer can be served while the service is down
  REQUIRE(w.services->SetFault("crm", {0, 0, true}).ok());

  // Unknown to the cache: missing. Never an error, never slower than the timeout allows.
  int64_t ms = 0;
  json c2 = w.Context("c2", &ms);
  CHECK(c2["partial"] == true);
  CHECK(c2["missing_sources"] == json::array({"crm"}));
  CHECK(c2["sources"]["crm"].is_null());
  CHECK(c2["sources"]["email"].is_object());
  CHECK(c2["profile"]["email"] == "c2@acme.io");  // the store still answers
  CHECK(ms < 2'000);
  w.Context("c3");
  CHECK(w.BreakerState() == "open");  // two failures within the window
  json c1 = w.Context("c1");          // c1's cached answer, still fresh
  CHECK(c1["partial"] == false);
  CHECK(c1["sources"]["crm"]["customer_id"] == "c1");

  // Open: nobody is asked.
  const int64_t before = w.services->Find("crm")->requests();
  for (const char* id : {"c4", "c5", "c6"}) CHECK(w.Context(id)["partial"] == true);
  CHECK(w.services->Find("crm")->requests() == before);
  CHECK(w.metrics.RenderPrometheus().find("ingest_breaker_state{service=\"crm\"} 1") !=
        std::string::npos);

  // Back up: after the open period one probe goes out, succeeds, and the breaker closes.
  REQUIRE(w.services->SetFault("crm", {}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  json c7 = w.Context("c7");
  CHECK(c7["partial"] == false);
  CHECK(c7["sources"]["crm"]["customer_id"] == "c7");
  CHECK(w.BreakerState() == "closed");
  CHECK(json::parse(w.downstreams->HealthJson())["crm"]["opened_total"] == 1);
}

TEST_CASE("an expired cache entry answers, marked stale, when its source cannot") {
  World w(/*cache_ttl_ms=*/1);
  CHECK(w.Context("c1")["stale_sources"].empty());
  REQUIRE(w.services->SetFault("crm", {0, 0, true}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const json c1 = w.Context("c1");
  CHECK(c1["partial"] == false);
  CHECK(c1["stale_sources"] == json::array({"crm"}));
  CHECK(c1["sources"]["crm"]["customer_id"] == "c1");
}

TEST_CASE("a slow downstream costs at most its timeout, and counts as a failure") {
  World w;
  REQUIRE(w.services->SetFault("scheduling", {1'000, 0, false}).ok());
  int64_t ms = 0;
  const json c = w.Context("c8", &ms);
  CHECK(c["missing_sources"] == json::array({"scheduling"}));
  CHECK(c["sources"]["crm"].is_object());
  CHECK(ms < 900);  // the 1 s answer was not waited for
  CHECK(w.metrics.RenderPrometheus().find(
            "ingest_downstream_calls_total{service=\"scheduling\",outcome=\"error\"} 1") !=
        std::string::npos);
}

TEST_CASE("an erroring downstream fails the share of calls it is told to") {
  World w;
  REQUIRE(w.services->SetFault("email", {0, 1.0, false}).ok());
  CHECK(w.Context("c1")["missing_sources"] == json::array({"email"}));
  REQUIRE(w.services->SetFault("email", {0, 0.0, false}).ok());
  CHECK(w.Context("c2")["missing_sources"].empty());
}

TEST_CASE("ingestlab up --context starts the downstream services and gives ingestd a token",
          "[context][up]") {
  auto dir = TempDir::Create("up-context").value();
  ingestlab::testing::UpProcess up =
      ingestlab::testing::StartUp(dir, {"--context", "--kafka-brokers", "0"});
  const json& ready = up.ready;
  REQUIRE(ready["downstream"].is_object());
  CHECK(ready["downstream"].size() == 3);
  const std::string config = ready.value("context_config", "");
  REQUIRE_FALSE(config.empty());
  CHECK((std::filesystem::status(config).permissions() & std::filesystem::perms::others_read) ==
        std::filesystem::perms::none);
  // context.conf: "api-token.org-1 = TOKEN".
  std::string token;
  {
    std::ifstream in(config);
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with("api-token.org-1 = ")) token = line.substr(18);
    }
  }
  REQUIRE(token.size() >= 16);

  // Each downstream service answers for a customer, as ingestd asks it.
  for (const auto& [name, url] : ready["downstream"].items()) {
    httplib::Client service(url.get<std::string>());
    auto res = service.Get("/v1/customers/cust-1", {{"X-Org-Id", "org-1"}});
    INFO(name);
    REQUIRE(res);
    CHECK(res->status == 200);
  }
  // ingestd takes the token: an unknown customer is 404 with it, and 401 without it.
  httplib::Client http(ready.value("http", "").substr(7));
  auto with = http.Get("/v1/customers/nobody/context", {{"Authorization", "Bearer " + token}});
  REQUIRE(with);
  CHECK(with->status == 404);
  auto without = http.Get("/v1/customers/nobody/context");
  REQUIRE(without);
  CHECK(without->status == 401);
  CHECK(ingestlab::testing::Contains(http.Get("/healthz")->body, "\"downstream\":{\"crm\""));
  CHECK_FALSE(ingestlab::testing::Contains(ingestlab::testing::ReadAll(up.log_path), token));

  REQUIRE(up.process->Signal(SIGINT).ok());
  const ExitStatus how = up.process->Stop(30'000);
  CHECK(how.exited);
  CHECK(how.code == 0);
}
