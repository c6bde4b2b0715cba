// Specification of the reference model (harness/reference_model.h): from the recorded publishes
// alone it predicts every table of a real ingestd store — built here by the real decoder and
// Store from events in all envelope dialects — with no difference; and a change to any one
// table (a column updated, a row deleted, a row added) is reported as a difference naming it.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "harness/reference_model.h"
#include "harness/store_reader.h"
#include "simulators/faults.h"
#include "simulators/generators.h"
#include "system/envelope.h"
#include "system/schema.h"
#include "system/store.h"
#include "tests/support/event_fixture.h"

using namespace ingestlab;
using ingestlab::testing::StoreHarness;

namespace {

constexpr int64_t kT0 = 1'765'535'400'000;  // 2025-12-12T10:30:00Z

std::string Iso(int64_t ms) {
  const time_t s = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&s, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

// One message as a simulator would publish it.
struct Message {
  std::string subject;
  std::string payload;
  std::map<std::string, std::string> headers;
  std::string expect = "applied";
};

Message Ce(const std::string& subject, const std::string& id, const std::string& type, int64_t t,
           const std::string& data, const std::string& customer = "",
           const std::string& extra = "") {
  std::string p = R"({"specversion":"1.0","id":")" + id + R"(","source":"sim-)" +
                  subject.substr(0, subject.find('.')) + R"(","type":")" + type + R"(","time":")" +
                  Iso(t) + R"(","orgid":"org-1",)";
  if (!customer.empty()) p += R"("subject":")" + customer + R"(",)";
  p += extra + R"("data":)" + data + "}";
  return {subject, p, {}};
}

Message Customer(const std::string& customer, const std::string& event_type, int64_t t,
                 const std::string& data) {
  return {"customer.events." + customer + "." + event_type,
          R"({"customer_id":")" + customer + R"(","event_type":")" + event_type +
              R"(","timestamp":)" + std::to_string(t / 1000) +
              R"(,"source_service":"crm-web","data":)" + data + "}",
          {}};
}

Message Service(const std::string& subject, const std::string& id, const std::string& type,
                int64_t t, const std::string& data) {
  return {subject,
          R"({"id":")" + id + R"(","type":")" + type +
              R"(","source":"auth-service","organization_id":"org-2","timestamp":")" + Iso(t) +
              R"(","schema_version":"1.0","data":)" + data + "}",
          {}};
}

Message Binary(const std::string& topic, const std::string& id, const std::string& type, int64_t t,
               const std::string& data, const std::string& version = "1") {
  return {topic,
          data,
          {{"ce_specversion", "1.0"},
           {"ce_id", id},
           {"ce_source", "crm-service"},
           {"ce_type", type},
           {"ce_time", Iso(t)},
           {"ce_orgid", "org-3"},
           {"ce_schemaversion", version}}};
}

std::string LongText() {
  std::string s;
  for (int i = 0; i < 12; ++i) {
    s += "The printer on floor " + std::to_string(i) +
         " jams whenever a long report is printed. Restarting the printer clears the jam "
         "for a while. ";
  }
  return s;
}

