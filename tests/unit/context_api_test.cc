// Specification of the customer-context API (system/context_api.h), served over a real loopback
// socket from a store the test fills through the real handlers: what a context holds, tenant
// isolation (another organisation's customer answers exactly as an unknown one), bearer tokens,
// bad and hostile input, the size budget, and search. With INGESTLAB_TEST_STORE=postgres the
// same cases run on PostgreSQL (tests/CMakeLists.txt).
#include <catch2/catch.hpp>

#include <httplib.h>

#include <string>

#include <nlohmann/json.hpp>

#include "system/context_api.h"
#include "system/http_server.h"
#include "tests/support/event_fixture.h"

using namespace ingestlab;
using ingestlab::testing::StoreHarness;
using nlohmann::json;

namespace {

constexpr char kTokenA[] = "token-of-org-a-0123456789";
constexpr char kTokenB[] = "token-of-org-b-0123456789";

std::string Ev(const std::string& id, const std::string& type, const std::string& org,
               const std::string& customer, const std::string& data) {
  return R"({"id":")" + id + R"(","type":")" + type + R"(","org_id":")" + org +
         R"(","customer_id":")" + customer + R"(","time_ms":)" +
         std::to_string(1'700'000'000'000 + id.size() * 1000 + id.back()) + R"(,"data":)" + data +
         "}";
}

struct Served {
  StoreHarness h;
  HttpServer server;
  std::unique_ptr<ContextApi> api;
  std::unique_ptr<httplib::Client> client;

  Served() {
    auto apply = [&](const std::string& json) {
      auto outcome = h.Apply(json);
      INFO(json);
      REQUIRE(outcome.ok());
    };
    apply(Ev("a1", "billing.customer.created", "org_a", "c1",
             R"({"customer_id":"c1","email":"ann@acme.io","name":"Ann Lee","company":"Acme"})"));
    for (int i = 0; i < 3; ++i) {
      apply(Ev("a2" + std::to_string(i), "billing.purchase.completed", "org_a", "c1",
               R"({"purchase_id":"p)" + std::to_string(i) + R"(","amount":)" +
                   std::to_string(10 * (i + 1)) + "}"));
    }
    apply(Ev("a3", "support.ticket.opened", "org_a", "c1",
             R"({"ticket_id":"t1","title":"Cannot log in","priority":"high"})"));
    apply(Ev("a4", "support.ticket.opened", "org_a", "c1",
             R"({"ticket_id":"t2","title":"Invoice question"})"));
    apply(Ev("a5", "support.ticket.resolved", "org_a", "c1",
             R"({"ticket_id":"t2","resolution":"answered"})"));
    apply(Ev("a6", "crm.lead.created", "org_a", "c1",
             R"({"lead_id":"L1","email":"ann@acme.io","company":"Acme"})"));
    // The same e-mail address in another organisation's CRM: not this customer's.
    apply(Ev("b1", "crm.lead.created", "org_b", "c9",
             R"({"lead_id":"L2","email":"ann@acme.io","company":"Other"})"));
    apply(Ev("b2", "billing.customer.created", "org_b", "c2",
             R"({"customer_id":"c2","email":"bob@beta.io","name":"Bob Ann"})"));

    ContextApiOptions options;
    options.db_path = h.path();
    REQUIRE(AddApiToken("org_a", kTokenA, &options.tokens).ok());
    REQUIRE(AddApiToken("org_b", kTokenB, &options.tokens).ok());
    api = std::make_unique<ContextApi>(std::move(options));
    api->Register(server);
    REQUIRE(server.Start("127.0.0.1", 0).ok());
    client = std::make_unique<httplib::Client>("127.0.0.1", server.port());
    client->set_read_timeout(10, 0);
  }

  httplib::Result Get(const std::string& path, const std::string& token) {
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return client->Get(path.c_str(), headers);
  }
};

json Body(const httplib::Result& res) { return json::parse(res->body); }

}  // namespace

