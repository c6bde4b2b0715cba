// Specification of every domain handler's effects (system/schemas/CATALOG.md): one SECTION per
// event type, plus the cross-event rules (depends, last writer wins, refunds, focus aggregation,
// summaries, full-text search).
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "system/handlers/apply_context.h"
#include "system/handlers/registry.h"
#include "system/schema.h"
#include "tests/support/event_fixture.h"

using namespace ingestlab;
using ingestlab::testing::StoreHarness;

namespace {

// Applies and requires kApplied.
void Applied(StoreHarness& h, const std::string& json) {
  auto outcome = h.Apply(json);
  INFO(json);
  REQUIRE(outcome.ok());
  REQUIRE(*outcome == ApplyOutcome::kApplied);
}

std::string Ev(const std::string& id, const std::string& type, const std::string& data,
               const std::string& extra = "") {
  // `extra` comes first: with duplicate keys the first occurrence wins.
  return R"({"id":")" + id + R"(","type":")" + type + "\"" + extra +
         R"(,"org_id":"org_1","time_ms":1700000000000,"data":)" + data + "}";
}

// The keys of `table`'s rows whose indexed text holds `word`, sorted and comma-separated,
// through the store's own full-text search: FTS5 on SQLite, the GIN-indexed to_tsvector
// expression on PostgreSQL (docs/tables.md).
std::string Found(StoreHarness& h, const std::string& table, const std::string& word) {
  struct Search {
    const char* table;
    const char* key;
    const char* columns;  // PostgreSQL's indexed expression
  };
  static const Search kSearches[] = {
      {"customers", "customer_id",
       "COALESCE(name, '') || ' ' || COALESCE(email, '') || ' ' || COALESCE(company, '')"},
      {"tickets", "ticket_id", "COALESCE(title, '') || ' ' || COALESCE(description, '')"},
      {"knowledge", "knowledge_id", "COALESCE(note, '') || ' ' || COALESCE(summary, '')"},
  };
  for (const Search& s : kSearches) {
    if (table != s.table) continue;
    const std::string key = s.key;
    if (StoreHarness::OnPostgres()) {
      return h.Joined("SELECT " + key + " FROM " + table + " WHERE to_tsvector('simple', " +
                      s.columns + ") @@ plainto_tsquery('simple', '" + word + "') ORDER BY 1");
    }
    return h.Joined("SELECT t." + key + " FROM " + table + "_fts JOIN " + table +
                    " t ON t.rowid = " + table + "_fts.rowid WHERE " + table + "_fts MATCH '" +
                    word + "' ORDER BY 1");
  }
  FAIL("no search over " << table);
  return "";
}

// SQLite's own consistency check of a full-text index (PostgreSQL's indexes need none).
void CheckSearchIntegrity(StoreHarness& h, const std::string& table) {
  if (StoreHarness::OnPostgres()) return;
  const std::string fts = table + "_fts";
  CHECK(h.Exec("INSERT INTO " + fts + "(" + fts + ") VALUES('integrity-check')").ok());
}

}  // namespace

TEST_CASE("every catalog type has a handler, and every handler a schema") {
  auto registry = SchemaRegistry::LoadEmbedded();
  REQUIRE(registry.ok());
  std::set<std::string> schema_types;
  for (const std::string& entry : (*registry)->List()) {  // "type vN"
    schema_types.insert(entry.substr(0, entry.rfind(" v")));
  }
  std::set<std::string> handled_types;
  for (std::string_view type : handlers::HandledTypes()) {
    handled_types.emplace(type);
    INFO(type);
    CHECK(handlers::FindHandler(type) != nullptr);
  }
  CHECK(schema_types.size() >= 40);  // the catalog (system/schemas/CATALOG.md) was read
  CHECK(handled_types == schema_types);
  CHECK(handlers::FindHandler("billing.purchase.exploded") == nullptr);
}