// Every table, every dialect.
std::vector<Message> AllTables() {
  const int64_t s = 1000;
  std::vector<Message> m;
  // billing
  m.push_back(
      Ce("billing.customer.created", "b1", "billing.customer.created", kT0,
         R"({"customer_id":"cust-1","email":"ana@example.com","name":"Ana","plan":"pro"})"));
  m.push_back(Ce("billing.purchase.completed", "b2", "billing.purchase.completed", kT0 + 1 * s,
                 R"({"purchase_id":"p-1","customer_id":"cust-1","amount":30.5,"price":15.25,)"
                 R"("quantity":2,"currency":"EUR","product_name":"Kettle","product_sku":"K-1",)"
                 R"("warranty_expires":1800000000})",
                 "cust-1"));
  m.push_back(Ce("billing.purchase.refunded", "b3", "billing.purchase.refunded", kT0 + 2 * s,
                 R"({"purchase_id":"p-1","amount":10.25,"reason":"damaged"})"));
  m.push_back(Ce("billing.purchase.completed", "b4", "billing.purchase.completed", kT0 + 3 * s,
                 R"({"purchase_id":"p-2","customer_id":"cust-3","amount":12})"));
  m.push_back(
      Ce("billing.invoice.issued", "b5", "billing.invoice.issued", kT0 + 4 * s,
         R"({"invoice_id":"inv-1","customer_id":"cust-1","amount":50,"due_date":"2026-01-01"})"));
  m.push_back(Ce("billing.invoice.paid", "b6", "billing.invoice.paid", kT0 + 5 * s,
                 R"({"invoice_id":"inv-1","amount":50})"));
  m.push_back(Ce("billing.subscription.started", "b7", "billing.subscription.started", kT0 + 6 * s,
                 R"({"subscription_id":"sub-1","customer_id":"cust-1","plan":"pro"})"));
  m.push_back(Ce("billing.subscription.cancelled", "b8", "billing.subscription.cancelled",
                 kT0 + 7 * s, R"({"subscription_id":"sub-1","reason":"price"})"));
  // customer dialect (seed 000): ids are the SHA-256 of the bytes, or Nats-Msg-Id
  m.push_back(Customer("cust-2", "purchase", kT0 + 8 * s,
                       R"({"email":"bo@example.com","customer_name":"Bo","phone":"+4611",)"
                       R"("product_name":"Lamp","quantity":3,"price":9.5,"total":28.5})"));
  m.push_back(Customer(
      "cust-2", "support_ticket", kT0 + 9 * s,
      R"({"title":"Printer jams","description":")" + LongText() + R"(","priority":"high"})"));
  m.push_back(Customer("cust-2", "repair", kT0 + 10 * s,
                       R"({"work_order_id":"wo-2","description":"Fix lamp","cost":40})"));
  m.push_back(Customer("cust-2", "profile_update", kT0 + 12 * s,
                       R"({"name":"Bo B.","company":"Acme","tags":["vip","eu"]})"));
  m.back().headers["Nats-Msg-Id"] = "profile-newer";
  m.push_back(Customer("cust-2", "profile_update", kT0 + 11 * s,
                       R"({"name":"Bo Old","company":"OldCo","tags":["old"]})"));
  m.back().headers["Nats-Msg-Id"] = "profile-older";
  m.push_back(Customer("cust-2", "note", kT0 + 13 * s,
                       R"({"note":"Prefers email","category":"contact","tags":"a,b"})"));
  m.push_back(Customer("cust-4", "contact", kT0 + 14 * s,
                       R"({"channel":"phone","email":"cy@example.com","customer_name":"Cy"})"));
  m.push_back(Customer("cust-4", "visit", kT0 + 15 * s, R"({"page":"/pricing"})"));
  // support
  m.push_back(Ce("support.ticket.opened", "s1", "support.ticket.opened", kT0 + 16 * s,
                 R"({"ticket_id":"tk-1","customer_id":"cust-1","title":"Login fails",)"
                 R"("description":"Cannot log in","priority":"high","channel":"email"})"));
  m.push_back(Ce("support.ticket.updated", "s2", "support.ticket.updated", kT0 + 18 * s,
                 R"({"ticket_id":"tk-1","status":"in_progress","comment":"newer"})"));
  m.push_back(Ce("support.ticket.updated", "s3", "support.ticket.updated", kT0 + 17 * s,
                 R"({"ticket_id":"tk-1","status":"pending","comment":"older"})"));
  m.push_back(Ce("support.ticket.opened", "s4", "support.ticket.opened", kT0 + 19 * s,
                 R"({"ticket_id":"tk-2","customer_id":"cust-3","title":"Slow"})"));
  m.push_back(Ce("support.ticket.resolved", "s5", "support.ticket.resolved", kT0 + 20 * s,
                 R"({"ticket_id":"tk-2","resolution":"cache cleared"})"));
  m.push_back(Ce("support.work_order.created", "s6", "support.work_order.created", kT0 + 21 * s,
                 R"({"work_order_id":"wo-1","customer_id":"cust-1","description":"Replace )"
                 R"(filter","assigned_to":"tech-1","cost":80})"));
  m.push_back(Ce("support.work_order.updated", "s7", "support.work_order.updated", kT0 + 22 * s,
                 R"({"work_order_id":"wo-1","status":"completed","resolution_notes":"done"})"));
  m.push_back(Ce("support.note.added", "s8", "support.note.added", kT0 + 23 * s,
                 R"({"customer_id":"cust-1","note":"Called twice","importance":"high",)"
                 R"("tags":["phone"]})"));
  // auth, service envelope (seed 003): type without its domain
  m.push_back(Service("auth.user.created", "a1", "user.created", kT0 + 24 * s,
                      R"({"user_id":"u-1","email":"u1@example.com","first_name":"Una",)"
                      R"("last_name":"Lee"})"));
  m.push_back(Service("auth.user.login.succeeded", "a2", "user.login.succeeded", kT0 + 25 * s,
                      R"({"user_id":"u-1","email":"u1@example.com"})"));
  m.push_back(Service("auth.user.login.succeeded", "a3", "user.login.succeeded", kT0 + 26 * s,
                      R"({"user_id":"u-1"})"));
  m.push_back(Service("auth.user.login.failed", "a4", "user.login.failed", kT0 + 27 * s,
                      R"({"email":"u1@example.com","reason":"invalid_password"})"));
  m.push_back(Service("auth.user.login.failed", "a5", "user.login.failed", kT0 + 28 * s,
                      R"({"email":"nobody@example.com","reason":"user_not_found"})"));
  m.push_back(Service("auth.user.role.assigned", "a6", "user.role.assigned", kT0 + 29 * s,
                      R"({"user_id":"u-1","role_id":"admin","role_name":"Admin"})"));
  m.push_back(Service("auth.user.role.assigned", "a7", "user.role.assigned", kT0 + 30 * s,
                      R"({"user_id":"u-1","role_id":"viewer"})"));
  m.push_back(Service("auth.user.role.revoked", "a8", "user.role.revoked", kT0 + 31 * s,
                      R"({"user_id":"u-1","role_id":"viewer"})"));
  m.push_back(Service("auth.user.created", "a9", "user.created", kT0 + 32 * s,
                      R"({"user_id":"u-2","email":"u2@example.com","status":"pending"})"));
  m.push_back(
      Service("auth.user.deleted", "a10", "user.deleted", kT0 + 33 * s, R"({"user_id":"u-2"})"));
  // learning telemetry
  m.push_back(Ce("learning.session.started", "l1", "learning.session.started", kT0 + 34 * s,
                 R"({"session_id":"se-1","learner_id":"ln-1","course":"math","device":"ipad"})"));
  m.push_back(Ce("learning.activity.completed", "l2", "learning.activity.completed", kT0 + 35 * s,
                 R"({"activity_id":"ac-1","session_id":"se-1","learner_id":"ln-1",)"
                 R"("skill":"algebra","score":88.5,"duration_s":120})"));
  m.push_back(Ce("learning.session.ended", "l3", "learning.session.ended", kT0 + 36 * s,
                 R"({"session_id":"se-1","duration_s":600})"));
  for (int level : {3, 5, 4}) {
    m.push_back(
        Ce("learning.skill.mastered", "l4-" + std::to_string(level), "learning.skill.mastered",
           kT0 + (37 + level) * s,
           R"({"learner_id":"ln-1","skill":"algebra","level":)" + std::to_string(level) + "}"));
  }
  m.push_back(Ce("homework.question.asked", "h1", "homework.question.asked", kT0 + 43 * s,
                 R"({"question_id":"q-1","learner_id":"ln-1","subject":"math","text":"2+2?"})"));
  m.push_back(Ce("homework.question.answered", "h2", "homework.question.answered", kT0 + 44 * s,
                 R"({"question_id":"q-1","answer":"4"})"));
  m.push_back(Ce("recommendation.created", "r1", "recommendation.created", kT0 + 45 * s,
                 R"({"recommendation_id":"rec-1","learner_id":"ln-1","item":"fractions",)"
                 R"("reason":"weak"})"));
  m.push_back(Ce("focus.ping", "f1", "focus.ping", kT0 + 46 * s,
                 R"({"session_id":"se-1","learner_id":"ln-1","focused":true})"));
  m.push_back(Ce("focus.ping", "f2", "focus.ping", kT0 + 47 * s,
                 R"({"session_id":"se-1","learner_id":"ln-1","focused":false})"));
  m.push_back(Ce("focus.loss.idle", "f3", "focus.loss.idle", kT0 + 48 * s,
                 R"({"session_id":"se-1","learner_id":"ln-1","idle_s":12.5})"));
  m.push_back(Ce("focus.ping", "f4", "focus.ping", kT0 + 130 * s,
                 R"({"session_id":"se-1","learner_id":"ln-1","focused":true})"));
  // CRM: CloudEvents binary mode on Kafka (types without their domain) and structured
  m.push_back(Binary("crm.leads", "k1", "lead.created", kT0 + 50 * s,
                     R"({"lead_id":"L-1","email":"lead@example.com","first_name":"Lee",)"
                     R"("last_name":"Park","score":87,"company":"Initech"})",
                     "2"));
  m.push_back(Binary("crm.leads", "k2", "lead.updated", kT0 + 51 * s,
                     R"({"lead_id":"L-1","status":"contacted","score":90})"));
  m.push_back(Binary("crm.leads", "k3", "lead.converted", kT0 + 52 * s,
                     R"({"lead_id":"L-1","contact_id":"C-1","opportunity_id":"O-1"})"));
  m.push_back(Ce("crm.leads", "k4", "crm.lead.created", kT0 + 53 * s,
                 R"({"lead_id":"L-2","email":"l2@example.com","name":"Lu","lead_source":"web"})"));
  m.push_back(Ce("crm.contacts", "k5", "crm.contact.created", kT0 + 54 * s,
                 R"({"contact_id":"C-1","email":"lee@initech.com","name":"Lee Park",)"
                 R"("lead_id":"L-1"})"));
  m.push_back(Ce("crm.contacts", "k6", "crm.contact.updated", kT0 + 55 * s,
                 R"({"contact_id":"C-1","phone":"+1555"})"));
  m.push_back(Ce("crm.opportunities", "k7", "crm.opportunity.created", kT0 + 56 * s,
                 R"({"opportunity_id":"O-1","contact_id":"C-1","name":"Deal","amount":1000,)"
                 R"("stage":"qualification"})"));
  m.push_back(Ce("crm.opportunities", "k8", "crm.opportunity.updated", kT0 + 57 * s,
                 R"({"opportunity_id":"O-1","amount":1200,"stage":"proposal"})"));
  m.push_back(Ce("crm.opportunities", "k9", "crm.opportunity.won", kT0 + 58 * s,
                 R"({"opportunity_id":"O-1","amount":1250.75})"));
  m.push_back(Ce("crm.opportunities", "k10", "crm.opportunity.created", kT0 + 59 * s,
                 R"({"opportunity_id":"O-2","name":"Small deal"})"));
  m.push_back(Ce("crm.opportunities", "k11", "crm.opportunity.lost", kT0 + 60 * s,
                 R"({"opportunity_id":"O-2","reason":"budget"})"));
  // A contact update held back by its producer: published after a newer one, older in event
  // time. ingestd overwrites in arrival order (no time guard for contacts), and so does the
  // model, in publish order; updated_at keeps the newest time either way.
  m.push_back(Ce("crm.contacts", "k12", "crm.contact.updated", kT0 + 54 * s + 500,
                 R"({"contact_id":"C-1","phone":"+1999"})"));
  // A duplicate (the same id again) and a dead letter.
  m.push_back(m[1]);
  m.back().expect = "duplicate";
  m.push_back({"billing.purchase.completed", "{not json", {}, "dead_letter"});
  return m;
}

