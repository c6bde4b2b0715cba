// Specification of envelope decoding (CONTRACT.md section 1): the three dialects plus Kafka
// binary mode, how ids, types, customers, tenants and times are derived, the Parse/Schema
// rejections and their messages, and the RFC 3339 and SHA-256 helpers the decoder relies on.
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "system/envelope.h"
#include "system/schema.h"
#include "system/sha256.h"
#include "system/time_format.h"
#include "tests/support/seed_events.h"

using namespace ingestlab;

namespace {

const SchemaRegistry& Schemas() {
  static const std::unique_ptr<SchemaRegistry> registry = [] {
    auto loaded = SchemaRegistry::LoadEmbedded();
    if (!loaded.ok()) FAIL("embedded schemas do not load: " << loaded.status().ToString());
    return std::move(loaded).value();
  }();
  return *registry;
}

RawMessage Nats(std::string subject, std::string payload, Headers headers = {}) {
  RawMessage m;
  m.transport = Transport::kJetStream;
  m.subject = std::move(subject);
  m.payload = std::move(payload);
  m.headers = std::move(headers);
  m.origin = "nats:TEST:1";
  m.received_at_ms = 1765535400123;
  return m;
}

RawMessage Kafka(std::string topic, std::string value, Headers headers = {}) {
  RawMessage m = Nats(std::move(topic), std::move(value), std::move(headers));
  m.transport = Transport::kKafka;
  m.origin = "kafka:test:0:1";
  return m;
}

// Decodes with schema validation, as ingestd does.
struct Decoded {
  EnvelopeDecoder decoder{DecoderOptions{1 << 20, &Schemas()}};
  Event event;
  Status Decode(const RawMessage& m) { return decoder.Decode(m, &event); }
};

// --- shared/seeds/000: the customer-event samples, exactly as the document shows them. -------

const char kSeedMinimal[] = R"({
  "customer_id": "cust_001",
  "event_type": "purchase",
  "timestamp": 1734134400,
  "source_service": "my-service",
  "data": {
    "email": "customer@example.com"
  }
})";

using ingestlab::testing::kSeedFullFeatured;  // seed 000's full-featured event

// The Node.js example's object as JSON.stringify writes it (99.00 prints as 99).
const char kSeedNode[] =
    R"({"customer_id":"cust_123","event_type":"purchase","timestamp":1734134400,)"
    R"("source_service":"billing-service","data":{"product_name":"Premium Plan","total":99,)"
    R"("email":"customer@example.com"}})";

// The Python example's dict as json.dumps writes it.
const char kSeedPython[] =
    R"({"customer_id": "cust_123", "event_type": "support_ticket", "timestamp": 1734134400, )"
    R"("source_service": "support-system", "data": {"title": "Need help", "description": )"
    R"("Customer needs assistance", "email": "customer@example.com"}})";

// --- shared/seeds/003: the auth service's envelope (Go events.Event) on subjects auth.user.*. --

const char kSeedUserCreated[] = R"({
  "id": "6f1c2a9e-3b4d-4f5a-9c8e-1a2b3c4d5e6f",
  "type": "user.created",
  "source": "auth-service",
  "organization_id": "9b2e7c1a-0d3f-4e5b-8a6c-7d8e9f0a1b2c",
  "timestamp": "2025-12-12T10:30:00Z",
  "schema_version": "1.0",
  "data": {
    "user_id": "u-1001",
    "email": "ana@example.com",
    "first_name": "Ana",
    "last_name": "Silva",
    "status": "active"
  }
})";

const char kSeedLoginSucceeded[] = R"({
  "id": "0a8f4c3e-5d6b-4e7a-9f10-2b3c4d5e6f70",
  "type": "user.login.succeeded",
  "source": "auth-service",
  "organization_id": "9b2e7c1a-0d3f-4e5b-8a6c-7d8e9f0a1b2c",
  "timestamp": "2025-12-12T10:31:05.123456789Z",
  "schema_version": "1.0",
  "data": {
    "user_id": "u-1001",
    "email": "ana@example.com"
  }
})";

const char kSeedLoginFailed[] = R"({
  "id": "1b9e5d4f-6e7c-4f8b-a021-3c4d5e6f7081",
  "type": "user.login.failed",
  "source": "auth-service",
  "organization_id": "9b2e7c1a-0d3f-4e5b-8a6c-7d8e9f0a1b2c",
  "timestamp": "2025-12-12T07:32:00-03:00",
  "schema_version": "1.0",
  "data": {
    "email": "nobody@example.com",
    "reason": "user_not_found"
  }
})";