TEST_CASE("billing handlers") {
  StoreHarness h;
  SECTION("billing.customer.created upserts the customer") {
    Applied(h, Ev("e1", "billing.customer.created",
                  R"({"customer_id":"c1","email":"ann@example.com","name":"Ann","plan":"pro"})"));
    CHECK(h.Text("SELECT email FROM customers WHERE customer_id='c1'") == "ann@example.com");
    CHECK(h.Text("SELECT name FROM customers WHERE customer_id='c1'") == "Ann");
    CHECK(h.Text("SELECT plan FROM customers WHERE customer_id='c1'") == "pro");
    CHECK(h.Text("SELECT org_id FROM customers WHERE customer_id='c1'") == "org_1");
    Applied(h, Ev("e2", "billing.customer.created",
                  R"({"customer_id":"c1","email":"ann@new.example.com"})"));
    CHECK(h.Int("SELECT COUNT(*) FROM customers") == 1);
    CHECK(h.Text("SELECT email FROM customers WHERE customer_id='c1'") == "ann@new.example.com");
    CHECK(h.Text("SELECT name FROM customers WHERE customer_id='c1'") == "Ann");
  }
  SECTION("billing.purchase.completed inserts a purchase and raises lifetime value") {
    Applied(h, Ev("e1", "billing.purchase.completed",
                  R"({"purchase_id":"p1","customer_id":"c1","amount":40.5,"currency":"EUR",)"
                  R"("product_name":"Widget","quantity":2,"warranty_expires":1765670400})"));
    CHECK(h.Real("SELECT amount FROM purchases WHERE purchase_id='p1'") == Approx(40.5));
    CHECK(h.Text("SELECT currency FROM purchases WHERE purchase_id='p1'") == "EUR");
    CHECK(h.Text("SELECT status FROM purchases WHERE purchase_id='p1'") == "completed");
    CHECK(h.Int("SELECT warranty_expires FROM purchases WHERE purchase_id='p1'") == 1765670400);
    CHECK(h.Real("SELECT lifetime_value FROM customers WHERE customer_id='c1'") == Approx(40.5));
    SECTION("the same purchase under another event id adds nothing") {
      Applied(h, Ev("e2", "billing.purchase.completed",
                    R"({"purchase_id":"p1","customer_id":"c1","amount":40.5})"));
      CHECK(h.Int("SELECT COUNT(*) FROM purchases") == 1);
      CHECK(h.Real("SELECT lifetime_value FROM customers WHERE customer_id='c1'") == Approx(40.5));
    }
  }
  SECTION("billing.purchase.refunded lowers lifetime value and marks the purchase") {
    Applied(h, Ev("e1", "billing.purchase.completed",
                  R"({"purchase_id":"p1","customer_id":"c1","amount":100})"));
    Applied(h, Ev("e2", "billing.purchase.refunded",
                  R"({"purchase_id":"p1","amount":30,"reason":"damaged"})"));
    CHECK(h.Real("SELECT refunded_amount FROM purchases WHERE purchase_id='p1'") == Approx(30));
    CHECK(h.Text("SELECT status FROM purchases WHERE purchase_id='p1'") == "refunded");
    CHECK(h.Text("SELECT refund_reason FROM purchases WHERE purchase_id='p1'") == "damaged");
    CHECK(h.Real("SELECT lifetime_value FROM customers WHERE customer_id='c1'") == Approx(70));
    Applied(h, Ev("e3", "billing.purchase.refunded", R"({"purchase_id":"p1","amount":20})"));
    CHECK(h.Real("SELECT refunded_amount FROM purchases WHERE purchase_id='p1'") == Approx(50));
    CHECK(h.Real("SELECT lifetime_value FROM customers WHERE customer_id='c1'") == Approx(50));
  }
  SECTION("billing.invoice.issued inserts an issued invoice") {
    Applied(h, Ev("e1", "billing.invoice.issued",
                  R"({"invoice_id":"i1","customer_id":"c1","amount":12,"due_date":"2026-12-01"})"));
    CHECK(h.Text("SELECT status FROM invoices WHERE invoice_id='i1'") == "issued");
    CHECK(h.Text("SELECT due_date FROM invoices WHERE invoice_id='i1'") == "2026-12-01");
    CHECK(h.Int("SELECT COUNT(*) FROM customers WHERE customer_id='c1'") == 1);
  }
  SECTION("billing.invoice.paid marks the invoice paid") {
    Applied(h, Ev("e1", "billing.invoice.issued",
                  R"({"invoice_id":"i1","customer_id":"c1","amount":12})"));
    Applied(h, Ev("e2", "billing.invoice.paid", R"({"invoice_id":"i1","amount":12})",
                  R"(,"time_ms":1700000005000)"));
    CHECK(h.Text("SELECT status FROM invoices WHERE invoice_id='i1'") == "paid");
    CHECK(h.Int("SELECT paid_at FROM invoices WHERE invoice_id='i1'") == 1700000005000);
  }
  SECTION("billing.subscription.started upserts an active subscription") {
    Applied(h, Ev("e1", "billing.subscription.started",
                  R"({"subscription_id":"s1","customer_id":"c1","plan":"gold"})"));
    CHECK(h.Text("SELECT status || ':' || plan FROM subscriptions") == "active:gold");
  }
  SECTION("billing.subscription.cancelled cancels it") {
    Applied(h, Ev("e1", "billing.subscription.started",
                  R"({"subscription_id":"s1","customer_id":"c1","plan":"gold"})"));
    Applied(h, Ev("e2", "billing.subscription.cancelled",
                  R"({"subscription_id":"s1","reason":"too expensive"})"));
    CHECK(h.Text("SELECT status || ':' || cancel_reason FROM subscriptions") ==
          "cancelled:too expensive");
  }
}