// A store built by the real decoder and Store from `messages`, applied in `order` (indexes; all
// of them by default). Events that wait for a prerequisite are retried after the others, as
// ingestd retries them. The publishes are recorded in log order.
class Fixture {
 public:
  explicit Fixture(const std::vector<Message>& messages, std::vector<size_t> order = {},
                   StoreOptions store_options = {}, ModelOptions model_options = {})
      : h_(store_options), model_options_(model_options) {
    if (order.empty()) {
      for (size_t i = 0; i < messages.size(); ++i) order.push_back(i);
    }
    auto schemas = SchemaRegistry::LoadEmbedded();
    REQUIRE(schemas.ok());
    schemas_ = std::move(schemas.value());
    EnvelopeDecoder decoder(DecoderOptions{1 << 20, schemas_.get()});
    publishes_.resize(messages.size());
    std::vector<size_t> waiting;
    auto apply = [&](size_t i) {
      const Message& m = messages[i];
      RawMessage raw;
      raw.payload = m.payload;
      raw.subject = m.subject;
      raw.transport = m.headers.count("ce_specversion") ? Transport::kKafka : Transport::kJetStream;
      raw.origin = "test:" + std::to_string(i);
      for (const auto& h : m.headers) raw.headers.emplace_back(h.first, h.second);
      Event e;
      PublishRecord& p = publishes_[i];
      p.subject = m.subject;
      p.payload = m.payload;
      p.headers = m.headers;
      p.acked = true;
      p.expect = m.expect;
      REQUIRE(h_.store().Begin().ok());
      const Status st = decoder.Decode(raw, &e);
      if (!st.ok()) {
        INFO(st.ToString());
        REQUIRE(m.expect == "dead_letter");
        DeadLetterRecord d;
        d.origin = raw.origin;
        d.subject = raw.subject;
        d.reason = st.code() == Status::Code::kParse ? "parse" : "schema";
        d.error = st.message();
        d.payload = raw.payload;
        REQUIRE(h_.store().RecordDeadLetter(d).ok());
        REQUIRE(h_.store().Commit().ok());
        return true;
      }
      p.event_id = e.id;
      p.type = e.type;
      p.event_time_ms = e.event_time_ms;
      auto outcome = h_.store().ApplyEvent(e, raw);
      if (!outcome.ok() && outcome.status().code() == Status::Code::kSchema &&
          m.expect == "dead_letter") {
        DeadLetterRecord d;
        d.origin = raw.origin;
        d.subject = raw.subject;
        d.reason = "schema";
        d.error = outcome.status().message();
        d.payload = raw.payload;
        REQUIRE(h_.store().RecordDeadLetter(d).ok());
        REQUIRE(h_.store().Commit().ok());
        return true;
      }
      if (!outcome.ok()) {
        h_.store().Rollback();
        INFO(m.payload << ": " << outcome.status().ToString());
        REQUIRE((outcome.status().code() == Status::Code::kTransient ||
                 outcome.status().code() == Status::Code::kWaiting));
        return false;
      }
      REQUIRE(h_.store().Commit().ok());
      return true;
    };
    for (size_t i : order) {
      if (!apply(i)) waiting.push_back(i);
    }
    for (bool progress = true; progress && !waiting.empty();) {
      progress = false;
      std::vector<size_t> still;
      for (size_t i : waiting) {
        if (apply(i)) {
          progress = true;
        } else {
          still.push_back(i);
        }
      }
      waiting.swap(still);
    }
    REQUIRE(waiting.empty());
    auto db = OpenSideConnection(h_.path(), 5000);
    REQUIRE(db.ok());
    db_ = std::move(*db);
  }