const char kSeedRoleAssigned[] = R"({
  "id": "2caf6e50-7f8d-4091-b132-4d5e6f708192",
  "type": "user.role.assigned",
  "source": "auth-service",
  "organization_id": "9b2e7c1a-0d3f-4e5b-8a6c-7d8e9f0a1b2c",
  "timestamp": "2025-12-12T10:33:00Z",
  "schema_version": "1.0",
  "data": {
    "user_id": "u-1001",
    "user_email": "ana@example.com",
    "role_id": "r-7",
    "role_name": "admin"
  }
})";

// A typical canonical CloudEvents event.
const char kCloudEventPurchase[] = R"({
  "specversion": "1.0",
  "id": "evt-0001",
  "source": "billing-service",
  "type": "billing.purchase.completed",
  "time": "2025-12-12T10:30:00.250+01:00",
  "subject": "cust_42",
  "datacontenttype": "application/json",
  "orgid": "org-7",
  "data": {"purchase_id": "p-1", "customer_id": "cust_42", "amount": 19.5, "currency": "EUR",
           "product_name": "Widget", "quantity": 2}
})";

}  // namespace

TEST_CASE("seed 000 customer-event samples decode and validate as written") {
  Decoded d;
  SECTION("minimal required event") {
    const RawMessage m = Nats("customer.events.cust_001.purchase", kSeedMinimal);
    REQUIRE(d.Decode(m).ok());
    CHECK(d.event.dialect == Dialect::kCustomerEvent);
    CHECK(d.event.type == "customer.purchase.recorded");
    CHECK(d.event.original_type == "purchase");
    CHECK(d.event.customer_id == "cust_001");
    CHECK(d.event.source == "my-service");
    CHECK(d.event.event_time_ms == 1734134400000);
    CHECK(d.event.org_id.empty());
    CHECK(d.event.schema_version == 1);
    CHECK(d.event.id == Sha256Hex(kSeedMinimal));
    CHECK(d.event.raw == kSeedMinimal);
    CHECK(d.event.data.str("email") == "customer@example.com");
  }
  SECTION("full-featured event") {
    const RawMessage m = Nats("customer.events.cust_001.purchase", kSeedFullFeatured);
    REQUIRE(d.Decode(m).ok());
    CHECK(d.event.type == "customer.purchase.recorded");
    CHECK(d.event.source == "e-commerce-service");
    CHECK(d.event.data.int64("quantity") == 2);
    CHECK(d.event.data.number("price") == Approx(49.99));
    CHECK(d.event.data.int64("warranty_expires") == 1765670400);
  }
  SECTION("Node.js publishing example") {
    const RawMessage m = Nats("customer.events.cust_123.purchase", kSeedNode);
    REQUIRE(d.Decode(m).ok());
    CHECK(d.event.customer_id == "cust_123");
    CHECK(d.event.source == "billing-service");
    CHECK(d.event.data.number("total") == 99.0);
  }
  SECTION("Python publishing example") {
    const RawMessage m = Nats("customer.events.cust_123.support_ticket", kSeedPython);
    REQUIRE(d.Decode(m).ok());
    CHECK(d.event.type == "customer.ticket.opened");
    CHECK(d.event.original_type == "support_ticket");
    CHECK(d.event.data.str("title") == "Need help");
  }
}

TEST_CASE("seed 003 service envelopes decode with the domain taken from the subject") {
  Decoded d;
  SECTION("user.created") {
    REQUIRE(d.Decode(Nats("auth.user.created", kSeedUserCreated)).ok());
    CHECK(d.event.dialect == Dialect::kServiceEnvelope);
    CHECK(d.event.type == "auth.user.created");
    CHECK(d.event.original_type == "user.created");
    CHECK(d.event.id == "6f1c2a9e-3b4d-4f5a-9c8e-1a2b3c4d5e6f");
    CHECK(d.event.source == "auth-service");
    CHECK(d.event.org_id == "9b2e7c1a-0d3f-4e5b-8a6c-7d8e9f0a1b2c");
    CHECK(d.event.customer_id == "u-1001");  // data.user_id
    CHECK(d.event.event_time_ms == 1765535400000);
    CHECK(d.event.schema_version == 1);
  }
  SECTION("user.login.succeeded with nanosecond fraction") {
    REQUIRE(d.Decode(Nats("auth.user.login.succeeded", kSeedLoginSucceeded)).ok());
    CHECK(d.event.type == "auth.user.login.succeeded");
    CHECK(d.event.event_time_ms == 1765535465123);
  }
  SECTION("user.login.failed with a numeric offset and no user") {
    REQUIRE(d.Decode(Nats("auth.user.login.failed", kSeedLoginFailed)).ok());
    CHECK(d.event.type == "auth.user.login.failed");
    CHECK(d.event.event_time_ms == 1765535520000);  // 10:32 UTC
    CHECK(d.event.customer_id.empty());
  }
  SECTION("user.role.assigned") {
    REQUIRE(d.Decode(Nats("auth.user.role.assigned", kSeedRoleAssigned)).ok());
    CHECK(d.event.type == "auth.user.role.assigned");
    CHECK(d.event.data.str("role_name") == "admin");
  }
}