TEST_CASE("support handlers") {
  StoreHarness h;
  SECTION("support.ticket.opened inserts an open ticket") {
    Applied(h, Ev("e1", "support.ticket.opened",
                  R"({"ticket_id":"t1","customer_id":"c1","title":"Printer jam",)"
                  R"("description":"Paper stuck","channel":"email"})"));
    CHECK(h.Text("SELECT status || ':' || priority || ':' || channel FROM tickets") ==
          "open:medium:email");
    CHECK(h.Text("SELECT summary FROM tickets") == "NULL");
  }
  SECTION("support.ticket.updated updates status, priority and comment") {
    Applied(h, Ev("e1", "support.ticket.opened",
                  R"({"ticket_id":"t1","customer_id":"c1","title":"Printer jam"})"));
    Applied(h, Ev("e2", "support.ticket.updated",
                  R"({"ticket_id":"t1","status":"pending","priority":"high","comment":"asked"})"));
    CHECK(h.Text("SELECT status || ':' || priority || ':' || last_comment FROM tickets") ==
          "pending:high:asked");
  }
  SECTION("ticket updates: the newest by event time wins, whatever the arrival order") {
    Applied(h, Ev("e1", "support.ticket.opened",
                  R"({"ticket_id":"t1","customer_id":"c1","title":"Printer jam"})"));
    Applied(h, Ev("e3", "support.ticket.updated",
                  R"({"ticket_id":"t1","status":"in_progress","comment":"on it"})",
                  R"(,"time_ms":1700000009000)"));
    // Older, arriving later (a redelivery, or held back on the way): changes nothing the newer
    // update set, but sets the priority nothing newer touched, as in event-time order.
    Applied(h, Ev("e2", "support.ticket.updated",
                  R"({"ticket_id":"t1","status":"pending","priority":"high","comment":"asked"})",
                  R"(,"time_ms":1700000005000)"));
    CHECK(h.Text("SELECT status || ':' || priority || ':' || last_comment FROM tickets") ==
          "in_progress:high:on it");
    CHECK(h.Int("SELECT updated_at FROM tickets") == 1700000009000);
  }
  SECTION("an update held back past a newer resolution still sets its own fields") {
    // A consumer paused with the update in hand while another resolved the ticket.
    Applied(h, Ev("e1", "support.ticket.opened",
                  R"({"ticket_id":"t1","customer_id":"c1","title":"Printer jam"})"));
    Applied(h, Ev("e3", "support.ticket.resolved", R"({"ticket_id":"t1","resolution":"fixed"})",
                  R"(,"time_ms":1700000009000)"));
    Applied(h, Ev("e2", "support.ticket.updated",
                  R"({"ticket_id":"t1","status":"in_progress","priority":"low","comment":"seen"})",
                  R"(,"time_ms":1700000005000)"));
    CHECK(h.Text("SELECT status || ':' || priority || ':' || last_comment || ':' || resolution "
                 "FROM tickets") == "resolved:low:seen:fixed");
    SECTION("and a reopening newer than the resolution wins over it in either order") {
      Applied(h, Ev("e4", "support.ticket.updated", R"({"ticket_id":"t1","status":"open"})",
                    R"(,"time_ms":1700000012000)"));
      CHECK(h.Text("SELECT status FROM tickets") == "open");
      Applied(h, Ev("e5", "support.ticket.resolved", R"({"ticket_id":"t1","resolution":"again"})",
                    R"(,"time_ms":1700000010000)"));
      CHECK(h.Text("SELECT status || ':' || resolution FROM tickets") == "open:again");
    }
  }
  SECTION("work order updates: the newest by event time wins") {
    Applied(h, Ev("e1", "support.work_order.created",
                  R"({"work_order_id":"w1","customer_id":"c1","description":"fix the hinge"})"));
    Applied(h, Ev("e3", "support.work_order.updated",
                  R"({"work_order_id":"w1","status":"completed","cost":95})",
                  R"(,"time_ms":1700000009000)"));
    Applied(h, Ev("e2", "support.work_order.updated",
                  R"({"work_order_id":"w1","status":"in_progress","cost":50})",
                  R"(,"time_ms":1700000005000)"));
    CHECK(h.Text("SELECT status FROM work_orders") == "completed");
    CHECK(h.Real("SELECT cost FROM work_orders") == Approx(95));
    // A late older update carrying a field nothing newer set still sets it.
    Applied(h, Ev("e0", "support.work_order.updated",
                  R"({"work_order_id":"w1","assigned_to":"tech_9","cost":10})",
                  R"(,"time_ms":1700000004000)"));
    CHECK(h.Text("SELECT assigned_to FROM work_orders") == "tech_9");
    CHECK(h.Real("SELECT cost FROM work_orders") == Approx(95));
  }
  SECTION("support.ticket.resolved resolves it") {
    Applied(h, Ev("e1", "support.ticket.opened",
                  R"({"ticket_id":"t1","customer_id":"c1","title":"Printer jam"})"));
    Applied(h, Ev("e2", "support.ticket.resolved", R"({"ticket_id":"t1","resolution":"fixed"})"));
    CHECK(h.Text("SELECT status || ':' || resolution FROM tickets") == "resolved:fixed");
    CHECK(h.Int("SELECT resolved_at FROM tickets") == 1700000000000);
  }
  SECTION("support.work_order.created inserts an open work order") {
    Applied(h, Ev("e1", "support.work_order.created",
                  R"({"work_order_id":"w1","customer_id":"c1","description":"fix the hinge",)"
                  R"("priority":"high","assigned_to":"tech_1","cost":80})"));
    CHECK(h.Text("SELECT status || ':' || priority || ':' || assigned_to FROM work_orders") ==
          "open:high:tech_1");
    CHECK(h.Real("SELECT cost FROM work_orders") == Approx(80));
  }
  SECTION("support.work_order.updated updates it") {
    Applied(h, Ev("e1", "support.work_order.created",
                  R"({"work_order_id":"w1","customer_id":"c1","description":"fix the hinge"})"));
    Applied(h, Ev("e2", "support.work_order.updated",
                  R"({"work_order_id":"w1","status":"completed","cost":95,)"
                  R"("resolution_notes":"replaced"})"));
    CHECK(h.Text("SELECT status || ':' || resolution_notes FROM work_orders") ==
          "completed:replaced");
    CHECK(h.Real("SELECT cost FROM work_orders") == Approx(95));
  }
  SECTION("support.note.added inserts knowledge") {
    Applied(h, Ev("e1", "support.note.added",
                  R"({"customer_id":"c1","note":"Prefers phone calls","category":"preference",)"
                  R"("importance":"high","tags":["contact","vip"]})"));
    CHECK(h.Text("SELECT note FROM knowledge WHERE knowledge_id='e1'") == "Prefers phone calls");
    CHECK(h.Text("SELECT importance || ':' || category FROM knowledge") == "high:preference");
    CHECK(h.Text("SELECT tags FROM knowledge") == R"(["contact","vip"])");
  }
}

TEST_CASE("auth handlers") {
  StoreHarness h;
  const std::string user = R"({"user_id":"u1","email":"u1@example.com","first_name":"Una"})";
  SECTION("auth.user.created upserts the user") {
    Applied(h, Ev("e1", "auth.user.created", user));
    CHECK(h.Text("SELECT email || ':' || first_name || ':' || status FROM users") ==
          "u1@example.com:Una:active");
  }
  SECTION("auth.user.deleted sets deleted_at") {
    Applied(h, Ev("e1", "auth.user.created", user));
    Applied(h, Ev("e2", "auth.user.deleted", R"({"user_id":"u1"})"));
    CHECK(h.Int("SELECT deleted_at FROM users") == 1700000000000);
  }
  SECTION("auth.user.login.succeeded records the login and counts it") {
    Applied(h, Ev("e1", "auth.user.created", user));
    Applied(h, Ev("e2", "auth.user.login.succeeded", R"({"user_id":"u1"})",
                  R"(,"time_ms":1700000009000)"));
    Applied(h, Ev("e3", "auth.user.login.succeeded", R"({"user_id":"u1"})"));
    CHECK(h.Int("SELECT login_count FROM users") == 2);
    CHECK(h.Int("SELECT last_login_at FROM users") == 1700000009000);
    CHECK(h.Int("SELECT COUNT(*) FROM logins WHERE ok=1 AND user_id='u1'") == 2);
  }
  SECTION("auth.user.login.failed records the attempt and counts it for known users") {
    Applied(h, Ev("e1", "auth.user.created", user));
    Applied(h, Ev("e2", "auth.user.login.failed",
                  R"({"email":"u1@example.com","user_id":"u1","reason":"invalid_password"})"));
    Applied(h, Ev("e3", "auth.user.login.failed",
                  R"({"email":"u1@example.com","reason":"invalid_password"})"));
    Applied(h, Ev("e4", "auth.user.login.failed",
                  R"({"email":"nobody@example.com","reason":"user_not_found"})"));
    CHECK(h.Int("SELECT failed_login_count FROM users WHERE user_id='u1'") == 2);
    CHECK(h.Int("SELECT COUNT(*) FROM logins WHERE ok=0") == 3);
    CHECK(h.Text("SELECT reason FROM logins WHERE event_id='e4'") == "user_not_found");
  }
  SECTION("auth.user.role.assigned upserts a role") {
    Applied(h, Ev("e1", "auth.user.created", user));
    Applied(h, Ev("e2", "auth.user.role.assigned",
                  R"({"user_id":"u1","role_id":"r1","role_name":"admin"})"));
    CHECK(h.Text("SELECT role_name FROM user_roles WHERE user_id='u1' AND role_id='r1'") ==
          "admin");
  }
  SECTION("auth.user.role.revoked deletes it") {
    Applied(h, Ev("e1", "auth.user.created", user));
    Applied(h, Ev("e2", "auth.user.role.assigned", R"({"user_id":"u1","role_id":"r1"})"));
    Applied(h, Ev("e3", "auth.user.role.revoked", R"({"user_id":"u1","role_id":"r1"})"));
    CHECK(h.Int("SELECT COUNT(*) FROM user_roles") == 0);
  }
}