  std::vector<StateMismatch> Diff(std::vector<ModelTableDiff>* tables = nullptr) {
    ReferenceModel model(model_options_);
    model.Build(publishes_, {});
    std::vector<StateMismatch> out;
    auto diffs = model.Diff(*db_, &out);  // the connection Exec changes the tables through
    REQUIRE(diffs.ok());
    if (tables) *tables = *diffs;
    return out;
  }
  void Exec(const std::string& sql) {
    const Status st = db_->Execute(sql, sql);
    INFO(st.ToString());
    REQUIRE(st.ok());
  }
  StoreHarness& harness() { return h_; }
  const std::vector<PublishRecord>& publishes() const { return publishes_; }
  std::vector<PublishRecord>& mutable_publishes() { return publishes_; }

 private:
  StoreHarness h_;
  ModelOptions model_options_;
  std::unique_ptr<SchemaRegistry> schemas_;
  std::vector<PublishRecord> publishes_;
  std::unique_ptr<SqlConnection> db_;
};

std::string Describe(const std::vector<StateMismatch>& ms) {
  std::string out;
  for (size_t i = 0; i < ms.size() && i < 20; ++i) {
    out += ms[i].what + " [" + ms[i].key + "] expected " + ms[i].expected + ", observed " +
           ms[i].observed + "\n";
  }
  return out;
}