TEST_CASE("CloudEvents structured mode") {
  Decoded d;
  SECTION("a full event maps every attribute") {
    REQUIRE(d.Decode(Nats("billing.purchase.completed", kCloudEventPurchase)).ok());
    CHECK(d.event.dialect == Dialect::kCloudEvents);
    CHECK(d.event.id == "evt-0001");
    CHECK(d.event.type == "billing.purchase.completed");
    CHECK(d.event.source == "billing-service");
    CHECK(d.event.customer_id == "cust_42");
    CHECK(d.event.org_id == "org-7");
    CHECK(d.event.event_time_ms == 1765531800250);  // 09:30:00.250 UTC
    CHECK(d.event.schema_version == 1);
    CHECK(d.event.data.number("amount") == 19.5);
  }
  SECTION("without time the receive time is used; without subject data.customer_id") {
    const char json[] =
        R"({"specversion":"1.0","id":"e2","source":"s","type":"billing.customer.created",
      "data":{"customer_id":"c9","email":"c9@example.com"}})";
    REQUIRE(d.Decode(Nats("billing.customer.created", json)).ok());
    CHECK(d.event.event_time_ms == 1765535400123);
    CHECK(d.event.customer_id == "c9");
    CHECK(d.event.org_id.empty());
  }
  SECTION("learner_id and user_id are customer fallbacks in that order") {
    const char json[] = R"({"specversion":"1.0","id":"e3","source":"s","type":"focus.ping",
      "data":{"session_id":"s1","learner_id":"l1","user_id":"u1","focused":true}})";
    REQUIRE(d.Decode(Nats("focus.ping", json)).ok());
    CHECK(d.event.customer_id == "l1");
  }
  SECTION("schemaversion as text or number selects the schema") {
    const char v2[] = R"({"specversion":"1.0","id":"e4","source":"crm","type":"crm.lead.created",
      "schemaversion":"2","data":{"lead_id":"L1","email":"a@b.co","first_name":"A","score":50}})";
    REQUIRE(d.Decode(Kafka("crm.leads", v2)).ok());
    CHECK(d.event.schema_version == 2);
    const char v2num[] = R"({"specversion":"1.0","id":"e5","source":"crm","type":"crm.lead.created",
      "schemaversion":2,"data":{"lead_id":"L1","email":"a@b.co"}})";
    REQUIRE(d.Decode(Kafka("crm.leads", v2num)).ok());
    CHECK(d.event.schema_version == 2);
    std::string v2float = v2num;
    v2float.replace(v2float.find("\"schemaversion\":2"), 17, R"("schemaversion":2.0)");
    REQUIRE(d.Decode(Kafka("crm.leads", v2float)).ok());
    CHECK(d.event.schema_version == 2);
    std::string v_half = v2num;
    v_half.replace(v_half.find("\"schemaversion\":2"), 17, R"("schemaversion":1.5)");
    CHECK(d.Decode(Kafka("crm.leads", v_half)).code() == Status::Code::kSchema);
  }
  SECTION("rejections name the attribute") {
    struct Case {
      const char* json;
      const char* message;
    };
    const Case cases[] = {
        {R"({"specversion":"0.3","id":"e","source":"s","type":"billing.invoice.paid"})",
         "envelope field 'specversion' must be \"1.0\", got \"0.3\""},
        {R"({"specversion":"1.0","source":"s","type":"billing.invoice.paid"})",
         "envelope field 'id' is missing"},
        {R"({"specversion":"1.0","id":7,"source":"s","type":"billing.invoice.paid"})",
         "envelope field 'id' must be a non-empty string, got 7"},
        {R"({"specversion":"1.0","id":"e","source":"","type":"billing.invoice.paid"})",
         "envelope field 'source' must be a non-empty string, got \"\""},
        {R"({"specversion":"1.0","id":"e","source":"s"})", "envelope field 'type' is missing"},
        {R"({"specversion":"1.0","id":"e","source":"s","type":"t.x","time":"yesterday"})",
         "envelope field 'time' must be RFC 3339, got \"yesterday\""},
        {R"({"specversion":"1.0","id":"e","source":"s","type":"t.x","data":[1,2]})",
         "envelope field 'data' must be a JSON object, got [1,2]"},
        {R"({"specversion":"1.0","id":"e","source":"s","type":"t.x","subject":5})",
         "envelope field 'subject' must be a string, got 5"},
        {R"({"specversion":"1.0","id":"e","source":"s","type":"t.x","schemaversion":"two"})",
         "envelope field 'schemaversion' must be a schema version like \"1\", \"2.0\" or 2, got "
         "\"two\""},
        {R"({"specversion":"1.0","id":"e","source":"s","type":"t.x","data_base64":"AAAA"})",
         "envelope field 'data_base64' is not supported (send data as a JSON object)"},
    };
    for (const Case& c : cases) {
      INFO(c.json);
      const Status st = d.Decode(Nats("billing.x", c.json));
      CHECK(st.code() == Status::Code::kSchema);
      CHECK(st.message() == c.message);
    }
  }
}