TEST_CASE("learning handlers") {
  StoreHarness h;
  const std::string session =
      R"({"session_id":"s1","learner_id":"l1","course":"algebra","device":"tablet"})";
  SECTION("learning.session.started inserts a session") {
    Applied(h, Ev("e1", "learning.session.started", session));
    CHECK(h.Text("SELECT learner_id || ':' || course || ':' || device FROM learning_sessions") ==
          "l1:algebra:tablet");
  }
  SECTION("learning.session.ended sets ended_at and duration") {
    Applied(h, Ev("e1", "learning.session.started", session));
    Applied(h, Ev("e2", "learning.session.ended", R"({"session_id":"s1","duration_s":600})"));
    CHECK(h.Real("SELECT duration_s FROM learning_sessions") == Approx(600));
    CHECK(h.Int("SELECT ended_at FROM learning_sessions") == 1700000000000);
  }
  SECTION("learning.activity.completed inserts an activity") {
    Applied(h, Ev("e1", "learning.session.started", session));
    Applied(h, Ev("e2", "learning.activity.completed",
                  R"({"activity_id":"a1","session_id":"s1","learner_id":"l1","skill":"fractions",)"
                  R"("score":87.5,"duration_s":120})"));
    CHECK(h.Real("SELECT score FROM learning_activities WHERE activity_id='a1'") == Approx(87.5));
  }
  SECTION("learning.skill.mastered keeps the highest level") {
    Applied(h, Ev("e1", "learning.skill.mastered",
                  R"({"learner_id":"l1","skill":"fractions","level":4})"));
    Applied(h, Ev("e2", "learning.skill.mastered",
                  R"({"learner_id":"l1","skill":"fractions","level":2})"));
    CHECK(h.Int("SELECT level FROM learner_skills") == 4);
    CHECK(h.Int("SELECT COUNT(*) FROM learner_skills") == 1);
  }
  SECTION("homework.question.asked inserts a question") {
    Applied(h, Ev("e1", "homework.question.asked",
                  R"({"question_id":"q1","learner_id":"l1","subject":"math","text":"2+2?"})"));
    CHECK(h.Text("SELECT text FROM homework") == "2+2?");
  }
  SECTION("homework.question.answered fills the answer") {
    Applied(h, Ev("e1", "homework.question.asked", R"({"question_id":"q1","learner_id":"l1"})"));
    Applied(h, Ev("e2", "homework.question.answered", R"({"question_id":"q1","answer":"4"})"));
    CHECK(h.Text("SELECT answer FROM homework") == "4");
  }
  SECTION("recommendation.created inserts a recommendation") {
    Applied(h, Ev("e1", "recommendation.created",
                  R"({"recommendation_id":"r1","learner_id":"l1","item":"video_12"})"));
    CHECK(h.Text("SELECT item FROM recommendations") == "video_12");
  }
  SECTION("focus.ping counts pings per minute") {
    Applied(h, Ev("e1", "focus.ping", R"({"session_id":"s1","learner_id":"l1","focused":true})"));
    Applied(h, Ev("e2", "focus.ping", R"({"session_id":"s1","learner_id":"l1","focused":false})"));
    CHECK(h.Int("SELECT pings FROM focus_minutes") == 2);
    CHECK(h.Int("SELECT focused_pings FROM focus_minutes") == 1);
    CHECK(h.Int("SELECT minute FROM focus_minutes") == 1700000000000 / 60000);
  }
  SECTION("focus.loss.idle adds idle seconds") {
    Applied(h, Ev("e1", "focus.loss.idle", R"({"session_id":"s1","learner_id":"l1","idle_s":12})"));
    Applied(h,
            Ev("e2", "focus.loss.idle", R"({"session_id":"s1","learner_id":"l1","idle_s":3.5})"));
    CHECK(h.Real("SELECT idle_s FROM focus_minutes") == Approx(15.5));
    CHECK(h.Int("SELECT pings FROM focus_minutes") == 0);
  }
}

TEST_CASE("focus pings aggregate into at most one row per session minute") {
  StoreHarness h;
  REQUIRE(h.store().Begin().ok());
  // 100 pings, 500 ms apart from a minute boundary + 30 s: they span two minutes.
  const int64_t start = 1700000040000;  // 1700000040000 % 60000 == 0 → +30 s below
  int focused = 0;
  for (int i = 0; i < 100; ++i) {
    const bool is_focused = i % 3 != 0;
    focused += is_focused ? 1 : 0;
    const auto& te =
        h.fixture().Make(R"({"id":"p)" + std::to_string(i) + R"(","type":"focus.ping","time_ms":)" +
                         std::to_string(start + 30000 + i * 500) +
                         R"(,"data":{"session_id":"s1","learner_id":"l1","focused":)" +
                         (is_focused ? "true" : "false") + "}}");
    auto outcome = h.store().ApplyEvent(te.event, te.msg);
    REQUIRE(outcome.ok());
  }
  REQUIRE(h.store().Commit().ok());
  CHECK(h.Int("SELECT COUNT(*) FROM focus_minutes") == 2);
  CHECK(h.Int("SELECT SUM(pings) FROM focus_minutes") == 100);
  CHECK(h.Int("SELECT SUM(focused_pings) FROM focus_minutes") == focused);
  CHECK(h.Int("SELECT pings FROM focus_minutes ORDER BY minute LIMIT 1") == 60);
  CHECK(h.Int("SELECT COUNT(*) FROM events WHERE type='focus.ping'") == 100);
}