bool Names(const std::vector<StateMismatch>& ms, const std::string& table) {
  for (const auto& m : ms) {
    if (m.what == table || m.what.rfind(table + ".", 0) == 0) return true;
  }
  return false;
}

// One corruption per table and kind: a column changed, a row deleted, a row added.
struct Corruption {
  std::string table;
  std::string update;
  std::string remove;
  std::string insert;
};

std::vector<Corruption> Corruptions() {
  auto first = [](const std::string& t, const std::string& pk) {
    return " WHERE " + pk + " = (SELECT min(" + pk + ") FROM " + t + ")";
  };
  auto c = [&](const std::string& t, const std::string& pk, const std::string& set,
               const std::string& insert) {
    return Corruption{t, "UPDATE " + t + " SET " + set + first(t, pk),
                      "DELETE FROM " + t + first(t, pk), insert};
  };
  return {
      c("customers", "customer_id", "lifetime_value = lifetime_value + 7",
        "INSERT INTO customers(customer_id) VALUES ('ghost')"),
      c("purchases", "purchase_id", "amount = amount + 7",
        "INSERT INTO purchases(purchase_id, status) VALUES ('ghost', 'completed')"),
      c("invoices", "invoice_id", "paid_amount = coalesce(paid_amount, 0) + 7",
        "INSERT INTO invoices(invoice_id, status) VALUES ('ghost', 'issued')"),
      c("subscriptions", "subscription_id", "plan = plan || 'x'",
        "INSERT INTO subscriptions(subscription_id, status) VALUES ('ghost', 'active')"),
      c("tickets", "ticket_id", "status = status || 'x'",
        "INSERT INTO tickets(ticket_id) VALUES ('ghost')"),
      c("work_orders", "work_order_id", "cost = coalesce(cost, 0) + 7",
        "INSERT INTO work_orders(work_order_id) VALUES ('ghost')"),
      c("knowledge", "knowledge_id", "note = note || 'x'",
        "INSERT INTO knowledge(knowledge_id, note) VALUES ('ghost', 'n')"),
      c("users", "user_id", "login_count = login_count + 7",
        "INSERT INTO users(user_id) VALUES ('ghost')"),
      c("user_roles", "user_id", "role_name = coalesce(role_name, '') || 'x'",
        "INSERT INTO user_roles(user_id, role_id) VALUES ('ghost', 'r')"),
      c("logins", "event_id", "ok = 1 - ok",
        "INSERT INTO logins(event_id, ok, at) VALUES ('ghost', 1, 1)"),
      c("learning_sessions", "session_id", "device = coalesce(device, '') || 'x'",
        "INSERT INTO learning_sessions(session_id) VALUES ('ghost')"),
      c("learning_activities", "activity_id", "score = coalesce(score, 0) + 7",
        "INSERT INTO learning_activities(activity_id) VALUES ('ghost')"),
      c("learner_skills", "learner_id", "level = coalesce(level, 0) + 1",
        "INSERT INTO learner_skills(learner_id, skill) VALUES ('ghost', 's')"),
      c("homework", "question_id", "answer = coalesce(answer, '') || 'x'",
        "INSERT INTO homework(question_id) VALUES ('ghost')"),
      c("recommendations", "recommendation_id", "item = item || 'x'",
        "INSERT INTO recommendations(recommendation_id, item) VALUES ('ghost', 'i')"),
      c("focus_minutes", "session_id", "pings = pings + 7",
        "INSERT INTO focus_minutes(session_id, minute) VALUES ('ghost', 1)"),
      c("crm_leads", "lead_id", "status = status || 'x'",
        "INSERT INTO crm_leads(lead_id, event_date) VALUES ('ghost', '2025-01-01')"),
      c("crm_contacts", "contact_id", "email = coalesce(email, '') || 'x'",
        "INSERT INTO crm_contacts(contact_id, event_date) VALUES ('ghost', '2025-01-01')"),
      c("crm_opportunities", "opportunity_id", "amount = coalesce(amount, 0) + 7",
        "INSERT INTO crm_opportunities(opportunity_id, event_date) VALUES ('ghost', "
        "'2025-01-01')"),
      c("events", "event_id", "type = type || 'x'",
        "INSERT INTO events(event_id, type, event_time, received_at, committed_at, attempts) "
        "VALUES ('ghost', 'x', 1, 1, 1, 1)"),
      c("dead_letters", "id", "payload = CAST(payload AS TEXT) || 'x'",
        "INSERT INTO dead_letters(origin, reason, attempts, dead_at, payload) "
        "VALUES ('ghost', 'parse', 1, 1, 'zzz')"),
  };
}

}  // namespace