TEST_CASE("the context API assembles one customer's context from the store") {
  Served s;
  auto res = s.Get("/v1/customers/c1/context", kTokenA);
  REQUIRE(res);
  REQUIRE(res->status == 200);
  CHECK(res->get_header_value("Content-Type") == "application/json");
  const json body = Body(res);
  CHECK(body["customer_id"] == "c1");
  CHECK(body["org_id"] == "org_a");
  CHECK(body["profile"]["email"] == "ann@acme.io");
  CHECK(body["profile"]["name"] == "Ann Lee");
  CHECK(body["profile"]["lifetime_value"].get<double>() == Approx(60));
  const json& sections = body["sections"];
  CHECK(sections["purchases"].size() == 3);
  CHECK(sections["purchases"][0]["purchase_id"] == "p2");  // latest first
  REQUIRE(sections["tickets"].size() == 1);                // open ones only
  CHECK(sections["tickets"][0]["ticket_id"] == "t1");
  CHECK(sections["tickets"][0]["priority"] == "high");
  REQUIRE(sections["crm_leads"].size() == 1);  // org_b's lead with the same e-mail is not here
  CHECK(sections["crm_leads"][0]["lead_id"] == "L1");
  for (const char* name :
       {"work_orders", "crm_contacts", "crm_opportunities", "knowledge", "learning"}) {
    CHECK(sections[name].empty());
  }
  CHECK(body["trimmed"].empty());
  CHECK(body["partial"] == false);

  SECTION("sections= picks some; the profile always comes") {
    auto some = s.Get("/v1/customers/c1/context?sections=learning,purchases", kTokenA);
    REQUIRE(some->status == 200);
    const json b = Body(some);
    CHECK(b["profile"]["customer_id"] == "c1");
    CHECK(b["sections"].size() == 2);
    CHECK(b["sections"]["purchases"].size() == 3);
  }
}

TEST_CASE("the context API answers another organisation's customer exactly as an unknown one") {
  Served s;
  auto other = s.Get("/v1/customers/c1/context", kTokenB);
  auto unknown = s.Get("/v1/customers/nobody/context", kTokenB);
  REQUIRE(other);
  REQUIRE(unknown);
  CHECK(other->status == 404);
  CHECK(unknown->status == 404);
  CHECK(other->body == unknown->body);
  CHECK(other->body.find("c1") == std::string::npos);
  // Its own customer, and no other organisation's rows in its search either.
  CHECK(s.Get("/v1/customers/c2/context", kTokenB)->status == 200);
  auto found = s.Get("/v1/customers/search?q=ann", kTokenB);
  REQUIRE(found->status == 200);
  const json results = Body(found)["results"];
  REQUIRE(results.size() == 1);
  CHECK(results[0]["customer_id"] == "c2");
}

TEST_CASE("the context API refuses a missing, malformed or forged token") {
  Served s;
  for (const std::string& header :
       {std::string(""), std::string("Bearer "), std::string("Basic ") + kTokenA,
        std::string("Bearer ") + kTokenA + "x",
        std::string("Bearer ") + std::string(kTokenA).substr(1),
        std::string("bearer ") + kTokenA}) {
    INFO(header);
    httplib::Headers headers;
    if (!header.empty()) headers.emplace("Authorization", header);
    auto res = s.client->Get("/v1/customers/c1/context", headers);
    REQUIRE(res);
    CHECK(res->status == 401);
    CHECK(res->get_header_value("WWW-Authenticate").starts_with("Bearer"));
    CHECK(res->body.find("ann@acme.io") == std::string::npos);
  }
  CHECK(s.Get("/v1/customers/search?q=ann", "")->status == 401);
}