TEST_CASE("crm handlers") {
  StoreHarness h;
  SECTION("crm.lead.created v1 inserts a lead with its org and event date") {
    Applied(h, Ev("e1", "crm.lead.created",
                  R"({"lead_id":"L1","email":"x@corp.com","name":"Xi","company":"Corp"})"));
    CHECK(h.Text("SELECT name || ':' || status || ':' || event_date FROM crm_leads") ==
          "Xi:new:2023-11-14");
    CHECK(h.Text("SELECT org_id FROM crm_leads") == "org_1");
  }
  SECTION("crm.lead.created v2 joins first and last name") {
    Applied(h, Ev("e1", "crm.lead.created",
                  R"({"lead_id":"L1","email":"x@corp.com","first_name":"Xi","last_name":"Li",)"
                  R"("score":70})",
                  R"(,"schema_version":2)"));
    CHECK(h.Text("SELECT name FROM crm_leads") == "Xi Li");
    CHECK(h.Int("SELECT score FROM crm_leads") == 70);
    CHECK(h.Int("SELECT schema_version FROM crm_leads") == 2);
    // The schema's score is a number from 0 to 100: a fractional one is kept, not dropped.
    Applied(h, Ev("e2", "crm.lead.created",
                  R"({"lead_id":"L2","email":"y@corp.com","first_name":"Yu","score":72.5})",
                  R"(,"schema_version":2)"));
    CHECK(h.Real("SELECT score FROM crm_leads WHERE lead_id='L2'") == Approx(72.5));
    Applied(h, Ev("e3", "crm.lead.updated", R"({"lead_id":"L2","score":80.25})"));
    CHECK(h.Real("SELECT score FROM crm_leads WHERE lead_id='L2'") == Approx(80.25));
  }
  SECTION("crm.lead.updated updates it") {
    Applied(h, Ev("e1", "crm.lead.created", R"({"lead_id":"L1","email":"x@corp.com"})"));
    Applied(h, Ev("e2", "crm.lead.updated", R"({"lead_id":"L1","status":"qualified","score":9})"));
    CHECK(h.Text("SELECT status || ':' || score FROM crm_leads") == "qualified:9");
  }
  SECTION("crm.lead.converted converts it") {
    Applied(h, Ev("e1", "crm.lead.created", R"({"lead_id":"L1","email":"x@corp.com"})"));
    Applied(h, Ev("e2", "crm.lead.converted",
                  R"({"lead_id":"L1","contact_id":"C1","opportunity_id":"O1"})"));
    CHECK(h.Text("SELECT status || ':' || contact_id || ':' || opportunity_id FROM crm_leads") ==
          "converted:C1:O1");
  }
  SECTION("a lead, contact or opportunity created again later keeps one row, dated as first") {
    // On PostgreSQL the second creation falls in another month's partition (store_schema.h).
    const std::string later = R"(,"time_ms":1710000000000)";  // 2024-03-09
    Applied(h, Ev("e1", "crm.lead.created", R"({"lead_id":"L1","email":"x@corp.com"})"));
    Applied(h, Ev("e2", "crm.lead.created", R"({"lead_id":"L1","email":"y@corp.com"})", later));
    Applied(h, Ev("e3", "crm.contact.created", R"({"contact_id":"C1","email":"c@corp.com"})"));
    Applied(h, Ev("e4", "crm.contact.created",
                  R"({"contact_id":"C1","email":"d@corp.com","name":"Cy"})", later));
    Applied(h, Ev("e5", "crm.opportunity.created", R"({"opportunity_id":"O1","name":"Deal"})"));
    Applied(h,
            Ev("e6", "crm.opportunity.created", R"({"opportunity_id":"O1","name":"Redo"})", later));
    CHECK(h.Joined("SELECT lead_id || ':' || event_date || ':' || email FROM crm_leads") ==
          "L1:2023-11-14:x@corp.com");
    CHECK(h.Joined("SELECT contact_id || ':' || event_date || ':' || email || ':' || name || ':' "
                   "|| updated_at FROM crm_contacts") ==
          "C1:2023-11-14:d@corp.com:Cy:1710000000000");
    CHECK(h.Joined("SELECT opportunity_id || ':' || event_date || ':' || name "
                   "FROM crm_opportunities") == "O1:2023-11-14:Deal");
  }
  SECTION("crm.contact.created upserts a contact") {
    Applied(h, Ev("e1", "crm.contact.created",
                  R"({"contact_id":"C1","email":"c@corp.com","name":"Cy","phone":"555"})"));
    CHECK(h.Text("SELECT name || ':' || phone FROM crm_contacts") == "Cy:555");
  }
  SECTION("crm.contact.updated updates it") {
    Applied(h, Ev("e1", "crm.contact.created", R"({"contact_id":"C1","email":"c@corp.com"})"));
    Applied(h, Ev("e2", "crm.contact.updated", R"({"contact_id":"C1","company":"NewCo"})"));
    CHECK(h.Text("SELECT company FROM crm_contacts") == "NewCo");
  }
  SECTION("crm.opportunity.created inserts an open opportunity") {
    Applied(h, Ev("e1", "crm.opportunity.created",
                  R"({"opportunity_id":"O1","name":"Deal","amount":5000,"stage":"proposal"})"));
    CHECK(h.Text("SELECT status || ':' || stage FROM crm_opportunities") == "open:proposal");
  }
  SECTION("crm.opportunity.updated updates it") {
    Applied(h, Ev("e1", "crm.opportunity.created", R"({"opportunity_id":"O1","name":"Deal"})"));
    Applied(h, Ev("e2", "crm.opportunity.updated",
                  R"({"opportunity_id":"O1","amount":700,"stage":"negotiation"})"));
    CHECK(h.Text("SELECT stage FROM crm_opportunities") == "negotiation");
    CHECK(h.Real("SELECT amount FROM crm_opportunities") == Approx(700));
  }
  SECTION("crm.opportunity.won closes it as won") {
    Applied(h, Ev("e1", "crm.opportunity.created", R"({"opportunity_id":"O1","name":"Deal"})"));
    Applied(h, Ev("e2", "crm.opportunity.won", R"({"opportunity_id":"O1","amount":900})"));
    CHECK(h.Text("SELECT status FROM crm_opportunities") == "won");
    CHECK(h.Int("SELECT closed_at FROM crm_opportunities") == 1700000000000);
  }
  SECTION("crm.opportunity.lost closes it as lost") {
    Applied(h, Ev("e1", "crm.opportunity.created", R"({"opportunity_id":"O1","name":"Deal"})"));
    Applied(h, Ev("e2", "crm.opportunity.lost", R"({"opportunity_id":"O1","reason":"price"})"));
    CHECK(h.Text("SELECT status || ':' || close_reason FROM crm_opportunities") == "lost:price");
  }
}