TEST_CASE("the reference model predicts every table of a store built from all dialects") {
  Fixture f(AllTables());
  std::vector<ModelTableDiff> tables;
  const auto ms = f.Diff(&tables);
  INFO(Describe(ms));
  CHECK(ms.empty());
  // Every compared table has rows, so the corruptions below have something to change.
  for (const auto& t : tables) {
    INFO(t.table);
    CHECK(t.observed_rows > 0);
    CHECK(t.compared == t.observed_rows);
  }
}

TEST_CASE("every table ingestd writes is compared, and a change to any one is a mismatch") {
  Fixture f(AllTables());
  const auto corruptions = Corruptions();
  // The list covers exactly the tables the model compares, which are all of the store's
  // tables except bookkeeping and search indexes.
  std::set<std::string> listed, compared, in_store;
  for (const auto& c : corruptions) listed.insert(c.table);
  for (const auto& t : ReferenceModel::ComparedTables()) compared.insert(t);
  CHECK(listed == compared);
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(f.harness().path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
            SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &st,
                               nullptr) == SQLITE_OK);
    static const std::set<std::string> kBookkeeping = {"duplicate_origins", "in_flight",
                                                       "crash_suspects", "message_failures"};
    while (sqlite3_step(st) == SQLITE_ROW) {
      const std::string name = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      if (name.rfind("sqlite_", 0) == 0 || name.find("_fts") != std::string::npos ||
          kBookkeeping.count(name))
        continue;
      in_store.insert(name);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  CHECK(in_store == compared);

  for (const auto& c : corruptions) {
    for (const auto* sql : {&c.update, &c.remove, &c.insert}) {
      DYNAMIC_SECTION(c.table << ": " << *sql) {
        f.Exec("BEGIN");
        f.Exec(*sql);
        const auto ms = f.Diff();
        f.Exec("ROLLBACK");
        INFO(Describe(ms));
        CHECK(Names(ms, c.table));
        for (const auto& m : ms) {  // and nothing else
          CHECK((m.what == c.table || m.what.rfind(c.table + ".", 0) == 0));
        }
      }
    }
  }
  CHECK(f.Diff().empty());
}