TEST_CASE("CloudEvents binary mode on Kafka: ce_* headers, value = data") {
  Decoded d;
  Headers headers = {{"ce_specversion", "1.0"},
                     {"ce_id", "k-1"},
                     {"ce_source", "crm-service"},
                     {"ce_type", "lead.created"},
                     {"ce_time", "2025-12-12T10:30:00Z"},
                     {"ce_subject", "L-1"},
                     {"ce_orgid", "org-3"},
                     {"ce_schemaversion", "2"}};
  const std::string value =
      R"({"lead_id":"L-1","email":"lead@example.com","first_name":"Lee","last_name":"Park","score":87})";
  SECTION("a complete message") {
    const RawMessage m = Kafka("crm.leads", value, headers);
    REQUIRE(d.Decode(m).ok());
    CHECK(d.event.dialect == Dialect::kCloudEventsBinary);
    CHECK(d.event.id == "k-1");
    CHECK(d.event.type == "crm.lead.created");  // domain from the topic
    CHECK(d.event.original_type == "lead.created");
    CHECK(d.event.source == "crm-service");
    CHECK(d.event.customer_id == "L-1");
    CHECK(d.event.org_id == "org-3");
    CHECK(d.event.schema_version == 2);
    CHECK(d.event.event_time_ms == 1765535400000);
    CHECK(d.event.data.int64("score") == 87);
    CHECK(d.event.raw == value);
  }
  SECTION("header names are case-insensitive") {
    for (auto& h : headers) h.first[0] = 'C';
    REQUIRE(d.Decode(Kafka("crm.leads", value, headers)).ok());
    CHECK(d.event.id == "k-1");
  }
  SECTION("a missing required header is a schema error naming it") {
    headers.erase(headers.begin() + 3);  // ce_type
    const Status st = d.Decode(Kafka("crm.leads", value, headers));
    CHECK(st.code() == Status::Code::kSchema);
    CHECK(st.message() == "header 'ce_type' is missing or empty");
  }
  SECTION("a bad ce_time or ce_specversion is rejected") {
    headers[4].second = "12/12/2025";
    CHECK(d.Decode(Kafka("crm.leads", value, headers)).message() ==
          "header 'ce_time' must be RFC 3339, got \"12/12/2025\"");
    headers[4].second = "2025-12-12T10:30:00Z";
    headers[0].second = "0.3";
    CHECK(d.Decode(Kafka("crm.leads", value, headers)).code() == Status::Code::kSchema);
  }
  SECTION("a value that is not an object is rejected; bad JSON is a parse error") {
    CHECK(d.Decode(Kafka("crm.leads", "[1]", headers)).code() == Status::Code::kSchema);
    CHECK(d.Decode(Kafka("crm.leads", R"({"lead_id":)", headers)).code() == Status::Code::kParse);
  }
  SECTION("schema rules apply to the value: v2 score above 100") {
    const std::string bad = R"({"lead_id":"L-1","email":"lead@example.com","score":187})";
    const Status st = d.Decode(Kafka("crm.leads", bad, headers));
    CHECK(st.code() == Status::Code::kSchema);
    CHECK(st.message() == "data.score: must be <= 100, got 187");
  }
}