TEST_CASE("customer-dialect handlers") {
  StoreHarness h;
  auto ev = [](const std::string& id, const std::string& type, const std::string& data,
               int64_t time_ms = 1700000000000) {
    return R"({"id":")" + id + R"(","type":")" + type + R"(","customer_id":"cust_001","time_ms":)" +
           std::to_string(time_ms) + R"(,"data":)" + data + "}";
  };
  SECTION("customer.purchase.recorded inserts a purchase, fills the profile, adds the total") {
    Applied(h, ev("e1", "customer.purchase.recorded",
                  R"({"purchase_id":"ord_12345","product_name":"Widget Pro","quantity":2,)"
                  R"("price":49.99,"total":99.98,"customer_name":"John Doe",)"
                  R"("email":"john@example.com","status":"completed"})"));
    CHECK(h.Real("SELECT amount FROM purchases WHERE purchase_id='ord_12345'") == Approx(99.98));
    CHECK(h.Real("SELECT lifetime_value FROM customers") == Approx(99.98));
    CHECK(h.Text("SELECT name || ':' || email FROM customers") == "John Doe:john@example.com");
  }
  SECTION("customer.purchase.recorded with only an email uses the event id and price x qty") {
    Applied(h, ev("e1", "customer.purchase.recorded", R"({"email":"customer@example.com"})"));
    CHECK(h.Int("SELECT COUNT(*) FROM purchases WHERE purchase_id='e1'") == 1);
    Applied(h, ev("e2", "customer.purchase.recorded", R"({"price":10,"quantity":3})"));
    CHECK(h.Real("SELECT lifetime_value FROM customers") == Approx(30));
    // The dialect's quantity is any number: 1.5 units is kept, not read as missing (x 1).
    Applied(h, ev("e3", "customer.purchase.recorded", R"({"price":10,"quantity":1.5})"));
    CHECK(h.Real("SELECT quantity FROM purchases WHERE purchase_id='e3'") == Approx(1.5));
    CHECK(h.Real("SELECT lifetime_value FROM customers") == Approx(45));
  }
  SECTION("customer.ticket.opened inserts a ticket") {
    Applied(h, ev("e1", "customer.ticket.opened",
                  R"({"title":"Need help","description":"Customer needs assistance"})"));
    CHECK(h.Text("SELECT ticket_id || ':' || title || ':' || status FROM tickets") ==
          "e1:Need help:open");
  }
  SECTION("customer.repair.requested inserts a work order") {
    Applied(h, ev("e1", "customer.repair.requested",
                  R"({"work_order_id":"wo1","description":"Screen cracked","cost":120})"));
    CHECK(h.Text("SELECT description FROM work_orders WHERE work_order_id='wo1'") ==
          "Screen cracked");
  }
  SECTION("customer.contact.recorded records the timeline and fills the profile") {
    Applied(h, ev("e1", "customer.contact.recorded",
                  R"({"channel":"phone","subject":"billing","phone":"+1-555"})"));
    CHECK(h.Int("SELECT COUNT(*) FROM events WHERE customer_id='cust_001'") == 1);
    CHECK(h.Text("SELECT phone FROM customers") == "+1-555");
  }
  SECTION("customer.note.added inserts knowledge from note or description") {
    Applied(h, ev("e1", "customer.note.added", R"({"note":"VIP","importance":"critical"})"));
    Applied(h, ev("e2", "customer.note.added", R"({"description":"Allergic to spam"})"));
    CHECK(h.Int("SELECT COUNT(*) FROM knowledge WHERE customer_id='cust_001'") == 2);
    CHECK(h.Text("SELECT note FROM knowledge WHERE knowledge_id='e2'") == "Allergic to spam");
  }
  SECTION("customer.event.recorded is timeline only") {
    Applied(h, ev("e1", "customer.event.recorded", R"({"anything":{"goes":1}})"));
    CHECK(h.Int("SELECT COUNT(*) FROM events") == 1);
    CHECK(h.Int("SELECT COUNT(*) FROM customers") == 1);
    CHECK(h.Int("SELECT COUNT(*) FROM purchases") == 0);
  }
  SECTION("customer.profile.updated: last writer wins by event time, in either order") {
    const std::string older =
        ev("old", "customer.profile.updated", R"({"name":"Old Name","company":"OldCo"})", 1000);
    const std::string newer =
        ev("new", "customer.profile.updated", R"({"name":"New Name","phone":"123"})", 2000);
    SECTION("older then newer") {
      Applied(h, older);
      Applied(h, newer);
    }
    SECTION("newer then older") {
      Applied(h, newer);
      Applied(h, older);
    }
    CHECK(h.Text("SELECT name FROM customers") == "New Name");
    CHECK(h.Text("SELECT phone FROM customers") == "123");
    CHECK(h.Int("SELECT profile_event_time FROM customers") == 2000);
  }
  SECTION("equal event times: the greater event id wins, in either order") {
    const std::string a = ev("a", "customer.profile.updated", R"({"name":"From A"})", 5000);
    const std::string b = ev("b", "customer.profile.updated", R"({"name":"From B"})", 5000);
    SECTION("a then b") {
      Applied(h, a);
      Applied(h, b);
    }
    SECTION("b then a") {
      Applied(h, b);
      Applied(h, a);
    }
    CHECK(h.Text("SELECT name FROM customers") == "From B");
  }
  SECTION("other events only fill empty profile fields") {
    Applied(h, ev("e1", "customer.profile.updated", R"({"name":"Set By Profile"})", 1000));
    Applied(h, ev("e2", "customer.purchase.recorded",
                  R"({"customer_name":"Other","email":"first@example.com"})", 5000));
    CHECK(h.Text("SELECT name FROM customers") == "Set By Profile");
    CHECK(h.Text("SELECT email FROM customers") == "first@example.com");
  }
}