TEST_CASE("events applied out of order give the state the model predicts") {
  const auto messages = AllTables();
  std::vector<size_t> order;
  // Applied in another order than published: the refund before its purchase, the older
  // profile update before the newer and the older ticket update before the newer (the log has
  // them the other way round), a login before its user.
  std::vector<size_t> first = {2, 12, 11, 16, 18, 17, 25};
  for (size_t i : first) order.push_back(i);
  for (size_t i = 0; i < messages.size(); ++i) {
    if (std::find(first.begin(), first.end(), i) == first.end()) order.push_back(i);
  }
  Fixture f(messages, order);
  const auto ms = f.Diff();
  INFO(Describe(ms));
  CHECK(ms.empty());
  // And the order-dependent fields really were exercised.
  CHECK(f.harness().Text("SELECT name FROM customers WHERE customer_id = 'cust-2'") == "Bo B.");
  CHECK(f.harness().Text("SELECT last_comment FROM tickets WHERE ticket_id = 'tk-1'") == "newer");
  CHECK(f.harness().Real("SELECT lifetime_value FROM customers WHERE customer_id = 'cust-1'") ==
        Approx(20.25));
}

TEST_CASE("simulated streams of every service, with duplicates and held-back events") {
  auto faults = sim::FaultSpec::Parse(
      "duplicate=0.05,malformed=0.03,poison=0.03,"
      "out_of_order=0.05,schema_mix=0.3,unknown_customer=0.05");
  REQUIRE(faults.ok());
  std::vector<Message> messages;
  int64_t t = kT0;
  for (const auto& service : sim::AllServices()) {
    sim::StreamOptions o;
    o.service = service;
    o.seed = 23;
    o.faults = *faults;
    o.customer_pool_size = 20;
    o.service_envelope_share = 0.2;
    o.customer_dialect_share = 0.3;
    o.transport = service == "billing" || service == "crm" ? sim::TransportKind::kKafka
                                                           : sim::TransportKind::kJetStream;
    auto stream = sim::MessageStream::Create(o);
    REQUIRE(stream.ok());
    for (int i = 0; i < 400; ++i) {
      const sim::PlannedMessage pm = (*stream)->Next(t += 37);
      Message m;
      m.subject = pm.subject;
      m.payload = pm.payload;
      for (const auto& h : pm.headers) m.headers[h.first] = h.second;
      m.expect = pm.expected.rfind("dead_letter", 0) == 0 ? "dead_letter" : pm.expected;
      messages.push_back(std::move(m));
    }
  }
  Fixture f(messages);
  std::vector<ModelTableDiff> tables;
  const auto ms = f.Diff(&tables);
  INFO(Describe(ms));
  CHECK(ms.empty());
}