TEST_CASE("customer-event dialect") {
  Decoded d;
  SECTION("the id is the Nats-Msg-Id header when present") {
    REQUIRE(d.Decode(Nats("customer.events.cust_001.purchase", kSeedMinimal,
                          {{"Nats-Msg-Id", "pub-42"}}))
                .ok());
    CHECK(d.event.id == "pub-42");
    REQUIRE(d.Decode(Nats("customer.events.cust_001.purchase", kSeedMinimal,
                          {{"nats-msg-id", "pub-43"}}))
                .ok());
    CHECK(d.event.id == "pub-43");
  }
  SECTION("otherwise the SHA-256 of the bytes: same bytes, same id; other bytes, other id") {
    REQUIRE(d.Decode(Nats("customer.events.a", kSeedMinimal)).ok());
    const std::string first = d.event.id;
    REQUIRE(d.Decode(Nats("customer.events.b", kSeedMinimal)).ok());
    CHECK(d.event.id == first);
    std::string changed = kSeedMinimal;
    changed.replace(changed.find("1734134400"), 10, "1734134401");
    REQUIRE(d.Decode(Nats("customer.events.a", changed)).ok());
    CHECK(d.event.id != first);
    CHECK(d.event.id.size() == 64);
  }
  SECTION("event_type maps onto customer.* types and keeps the original") {
    const std::pair<const char*, const char*> mapping[] = {
        {"purchase", "customer.purchase.recorded"},
        {"support_ticket", "customer.ticket.opened"},
        {"repair", "customer.repair.requested"},
        {"contact", "customer.contact.recorded"},
        {"profile_update", "customer.profile.updated"},
        {"note", "customer.note.added"},
        {"loyalty_points", "customer.event.recorded"}};
    for (const auto& [event_type, type] : mapping) {
      const std::string json = std::string(R"({"customer_id":"c1","event_type":")") + event_type +
                               R"(","timestamp":1734134400,"source_service":"x"})";
      INFO(json);
      REQUIRE(d.Decode(Nats("customer.events.c1", json)).ok());
      CHECK(d.event.type == type);
      CHECK(d.event.original_type == event_type);
      CHECK_FALSE(d.event.data.valid());
    }
  }
  SECTION("org from data.organization_id; fractional seconds become milliseconds") {
    const char json[] = R"({"customer_id":"c1","event_type":"note","timestamp":1734134400.5,
      "source_service":"crm","data":{"organization_id":"org-9","note":"VIP"}})";
    REQUIRE(d.Decode(Nats("customer.events.c1.note", json)).ok());
    CHECK(d.event.org_id == "org-9");
    CHECK(d.event.event_time_ms == 1734134400500);
  }
  SECTION("rejections name the field") {
    struct Case {
      const char* json;
      const char* message;
    };
    const Case cases[] = {
        {R"({"customer_id":"c","event_type":"note","timestamp":"yesterday","source_service":"x"})",
         "envelope field 'timestamp' must be unix seconds (a number), got \"yesterday\""},
        {R"({"customer_id":"c","event_type":"note","source_service":"x"})",
         "envelope field 'timestamp' is missing"},
        {R"({"customer_id":"c","event_type":"note","timestamp":1734134400000,"source_service":"x"})",
         "envelope field 'timestamp' must be unix seconds between 0 and 253402300799, got "
         "1734134400000 (milliseconds?)"},
        {R"({"customer_id":"c","event_type":"note","timestamp":1734134400})",
         "envelope field 'source_service' is missing"},
        {R"({"customer_id":"","event_type":"note","timestamp":1,"source_service":"x"})",
         "envelope field 'customer_id' must be a non-empty string, got \"\""},
        {R"({"customer_id":"c","event_type":["note"],"timestamp":1,"source_service":"x"})",
         "envelope field 'event_type' must be a non-empty string, got [\"note\"]"},
        {R"({"customer_id":"c","event_type":"note","timestamp":1,"source_service":"x","data":"hi"})",
         "envelope field 'data' must be a JSON object, got \"hi\""},
    };
    for (const Case& c : cases) {
      INFO(c.json);
      const Status st = d.Decode(Nats("customer.events.c", c.json));
      CHECK(st.code() == Status::Code::kSchema);
      CHECK(st.message() == c.message);
    }
  }
  SECTION("lenient data, but a mistyped documented field is a schema error") {
    const char json[] = R"({"customer_id":"c","event_type":"purchase","timestamp":1,
      "source_service":"x","data":{"total":"lots"}})";
    const Status st = d.Decode(Nats("customer.events.c", json));
    CHECK(st.code() == Status::Code::kSchema);
    CHECK(st.message() == "data.total: must be a number, got \"lots\"");
  }
}