TEST_CASE("depends types wait for their prerequisite, then apply once") {
  StoreHarness h;
  struct Case {
    const char* name;
    std::string dependent;
    std::string prerequisite;
    const char* waiting;
  };
  const Case cases[] = {
      {"refund before purchase",
       Ev("d", "billing.purchase.refunded", R"({"purchase_id":"p_1","amount":5})"),
       Ev("p", "billing.purchase.completed",
          R"({"purchase_id":"p_1","customer_id":"c1","amount":20})"),
       "waiting for purchase p_1"},
      {"invoice paid before issued",
       Ev("d", "billing.invoice.paid", R"({"invoice_id":"i1","amount":5})"),
       Ev("p", "billing.invoice.issued", R"({"invoice_id":"i1","customer_id":"c1","amount":5})"),
       "waiting for invoice i1"},
      {"ticket resolved before opened", Ev("d", "support.ticket.resolved", R"({"ticket_id":"t1"})"),
       Ev("p", "support.ticket.opened", R"({"ticket_id":"t1","customer_id":"c1","title":"x"})"),
       "waiting for ticket t1"},
      {"login before user", Ev("d", "auth.user.login.succeeded", R"({"user_id":"u1"})"),
       Ev("p", "auth.user.created", R"({"user_id":"u1","email":"u@x.io"})"), "waiting for user u1"},
      {"activity before session",
       Ev("d", "learning.activity.completed",
          R"({"activity_id":"a1","session_id":"s1","learner_id":"l1"})"),
       Ev("p", "learning.session.started", R"({"session_id":"s1","learner_id":"l1"})"),
       "waiting for session s1"},
      {"lead converted before created",
       Ev("d", "crm.lead.converted", R"({"lead_id":"L1","contact_id":"C1"})"),
       Ev("p", "crm.lead.created", R"({"lead_id":"L1","email":"l@x.io"})"), "waiting for lead L1"},
      {"opportunity won before created",
       Ev("d", "crm.opportunity.won", R"({"opportunity_id":"O1"})"),
       Ev("p", "crm.opportunity.created", R"({"opportunity_id":"O1","name":"Deal"})"),
       "waiting for opportunity O1"},
  };
  for (const Case& c : cases) {
    SECTION(c.name) {
      auto first = h.Apply(c.dependent);
      REQUIRE_FALSE(first.ok());
      CHECK(first.status().is_transient());
      CHECK(first.status().message() == c.waiting);
      // Nothing of the failed attempt remains, not even its events row.
      CHECK(h.Int("SELECT COUNT(*) FROM events") == 0);
      Applied(h, c.prerequisite);
      Applied(h, c.dependent);  // the retry applies, as a first sighting
      CHECK(h.Int("SELECT COUNT(*) FROM events") == 2);
      auto again = h.Apply(c.dependent);
      REQUIRE(again.ok());
      CHECK(*again == ApplyOutcome::kDuplicate);
    }
  }
}

TEST_CASE("refunds lower lifetime value across purchases") {
  StoreHarness h;
  Applied(h, Ev("e1", "billing.purchase.completed",
                R"({"purchase_id":"p1","customer_id":"c1","amount":100})"));
  Applied(h, Ev("e2", "billing.purchase.completed",
                R"({"purchase_id":"p2","customer_id":"c1","amount":50})"));
  Applied(h, Ev("e3", "billing.purchase.refunded", R"({"purchase_id":"p2","amount":50})"));
  CHECK(h.Real("SELECT lifetime_value FROM customers WHERE customer_id='c1'") == Approx(100));
  CHECK(h.Text("SELECT status FROM purchases WHERE purchase_id='p1'") == "completed");
}

TEST_CASE("customer auto-creation can be turned off") {
  StoreOptions options;
  options.auto_create_customers = false;
  StoreHarness h(options);
  const std::string purchase = Ev("e1", "billing.purchase.completed",
                                  R"({"purchase_id":"p1","customer_id":"c9","amount":10})");
  auto first = h.Apply(purchase);
  REQUIRE_FALSE(first.ok());
  CHECK(first.status().is_transient());
  CHECK(first.status().message() == "unknown customer c9");
  Applied(h, Ev("e0", "billing.customer.created", R"({"customer_id":"c9","email":"c9@x.io"})"));
  Applied(h, purchase);
  CHECK(h.Real("SELECT lifetime_value FROM customers WHERE customer_id='c9'") == Approx(10));
}

TEST_CASE("long descriptions get an extractive summary, short ones none") {
  StoreHarness h;
  auto text_of = [](size_t n) {
    std::string s;
    const std::string sentence = "The printer jams on thick paper. ";
    while (s.size() < n) s += sentence;
    s.resize(n);
    return s;
  };
  const std::string short_text = text_of(500);
  const std::string long_text = text_of(501);
  Applied(h, Ev("e1", "support.ticket.opened",
                R"({"ticket_id":"t1","customer_id":"c1","title":"x","description":")" + short_text +
                    R"("})"));
  Applied(h, Ev("e2", "support.ticket.opened",
                R"({"ticket_id":"t2","customer_id":"c1","title":"x","description":")" + long_text +
                    R"("})"));
  CHECK(h.Text("SELECT summary FROM tickets WHERE ticket_id='t1'") == "NULL");
  const std::string summary = h.Text("SELECT summary FROM tickets WHERE ticket_id='t2'");
  CHECK(summary != "NULL");
  CHECK_FALSE(summary.empty());
  CHECK(summary.size() <= 200);
  CHECK(summary.find("printer jams") != std::string::npos);

  SECTION("the threshold counts characters, not bytes") {
    std::string accented;
    for (int i = 0; i < 300; ++i) accented += "\xc3\xa9";  // 300 characters, 600 bytes
    Applied(h,
            Ev("n3", "support.note.added", R"({"customer_id":"c1","note":")" + accented + R"("})"));
    CHECK(h.Text("SELECT summary FROM knowledge WHERE knowledge_id='n3'") == "NULL");
  }
  SECTION("the threshold applies to 499 vs 501 characters of notes too") {
    Applied(h, Ev("n1", "support.note.added",
                  R"({"customer_id":"c1","note":")" + text_of(499) + R"("})"));
    Applied(h, Ev("n2", "support.note.added",
                  R"({"customer_id":"c1","note":")" + text_of(501) + R"("})"));
    CHECK(h.Text("SELECT summary FROM knowledge WHERE knowledge_id='n1'") == "NULL");
    CHECK(h.Text("SELECT summary FROM knowledge WHERE knowledge_id='n2'") != "NULL");
  }
}