TEST_CASE("the context API takes hostile paths and parameters as data") {
  Served s;
  for (const char* path :
       {"/v1/customers/c1%27%20OR%20%271%27=%271/context", "/v1/customers/c1%00/context",
        "/v1/customers/c1/context/extra", "/v1/customers/%2E%2E%2Fc1/context",
        "/v1/customers//context", "/v1/customers/c1", "/v1/customers/"}) {
    INFO(path);
    auto res = s.Get(path, kTokenA);
    REQUIRE(res);
    CHECK(res->status == 404);
    CHECK(res->body.find("ann@acme.io") == std::string::npos);
  }
  const std::string long_id(5000, 'x');
  CHECK(s.Get("/v1/customers/" + long_id + "/context", kTokenA)->status == 404);
  for (const char* query : {"max_bytes=abc", "max_bytes=0", "max_bytes=-5",
                            "max_bytes=99999999999999999999", "sections=profile,secrets"}) {
    INFO(query);
    auto res = s.Get(std::string("/v1/customers/c1/context?") + query, kTokenA);
    REQUIRE(res);
    CHECK(res->status == 400);
    CHECK(Body(res)["error"].get<std::string>().size() > 0);
  }
  // Search text is words, never query syntax.
  for (const char* q : {"%22ann%22%20OR%20*", "ann%27%3B%20DROP%20TABLE%20customers%3B--",
                        "NEAR(ann%20lee)", "c1%25"}) {
    INFO(q);
    auto res = s.Get(std::string("/v1/customers/search?q=") + q, kTokenA);
    REQUIRE(res);
    CHECK(res->status == 200);
  }
  CHECK(s.h.Int("SELECT COUNT(*) FROM customers") == 2);  // c1, c2: nothing dropped
  CHECK(s.Get("/v1/customers/search?q=%20%2A%20", kTokenA)->status == 400);
  CHECK(s.Get("/v1/customers/search?q=" + std::string(300, 'a'), kTokenA)->status == 400);
  auto post = s.client->Post("/v1/customers/c1/context", "", "text/plain");
  REQUIRE(post);
  CHECK(post->status == 405);
}

TEST_CASE("the context API keeps within max_bytes: important sections whole, the rest trimmed") {
  Served s;
  // More rows for the less important sections.
  for (int i = 0; i < 12; ++i) {
    const std::string n = std::to_string(i);
    REQUIRE(s.h.Apply(Ev("k" + n, "support.ticket.opened", "org_a", "c1",
                         R"({"ticket_id":"tk)" + n + R"(","title":"Printer on fire, again"})"))
                .ok());
  }
  const auto full = s.Get("/v1/customers/c1/context", kTokenA);
  REQUIRE(full->status == 200);
  const size_t full_size = full->body.size();
  CHECK(Body(full)["trimmed"].empty());

  const size_t budget = full_size - 300;
  auto cut = s.Get("/v1/customers/c1/context?max_bytes=" + std::to_string(budget), kTokenA);
  REQUIRE(cut->status == 200);
  CHECK(cut->body.size() <= budget);
  const json body = Body(cut);
  // Tickets come first and are kept whole; the purchases after them are what gets cut.
  CHECK(body["sections"]["tickets"].size() == 13);
  REQUIRE(body["trimmed"].size() >= 1);
  bool purchases_cut = false;
  for (const json& t : body["trimmed"]) {
    if (t["section"] == "purchases") {
      purchases_cut = true;
      CHECK(t["of"] == 3);
      CHECK(t["kept"].get<int>() == static_cast<int>(body["sections"]["purchases"].size()));
      CHECK(t["kept"].get<int>() < 3);
    }
    CHECK(t["section"] != "tickets");
  }
  CHECK(purchases_cut);

  SECTION("a budget below the profile keeps the profile alone") {
    auto tiny = s.Get("/v1/customers/c1/context?max_bytes=10", kTokenA);
    REQUIRE(tiny->status == 200);
    const json b = Body(tiny);
    CHECK(b["profile"]["email"] == "ann@acme.io");
    for (const auto& [name, rows] : b["sections"].items()) CHECK(rows.empty());
    CHECK(b["trimmed"].size() == 3);  // tickets, purchases, crm_leads had rows
  }
}