TEST_CASE("service envelope") {
  Decoded d;
  SECTION("a timestamp that is not RFC 3339 is a schema error quoting it") {
    std::string json = kSeedUserCreated;
    json.replace(json.find("2025-12-12T10:30:00Z"), 20, "yesterday");
    const Status st = d.Decode(Nats("auth.user.created", json));
    CHECK(st.code() == Status::Code::kSchema);
    CHECK(st.message() == "envelope field 'timestamp' must be RFC 3339, got \"yesterday\"");
  }
  SECTION("missing source, missing timestamp, mistyped organization_id") {
    CHECK(d.Decode(Nats("auth.x", R"({"id":"1","type":"user.deleted","organization_id":"o",
            "timestamp":"2025-12-12T10:30:00Z"})"))
              .message() == "envelope field 'source' is missing");
    CHECK(d.Decode(Nats("auth.x", R"({"id":"1","type":"user.deleted","organization_id":"o",
            "source":"a"})"))
              .message() == "envelope field 'timestamp' is missing");
    CHECK(d.Decode(Nats("auth.x", R"({"id":"1","type":"user.deleted","organization_id":3,
            "source":"a","timestamp":"2025-12-12T10:30:00Z"})"))
              .message() == "envelope field 'organization_id' must be a string, got 3");
  }
  SECTION("already-qualified types are kept; unknown subjects add no domain") {
    const char json[] = R"({"id":"1","type":"auth.user.deleted","organization_id":"o",
      "source":"a","timestamp":"2025-12-12T10:30:00Z","data":{"user_id":"u1"}})";
    REQUIRE(d.Decode(Nats("auth.user.deleted", json)).ok());
    CHECK(d.event.type == "auth.user.deleted");
    const char bare[] = R"({"id":"1","type":"user.deleted","organization_id":"o",
      "source":"a","timestamp":"2025-12-12T10:30:00Z","data":{"user_id":"u1"}})";
    const Status st = d.Decode(Nats("events.misc", bare));
    CHECK(d.event.type == "user.deleted");
    CHECK(st.message() == "no schema for type user.deleted version 1");
  }
  SECTION("CRM seed names on Kafka topics take the topic's domain; schema_version 2.0 is 2") {
    const char json[] = R"({"id":"L-9","type":"lead.created","organization_id":"o","source":"crm",
      "timestamp":"2025-12-12T10:30:00Z","schema_version":"2.0",
      "data":{"lead_id":"L-9","email":"x@y.z","first_name":"X","last_name":"Y"}})";
    REQUIRE(d.Decode(Kafka("crm.leads", json)).ok());
    CHECK(d.event.type == "crm.lead.created");
    CHECK(d.event.schema_version == 2);
  }
}