TEST_CASE("full-text search finds tickets, customers and knowledge and follows updates") {
  StoreHarness h;
  Applied(h, Ev("e1", "support.ticket.opened",
                R"({"ticket_id":"t1","customer_id":"c1","title":"Broken device",)"
                R"("description":"The flux capacitor overheats"})"));
  Applied(h, Ev("e2", "billing.customer.created",
                R"({"customer_id":"c2","email":"zed@zedcorp.io","name":"Zebulon"})"));
  Applied(h, Ev("e3", "support.note.added",
                R"({"customer_id":"c2","note":"Loves marmalade deliveries"})"));
  CHECK(Found(h, "tickets", "capacitor") == "t1");
  CHECK(Found(h, "customers", "zebulon") == "c2");
  CHECK(Found(h, "knowledge", "marmalade") == "e3");

  SECTION("a customer update re-indexes the row") {
    Applied(h, Ev("e4", "billing.customer.created",
                  R"({"customer_id":"c2","email":"zed@zedcorp.io","name":"Quentin"})"));
    CHECK(Found(h, "customers", "zebulon").empty());
    CHECK(Found(h, "customers", "quentin") == "c2");
    CheckSearchIntegrity(h, "customers");
  }
  SECTION("a ticket stays findable after an update event and follows a changed description") {
    Applied(h, Ev("e4", "support.ticket.updated", R"({"ticket_id":"t1","status":"pending"})"));
    CHECK(Found(h, "tickets", "capacitor") == "t1");
    REQUIRE(h.Exec("UPDATE tickets SET description = 'The warp coil hums' "
                   "WHERE ticket_id = 't1'")
                .ok());
    CHECK(Found(h, "tickets", "capacitor").empty());
    CHECK(Found(h, "tickets", "warp") == "t1");
    CheckSearchIntegrity(h, "tickets");
    REQUIRE(h.Exec("DELETE FROM tickets WHERE ticket_id = 't1'").ok());
    CHECK(Found(h, "tickets", "warp").empty());
  }
}

TEST_CASE("search indexes written at commit match their tables across batches and rollbacks") {
  StoreHarness h;
  auto batch = [&](const std::vector<std::string>& events, bool commit) {
    REQUIRE(h.store().Begin().ok());
    for (const auto& json : events) {
      const auto& te = h.fixture().Make(json);
      REQUIRE(h.store().ApplyEvent(te.event, te.msg).ok());
    }
    if (commit) {
      REQUIRE(h.store().Commit().ok());
    } else {
      h.store().Rollback();
    }
  };
  auto ticket = [](int i, const std::string& word) {
    return Ev("t" + std::to_string(i), "support.ticket.opened",
              R"({"ticket_id":"tk)" + std::to_string(i) + R"(","customer_id":"c)" +
                  std::to_string(i % 3) + R"(","title":"Ticket","description":"about )" + word +
                  R"("})");
  };
  batch({ticket(1, "alpha"), ticket(2, "beta"),
         Ev("n1", "support.note.added", R"({"customer_id":"c1","note":"gamma note"})")},
        true);
  batch({ticket(3, "rolledback")}, false);
  batch({ticket(4, "delta"),
         // An existing customer gains a name and then changes it, in one transaction.
         Ev("p1", "customer.profile.updated", R"({"name":"Epsilon Person"})",
            R"(,"customer_id":"c1","time_ms":10)"),
         Ev("p2", "customer.profile.updated", R"({"name":"Zeta Person"})",
            R"(,"customer_id":"c1","time_ms":20)")},
        true);
  CHECK(Found(h, "tickets", "alpha") == "tk1");
  CHECK(Found(h, "tickets", "beta") == "tk2");
  CHECK(Found(h, "tickets", "delta") == "tk4");
  CHECK(Found(h, "tickets", "rolledback").empty());
  CHECK(Found(h, "knowledge", "gamma") == "n1");
  CHECK(Found(h, "customers", "epsilon").empty());
  CHECK(Found(h, "customers", "zeta") == "c1");
  for (const char* table : {"customers", "tickets", "knowledge"}) {
    INFO(table);
    CheckSearchIntegrity(h, table);
  }
}

TEST_CASE("LastWriterWinsUpdate sets each column from its parameter when the event is not older",
          "[handlers]") {
  CHECK(handlers::LastWriterWinsUpdate("t", "k", {{"a", "a_at"}, {"b", "b_at", "REAL"}}) ==
        "UPDATE t SET\n"
        "  a = CASE WHEN CAST(?2 AS TEXT) IS NOT NULL AND ?4 >= COALESCE(a_at, ?4) THEN ?2 ELSE a "
        "END,\n"
        "  a_at = CASE WHEN CAST(?2 AS TEXT) IS NOT NULL AND ?4 >= COALESCE(a_at, ?4) THEN ?4 ELSE "
        "a_at END,\n"
        "  b = CASE WHEN CAST(?3 AS REAL) IS NOT NULL AND ?4 >= COALESCE(b_at, ?4) THEN ?3 ELSE b "
        "END,\n"
        "  b_at = CASE WHEN CAST(?3 AS REAL) IS NOT NULL AND ?4 >= COALESCE(b_at, ?4) THEN ?4 ELSE "
        "b_at END,\n"
        "  updated_at = MAX(COALESCE(updated_at, ?4), ?4)\n"
        "WHERE k = ?1");
}