TEST_CASE("CompareWithReferenceModel is an error, not a pass, when a table cannot be read") {
  Fixture f(AllTables());
  {
    auto reader = StoreReader::Open(f.harness().path());
    REQUIRE(reader.ok());
    std::vector<StateMismatch> ms;
    std::vector<StateTableSummary> tables;
    std::string note;
    REQUIRE((*reader)->CompareWithReferenceModel(f.publishes(), {}, &ms, &note, &tables).ok());
    CHECK(ms.empty());
    CHECK(tables.size() == ReferenceModel::ComparedTables().size());
    CHECK_THAT(note, Catch::Contains("customers 4"));
  }
  f.Exec("DROP TABLE crm_opportunities");
  auto reader = StoreReader::Open(f.harness().path());
  REQUIRE(reader.ok());
  std::vector<StateMismatch> ms;
  std::string note;
  const Status st = (*reader)->CompareWithReferenceModel(f.publishes(), {}, &ms, &note);
  CHECK_FALSE(st.ok());
  CHECK_THAT(st.message(), Catch::Contains("crm_opportunities"));
}

TEST_CASE("dead letters: repeated bytes each need a row; an unacked publish may have one") {
  std::vector<Message> messages = {
      Ce("billing.purchase.completed", "d1", "billing.purchase.completed", kT0,
         R"({"purchase_id":"p-9","customer_id":"cust-9","amount":5})"),
      {"billing.purchase.completed", "{not json", {}, "dead_letter"},
      {"billing.purchase.completed", "{not json", {}, "dead_letter"},
      {"billing.purchase.refunded",
       R"({"specversion":"1.0","id":"d4","source":"x",)"
       R"("type":"billing.purchase.refunded","data":{"amount":1}})",
       {},
       "dead_letter"},
  };
  Fixture f(messages);
  {
    const auto ms = f.Diff();
    INFO(Describe(ms));
    CHECK(ms.empty());
  }
  SECTION("a second row is required for the second copy") {
    f.Exec(
        "DELETE FROM dead_letters WHERE id = (SELECT max(id) FROM dead_letters "
        "WHERE CAST(payload AS TEXT) = '{not json')");
    const auto ms = f.Diff();
    REQUIRE(ms.size() == 1);
    CHECK(ms[0].what == "dead_letters");
    CHECK(ms[0].observed == "missing row");
  }
  SECTION("a dead-lettered publish the broker never acknowledged is allowed, not required") {
    // As if the schema-rejected refund had been meant to apply but its publish was not acked.
    f.mutable_publishes()[3].expect = "applied";
    f.mutable_publishes()[3].acked = false;
    CHECK(f.Diff().empty());
    f.Exec("DELETE FROM dead_letters WHERE CAST(payload AS TEXT) LIKE '%d4%'");
    CHECK(f.Diff().empty());
  }
}

TEST_CASE("the model follows ingestd's settings: no auto-created customers, summary threshold") {
  const std::vector<Message> messages = {
      Ce("support.ticket.opened", "o1", "support.ticket.opened", kT0,
         R"({"ticket_id":"tk-7","customer_id":"cust-7","title":"Broken",)"
         R"("description":"It broke. Then it broke again. Nobody fixed it."})"),
      Ce("billing.purchase.completed", "o2", "billing.purchase.completed", kT0 + 1000,
         R"({"purchase_id":"p-7","customer_id":"cust-7","amount":20})"),
      Ce("billing.customer.created", "o3", "billing.customer.created", kT0 + 2000,
         R"({"customer_id":"cust-7","email":"c7@example.com"})"),
  };
  StoreOptions store;
  store.auto_create_customers = false;
  store.summary_threshold = 20;
  ModelOptions model;
  model.auto_create_customers = false;
  model.summary_threshold = 20;
  Fixture f(messages, {}, store, model);
  CHECK(f.harness().Text("SELECT summary FROM tickets WHERE ticket_id = 'tk-7'") != "NULL");
  CHECK(f.harness().Int("SELECT created_at FROM customers WHERE customer_id = 'cust-7'") == kT0);
  const auto ms = f.Diff();
  INFO(Describe(ms));
  CHECK(ms.empty());
  // The defaults would expect no summary.
  ReferenceModel defaults;
  defaults.Build(f.publishes(), {});
  auto db = OpenSideConnection(f.harness().path(), 5000);
  REQUIRE(db.ok());
  std::vector<StateMismatch> wrong;
  REQUIRE(defaults.Diff(**db, &wrong).ok());
  CHECK(Names(wrong, "tickets"));
}