TEST_CASE("malformed messages are parse errors with a useful message") {
  Decoded d;
  auto decode = [&](std::string payload) {
    return d.Decode(Nats("billing.x", std::move(payload)));
  };
  SECTION("truncated JSON, in every dialect") {
    for (const std::string whole : {kCloudEventPurchase, kSeedFullFeatured, kSeedUserCreated}) {
      for (size_t cut : {whole.size() - 1, whole.size() / 2, size_t{1}}) {
        INFO(whole.substr(0, cut));
        const Status st = decode(whole.substr(0, cut));
        CHECK(st.code() == Status::Code::kParse);
        CHECK_THAT(st.message(), Catch::StartsWith("truncated JSON"));
      }
    }
    CHECK_THAT(decode(R"({"a":"unterminated)").message(), Catch::StartsWith("truncated JSON"));
    // Closed in the wrong order is malformed, not truncated.
    CHECK_THAT(decode(R"({"a":[1}})").message(), Catch::StartsWith("malformed JSON"));
  }
  SECTION("invalid UTF-8 names the byte") {
    std::string bad = kSeedMinimal;
    const size_t at = bad.find("my-service") + 2;
    bad[at] = '\xC3';  // a lead byte followed by ASCII
    const Status st = decode(bad);
    CHECK(st.code() == Status::Code::kParse);
    CHECK(st.message() == "invalid UTF-8 at byte " + std::to_string(at));
    CHECK(Status(st).ToString() == "parse: invalid UTF-8 at byte " + std::to_string(at));
    std::string bad_service = kSeedUserCreated;
    const size_t in_name = bad_service.find("Silva") + 1;
    bad_service.replace(in_name, 1, "\xFF");
    CHECK(decode(bad_service).message() == "invalid UTF-8 at byte " + std::to_string(in_name));
    std::string overlong = kCloudEventPurchase;  // "/" encoded in two bytes is not UTF-8
    const size_t in_source = overlong.find("billing-service");
    overlong.replace(in_source, 1, "\xC0\xAF");
    CHECK(decode(overlong).message() == "invalid UTF-8 at byte " + std::to_string(in_source));
  }
  SECTION("larger than max_bytes") {
    const std::string big(2000000, ' ');
    const Status st = decode(big);
    CHECK(st.code() == Status::Code::kParse);
    CHECK(st.message() == "payload 2000000 bytes exceeds 1048576");
    EnvelopeDecoder small(DecoderOptions{100, nullptr});
    Event e;
    CHECK(small.Decode(Nats("billing.x", kCloudEventPurchase), &e).message() ==
          "payload " + std::to_string(sizeof kCloudEventPurchase - 1) + " bytes exceeds 100");
  }
  SECTION("nesting deeper than 64 levels; 64 are fine") {
    auto nested = [](int depth) {
      std::string inner;
      for (int i = 0; i < depth; ++i) inner += R"({"n":)";
      inner += "1";
      for (int i = 0; i < depth; ++i) inner += "}";
      return R"({"customer_id":"c","event_type":"x","timestamp":1,"source_service":"s","data":)" +
             inner + "}";
    };
    const Status deep = decode(nested(100));
    CHECK(deep.code() == Status::Code::kParse);
    CHECK(deep.message() == "JSON nested deeper than 64 levels");
    CHECK(decode(nested(63)).ok());  // the envelope object plus 63 levels inside data
    CHECK(decode(nested(64)).message() == "JSON nested deeper than 64 levels");
  }
  SECTION("the root must be an object") {
    for (const char* json : {"[1,2]", "\"text\"", "42", "null"}) {
      INFO(json);
      const Status st = decode(json);
      CHECK(st.code() == Status::Code::kParse);
      CHECK(st.message() == std::string("the message must be a JSON object, got ") + json);
    }
  }
  SECTION("empty payload and non-JSON") {
    CHECK(decode("").message() == "empty payload (expected a JSON object)");
    const Status st = decode("hello world");
    CHECK(st.code() == Status::Code::kParse);
    CHECK_THAT(st.message(), Catch::StartsWith("malformed JSON"));
    CHECK(decode("\xEF\xBB\xBF{}").message() ==
          "malformed JSON: starts with a UTF-8 byte-order mark");
  }
  SECTION("an object in no known dialect lists its keys") {
    const Status st = decode(R"({"event":"purchase","when":1})");
    CHECK(st.code() == Status::Code::kParse);
    CHECK_THAT(st.message(), Catch::StartsWith("no recognised envelope"));
    CHECK_THAT(st.message(), Catch::EndsWith("top-level keys: event, when"));
  }
}

TEST_CASE("schema validation runs after decoding") {
  Decoded d;
  SECTION("an unknown type is a schema error") {
    const char json[] =
        R"({"specversion":"1.0","id":"e","source":"s","type":"billing.coupon.used"})";
    const Status st = d.Decode(Nats("billing.coupon.used", json));
    CHECK(st.code() == Status::Code::kSchema);
    CHECK(st.message() == "no schema for type billing.coupon.used version 1");
  }
  SECTION("a rule violation names the path and the rule") {
    std::string json = kCloudEventPurchase;
    json.replace(json.find("19.5"), 4, "-3");
    const Status st = d.Decode(Nats("billing.purchase.completed", json));
    CHECK(st.code() == Status::Code::kSchema);
    CHECK(st.message() == "data.amount: must be >= 0, got -3");
  }
  SECTION("crm.lead.created versions 1 and 2 have different fields") {
    const char v1[] = R"({"specversion":"1.0","id":"e","source":"crm","type":"crm.lead.created",
      "data":{"lead_id":"L","email":"l@x.io","name":"Lee Park","status":"new","score":150}})";
    CHECK(d.Decode(Kafka("crm.leads", v1)).ok());  // v1 has no score rule
    CHECK(d.event.schema_version == 1);
    std::string v2 = v1;
    v2.replace(v2.find("\"data\""), 0, R"("schemaversion":"2",)");
    CHECK(d.Decode(Kafka("crm.leads", v2)).message() == "data.score: must be <= 100, got 150");
    std::string v3 = v1;
    v3.replace(v3.find("\"data\""), 0, R"("schemaversion":"3",)");
    CHECK(d.Decode(Kafka("crm.leads", v3)).message() ==
          "no schema for type crm.lead.created version 3");
  }
  SECTION("without a registry only the envelope is checked") {
    EnvelopeDecoder plain(DecoderOptions{});
    Event e;
    const char json[] =
        R"({"specversion":"1.0","id":"e","source":"s","type":"billing.coupon.used"})";
    CHECK(plain.Decode(Nats("billing.coupon.used", json), &e).ok());
    CHECK(e.type == "billing.coupon.used");
  }
}

TEST_CASE("a decoder is reusable: each Decode replaces the previous event") {
  Decoded d;
  REQUIRE(d.Decode(Nats("billing.purchase.completed", kCloudEventPurchase)).ok());
  CHECK(d.event.customer_id == "cust_42");
  REQUIRE(d.Decode(Nats("auth.user.login.failed", kSeedLoginFailed)).ok());
  CHECK(d.event.customer_id.empty());
  CHECK(d.event.dialect == Dialect::kServiceEnvelope);
  CHECK(d.event.data.str("reason") == "user_not_found");
  CHECK_FALSE(d.event.data.has("amount"));
}

TEST_CASE("SHA-256 matches the FIPS 180-4 test vectors") {
  const std::pair<const char*, const char*> vectors[] = {  // message, digest
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
  };
  for (const auto& [message, digest] : vectors) CHECK(Sha256Hex(message) == digest);
  SECTION("one million 'a's, fed in uneven pieces") {
    Sha256 h;
    const std::string chunk(777, 'a');
    size_t left = 1000000;
    while (left > 0) {
      const size_t n = std::min(left, chunk.size());
      h.Update(std::string_view(chunk).substr(0, n));
      left -= n;
    }
    const Sha256::Digest digest = h.Final();
    CHECK(digest[0] == 0xcd);
    CHECK(digest[1] == 0xc7);
    CHECK(digest[31] == 0xd0);  // cdc76e5c...c7112cd0
  }
  SECTION("threads hashing at once (each keeps its own context) get the same digests") {
    std::vector<std::string> results(4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < results.size(); ++t) {
      threads.emplace_back([&results, t] {
        std::string all;
        for (int i = 0; i < 2000; ++i) all += Sha256Hex("message " + std::to_string(i));
        results[t] = Sha256Hex(all);
      });
    }
    for (auto& th : threads) th.join();
    for (const auto& r : results) CHECK(r == results[0]);
    CHECK(results[0].size() == 64);
  }
  SECTION("every length around the block boundaries hashes the same in one piece or byte by byte") {
    std::string text;
    for (int len = 0; len < 130; ++len) {
      Sha256 bytewise;
      for (char c : text) bytewise.Update(std::string_view(&c, 1));
      CHECK(bytewise.Final() == Sha256Digest(text));
      text.push_back(static_cast<char>('a' + len % 26));
    }
  }
}

TEST_CASE("RFC 3339 parsing and formatting") {
  SECTION("Z, lower-case, offsets and fractions") {
    CHECK(ParseRfc3339Ms("1970-01-01T00:00:00Z") == 0);
    CHECK(ParseRfc3339Ms("2025-12-12T10:30:00Z") == 1765535400000);
    CHECK(ParseRfc3339Ms("2025-12-12t10:30:00z") == 1765535400000);
    CHECK(ParseRfc3339Ms("2025-12-12 10:30:00Z") == 1765535400000);
    CHECK(ParseRfc3339Ms("2025-12-12T11:30:00+01:00") == 1765535400000);
    CHECK(ParseRfc3339Ms("2025-12-12T05:00:00-05:30") == 1765535400000);
    CHECK(ParseRfc3339Ms("2025-12-12T10:30:00.5Z") == 1765535400500);
    CHECK(ParseRfc3339Ms("2025-12-12T10:30:00.123456789Z") == 1765535400123);
    CHECK(ParseRfc3339Ms("2024-02-29T23:59:59.999+00:00") == 1709251199999);
    CHECK(ParseRfc3339Ms("1969-12-31T23:59:59Z") == -1000);
  }
  SECTION("malformed or impossible times are rejected") {
    for (const char* bad :
         {"", "yesterday", "2025-12-12", "2025-12-12T10:30:00", "2025-12-12T10:30Z",
          "2025-13-01T00:00:00Z", "2025-02-29T00:00:00Z", "2025-12-12T24:00:00Z",
          "2025-12-12T10:30:00.Z", "2025-12-12T10:30:00+0100", "2025-12-12T10:30:00Z ",
          "12/12/2025 10:30"}) {
      INFO(bad);
      CHECK_FALSE(ParseRfc3339Ms(bad).has_value());
    }
  }
  SECTION("dates") {
    CHECK(IsRfc3339Date("2024-02-29"));
    CHECK_FALSE(IsRfc3339Date("2023-02-29"));
    CHECK_FALSE(IsRfc3339Date("2023-2-9"));
    CHECK(ParseRfc3339DateOrDateTimeMs("2025-12-12") == 1765497600000);
    CHECK(ParseRfc3339DateOrDateTimeMs("2025-12-12T10:30:00Z") == 1765535400000);
  }
  SECTION("formatting round-trips") {
    CHECK(FormatRfc3339Ms(1765535400123) == "2025-12-12T10:30:00.123Z");
    CHECK(FormatRfc3339Seconds(1765535400123) == "2025-12-12T10:30:00Z");
    CHECK(FormatRfc3339Ms(-1) == "1969-12-31T23:59:59.999Z");
    for (int64_t ms : {int64_t{0}, int64_t{951782400000}, int64_t{1709251199999},
                       int64_t{4102444800000}, int64_t{-86400001}}) {
      CHECK(ParseRfc3339Ms(FormatRfc3339Ms(ms)) == ms);
    }
  }
}
