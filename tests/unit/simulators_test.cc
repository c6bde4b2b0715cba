// Specification of the simulated services: determinism, coherent streams, valid events, fault
// shares, arrival-rate accuracy on a manual clock, the event log format and `simulate` usage.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "simulators/encoding.h"
#include "simulators/event_log.h"
#include "simulators/faults.h"
#include "simulators/generators.h"
#include "simulators/load_shape.h"
#include "simulators/publisher.h"
#include "simulators/simulate_command.h"
#include "simulators/simulation.h"

using namespace ingestlab;
using namespace ingestlab::sim;
using nlohmann::json;

namespace {

constexpr int64_t kStartMs = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

std::unique_ptr<MessageStream> Stream(const std::string& service, uint64_t seed,
                                      const FaultSpec& faults = {},
                                      TransportKind t = TransportKind::kJetStream) {
  StreamOptions o;
  o.service = service;
  o.seed = seed;
  o.faults = faults;
  o.transport = t;
  auto s = MessageStream::Create(o);
  REQUIRE(s.ok());
  return std::move(s).value();
}

std::vector<PlannedMessage> Take(MessageStream& s, int n) {
  std::vector<PlannedMessage> out;
  for (int i = 0; i < n; ++i) out.push_back(s.Next(kStartMs + i * 10));
  return out;
}

std::vector<GeneratedEvent> Events(const std::string& service, uint64_t seed, int n,
                                   GeneratorOptions o = {}) {
  o.seed = seed;
  auto g = MakeGenerator(service, o);
  REQUIRE(g.ok());
  std::vector<GeneratedEvent> out;
  for (int i = 0; i < n; ++i) out.push_back(g.value()->Next(kStartMs + i * 7));
  return out;
}

std::string TempPath(const std::string& name) {
  return "/tmp/ingestlab_sim_test_" + std::to_string(::getpid()) + "_" + name;
}

}  // namespace

TEST_CASE("the same seed and settings give byte-identical messages in the same order") {
  FaultSpec faults = FaultSpec::Parse(
                         "duplicate=0.05,malformed=0.02,poison=0.02,out_of_order=0.1,"
                         "schema_mix=0.3,unknown_customer=0.05")
                         .value();
  for (const auto& service : AllServices()) {
    const auto t = service == "billing" || service == "crm" ? TransportKind::kKafka
                                                            : TransportKind::kJetStream;
    auto a = Take(*Stream(service, 42, faults, t), 3000);
    auto b = Take(*Stream(service, 42, faults, t), 3000);
    auto c = Take(*Stream(service, 43, faults, t), 3000);
    bool same = true, differs = false;
    for (size_t i = 0; i < a.size(); ++i) {
      same &= a[i].payload == b[i].payload && a[i].subject == b[i].subject &&
              a[i].key == b[i].key && a[i].headers == b[i].headers &&
              a[i].expected == b[i].expected;
      differs |= a[i].payload != c[i].payload;
    }
    INFO(service);
    CHECK(same);
    CHECK(differs);
  }
}

TEST_CASE("generated streams are coherent") {
  SECTION("auth: users exist before they log in, get roles or are deleted") {
    std::set<std::string> live, deleted;
    for (const auto& e : Events("auth", 7, 20000)) {
      if (e.type == "auth.user.created") {
        live.insert(e.data["user_id"].get<std::string>());
      } else if (e.type == "auth.user.login.failed") {
        if (e.data.contains("user_id")) CHECK(live.count(e.data["user_id"].get<std::string>()));
      } else {
        const auto user = e.data["user_id"].get<std::string>();
        INFO(e.type << " " << user);
        REQUIRE(live.count(user) == 1);
        if (e.type == "auth.user.deleted") {
          live.erase(user);
          deleted.insert(user);
        }
      }
    }
    CHECK(!deleted.empty());
  }
  SECTION("learning: activities, pings and ends fall inside their open session") {
    std::map<std::string, int64_t> open;
    std::set<std::string> ended, asked;
    int activities = 0;
    for (const auto& e : Events("learning", 7, 20000)) {
      if (e.type == "learning.session.started") {
        open[e.data["session_id"].get<std::string>()] = e.event_time_ms;
      } else if (e.data.contains("session_id")) {
        const auto session = e.data["session_id"].get<std::string>();
        INFO(e.type << " " << session);
        REQUIRE(open.count(session) == 1);
        CHECK(e.event_time_ms >= open[session]);
        if (e.type == "learning.activity.completed") ++activities;
        if (e.type == "learning.session.ended") {
          open.erase(session);
          ended.insert(session);
        }
      } else if (e.type == "homework.question.asked") {
        asked.insert(e.data["question_id"].get<std::string>());
      } else if (e.type == "homework.question.answered") {
        CHECK(asked.erase(e.data["question_id"].get<std::string>()) == 1);
      }
    }
    CHECK(activities > 100);
    CHECK(ended.size() > 10);
  }
  SECTION("billing: refunds, payments and cancellations name earlier entities, once") {
    std::map<std::string, double> purchases;
    std::set<std::string> invoices, subscriptions;
    int refunds = 0;
    for (const auto& e : Events("billing", 7, 20000)) {
      if (e.type == "billing.purchase.completed") {
        purchases[e.data["purchase_id"].get<std::string>()] = e.data["amount"].get<double>();
      } else if (e.type == "billing.purchase.refunded") {
        const auto id = e.data["purchase_id"].get<std::string>();
        REQUIRE(purchases.count(id) == 1);
        CHECK(e.data["amount"].get<double>() <= purchases[id] + 1e-9);
        purchases.erase(id);
        ++refunds;
      } else if (e.type == "billing.invoice.issued") {
        invoices.insert(e.data["invoice_id"].get<std::string>());
      } else if (e.type == "billing.invoice.paid") {
        CHECK(invoices.erase(e.data["invoice_id"].get<std::string>()) == 1);
      } else if (e.type == "billing.subscription.started") {
        subscriptions.insert(e.data["subscription_id"].get<std::string>());
      } else if (e.type == "billing.subscription.cancelled") {
        CHECK(subscriptions.erase(e.data["subscription_id"].get<std::string>()) == 1);
      }
    }
    CHECK(refunds > 100);
  }
  SECTION("crm: conversions only of created leads; opportunities close once") {
    std::set<std::string> leads, contacts, opportunities;
    int conversions = 0;
    for (const auto& e : Events("crm", 7, 20000)) {
      const auto& d = e.data;
      if (e.type == "crm.lead.created") {
        leads.insert(d["lead_id"].get<std::string>());
      } else if (e.type == "crm.lead.updated") {
        CHECK(leads.count(d["lead_id"].get<std::string>()) == 1);
      } else if (e.type == "crm.lead.converted") {
        CHECK(leads.erase(d["lead_id"].get<std::string>()) == 1);
        CHECK(contacts.count(d["contact_id"].get<std::string>()) == 1);
        CHECK(opportunities.count(d["opportunity_id"].get<std::string>()) == 1);
        ++conversions;
      } else if (e.type == "crm.contact.created") {
        CHECK(leads.count(d["lead_id"].get<std::string>()) == 1);
        contacts.insert(d["contact_id"].get<std::string>());
      } else if (e.type == "crm.contact.updated") {
        CHECK(contacts.count(d["contact_id"].get<std::string>()) == 1);
      } else if (e.type == "crm.opportunity.created") {
        opportunities.insert(d["opportunity_id"].get<std::string>());
      } else if (e.type == "crm.opportunity.updated") {
        CHECK(opportunities.count(d["opportunity_id"].get<std::string>()) == 1);
      } else if (e.type == "crm.opportunity.won" || e.type == "crm.opportunity.lost") {
        CHECK(opportunities.erase(d["opportunity_id"].get<std::string>()) == 1);
      }
    }
    CHECK(conversions > 100);
  }
  SECTION("support: tickets are opened before they are updated or resolved") {
    std::set<std::string> tickets, work_orders;
    int long_texts = 0;
    for (const auto& e : Events("support", 7, 20000)) {
      const auto& d = e.data;
      if (e.type == "support.ticket.opened") {
        tickets.insert(d["ticket_id"].get<std::string>());
        if (d["description"].get<std::string>().size() > 500) ++long_texts;
      } else if (e.type == "support.ticket.updated") {
        CHECK(tickets.count(d["ticket_id"].get<std::string>()) == 1);
      } else if (e.type == "support.ticket.resolved") {
        CHECK(tickets.erase(d["ticket_id"].get<std::string>()) == 1);
      } else if (e.type == "support.work_order.created") {
        work_orders.insert(d["work_order_id"].get<std::string>());
      } else if (e.type == "support.work_order.updated") {
        CHECK(work_orders.count(d["work_order_id"].get<std::string>()) == 1);
        if (d["status"] == "completed") work_orders.erase(d["work_order_id"].get<std::string>());
      } else if (e.type == "support.note.added") {
        if (d["note"].get<std::string>().size() > 500) ++long_texts;
      }
    }
    CHECK(long_texts > 100);
  }
  SECTION("services share one customer pool, so profiles join up") {
    std::map<std::string, std::set<std::string>> services_of;
    for (const auto& service : AllServices()) {
      for (const auto& e : Events(service, 7, 3000)) services_of[e.customer_id].insert(service);
    }
    int in_all = 0;
    for (const auto& [customer, s] : services_of) in_all += s.size() == AllServices().size();
    CHECK(in_all > 50);
  }
}

TEST_CASE("every non-faulted event carries its catalog's required fields in a valid envelope") {
  for (const auto& service : AllServices()) {
    const auto t = service == "billing" || service == "crm" ? TransportKind::kKafka
                                                            : TransportKind::kJetStream;
    StreamOptions o;
    o.service = service;
    o.seed = 11;
    o.transport = t;
    o.service_envelope_share = 0.3;
    o.customer_dialect_share = 0.3;
    auto stream = MessageStream::Create(o).value();
    std::set<std::string> types_seen;
    std::set<std::string> dialects;
    for (int i = 0; i < 5000; ++i) {
      const PlannedMessage m = stream->Next(kStartMs + i);
      CHECK(m.expected == kExpectApplied);
      const json j = json::parse(m.payload);
      json data = j.at("data");
      types_seen.insert(m.type);
      if (j.contains("specversion")) {
        dialects.insert("ce");
        CHECK(j["specversion"] == "1.0");
        CHECK(j["id"] == m.event_id);
        CHECK(j["type"] == m.type);
        CHECK(j["source"] == service + "-service");
        CHECK(j["time"].get<std::string>().size() == 24);
        CHECK(!j["subject"].get<std::string>().empty());
        CHECK(j["orgid"] == "org-1");
      } else if (j.contains("organization_id")) {
        dialects.insert("service");
        CHECK(j["id"] == m.event_id);
        CHECK(j["timestamp"].is_string());
        CHECK(j["source"].is_string());
        CHECK(j["schema_version"].is_string());
      } else {
        dialects.insert("customer");
        CHECK(j["customer_id"].is_string());
        CHECK(j["event_type"] == CustomerEventType(m.type).value());
        CHECK(j["timestamp"].is_number_integer());
        CHECK(j["source_service"] == service + "-service");
        if (m.transport != TransportKind::kKafka) {
          CHECK(m.subject == "customer.events." + j["customer_id"].get<std::string>() + "." +
                                 j["event_type"].get<std::string>());
        }
        CHECK(m.event_id == Sha256Hex(m.payload));
        continue;  // the dialect's data fields are all optional
      }
      for (const auto& field : RequiredDataFields(m.type)) {
        INFO(m.type << " " << field << " " << m.payload);
        if (field == "customer_id" && !data.contains(field)) continue;  // from the envelope
        CHECK(data.contains(field));
      }
      if (data.contains("amount")) CHECK(data["amount"].get<double>() >= 0);
      if (data.contains("score")) CHECK(data["score"].get<int>() <= 100);
      if (m.transport == TransportKind::kKafka) {
        CHECK(m.subject == KafkaTopic(m.type).value());
        CHECK(!m.key.empty());
      } else if (!IsCustomerDialectOnly(m.type)) {
        CHECK(m.subject == m.type);
        REQUIRE(m.headers.size() == 1);
        CHECK(m.headers[0] == std::make_pair(std::string("Nats-Msg-Id"), m.event_id));
      }
    }
    INFO(service);
    CHECK(types_seen.size() == stream->generator().Types().size());
    CHECK(dialects.count("ce") == 1);
    CHECK(dialects.count("service") == 1);
  }
}

TEST_CASE("fault shares match the settings over 10k events") {
  const FaultSpec faults = FaultSpec::Parse(
                               "duplicate=0.05,malformed=0.03,poison=0.03,out_of_order=0.2,"
                               "schema_mix=0.3,oversized=0.004,unknown_customer=0.1")
                               .value();
  auto near = [](double got, double want) { return std::abs(got - want) <= want * 0.25 + 0.002; };

  SECTION("per-event extras and duplicates") {
    auto stream = Stream("support", 5, faults);
    std::map<std::string, int> fault_count, expected_count;
    std::map<std::string, size_t> first_index_of_payload;
    std::vector<PlannedMessage> all;
    while (stream->stats().events < 10000) all.push_back(stream->Next(kStartMs));
    const double events = static_cast<double>(stream->stats().events);
    for (size_t i = 0; i < all.size(); ++i) {
      const auto& m = all[i];
      ++expected_count[m.expected];
      std::string kind = m.fault.substr(0, m.fault.find('.'));
      ++fault_count[kind];
      if (m.fault == "duplicate") {
        auto it = first_index_of_payload.find(m.payload);
        REQUIRE(it != first_index_of_payload.end());  // the same bytes were sent before
        CHECK(i - it->second >= 100);
        CHECK(m.headers.empty());  // no Nats-Msg-Id: passes broker de-duplication
        CHECK(m.expected == kExpectDuplicate);
      } else if (m.expected == kExpectApplied) {
        first_index_of_payload.emplace(m.payload, i);
      }
      if (m.fault == "malformed.truncated" || m.fault == "malformed.utf8" ||
          m.fault == "oversized") {
        CHECK(m.expected == kExpectParse);
      }
      if (m.fault == "malformed.truncated" || m.fault == "malformed.utf8") {
        CHECK_THROWS(json::parse(m.payload));
      }
      if (m.fault == "oversized") CHECK(m.payload.size() > (1u << 20));
      if (m.fault == "malformed.types" || m.fault == "poison") {
        CHECK(m.expected == kExpectSchema);
        CHECK_NOTHROW(json::parse(m.payload));
      }
    }
    // Duplicates are scheduled a few hundred messages later, so the last few are not due yet.
    CHECK(near(fault_count["duplicate"] / events, 0.05));
    CHECK(near(fault_count["malformed"] / events, 0.03));
    CHECK(near(fault_count["poison"] / events, 0.03));
    CHECK(near(fault_count["oversized"] / events, 0.004));
    CHECK(fault_count["duplicate"] == expected_count[kExpectDuplicate]);
  }
  SECTION("out of order: held events go out after the next event of the same entity") {
    auto stream = Stream("learning", 5, faults);
    std::vector<PlannedMessage> all;
    while (stream->stats().events < 10000) all.push_back(stream->Next(kStartMs));
    const auto& st = stream->stats();
    CHECK(near(static_cast<double>(st.reordered) / static_cast<double>(st.reorderable), 0.2));
    int checked = 0;
    for (size_t i = 0; i < all.size(); ++i) {
      if (all[i].fault != "out_of_order") continue;
      // The held event's sequence number is lower than the message sent just before it.
      if (i > 0 && all[i - 1].seq > all[i].seq) ++checked;
    }
    CHECK(checked > static_cast<int>(st.reordered) / 2);
  }
  SECTION("schema mix and unknown customers") {
    auto stream = Stream("crm", 5, faults, TransportKind::kKafka);
    int v2 = 0, leads = 0;
    while (stream->stats().events < 10000) {
      const auto m = stream->Next(kStartMs);
      if (m.type != "crm.lead.created" || m.expected != kExpectApplied) continue;
      ++leads;
      const json j = json::parse(m.payload);
      const json& data = j["data"];
      const std::string version = j.contains("schemaversion")
                                      ? j["schemaversion"].get<std::string>()
                                      : j["schema_version"].get<std::string>();
      if (version[0] == '2') {
        ++v2;
        CHECK(data.contains("first_name"));
        CHECK(!data.contains("name"));
      }
    }
    CHECK(near(static_cast<double>(v2) / leads, 0.3));
    const auto& g = stream->generator().stats();
    CHECK(near(static_cast<double>(g.unknown_customers) / static_cast<double>(g.customer_picks),
               0.1));
  }
  SECTION("no faults, no faulty messages") {
    auto stream = Stream("billing", 5, {}, TransportKind::kKafka);
    for (int i = 0; i < 5000; ++i) CHECK(stream->Next(kStartMs).expected == kExpectApplied);
  }
}

TEST_CASE("FaultSpec parses shares and rejects bad input with a clear message") {
  auto ok = FaultSpec::Parse("duplicate=0.02, malformed=0.01,oversized=0.001");
  REQUIRE(ok.ok());
  CHECK(ok->duplicate == 0.02);
  CHECK(ok->malformed == 0.01);
  CHECK(ok->oversized == 0.001);
  CHECK(FaultSpec::Parse(ok->ToString()).value().duplicate == 0.02);
  CHECK(FaultSpec::Parse("none").value().any() == false);
  CHECK(FaultSpec::Parse("").ok());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"duplicates=0.1", "unknown fault 'duplicates'"},
      {"duplicate", "not NAME=SHARE"},
      {"duplicate=abc", "must be a number"},
      {"duplicate=", "must be a number"},
      {"duplicate=1.5", "[0, 1]"},
      {"poison=-0.1", "[0, 1]"},
      {"poison=0.1,poison=0.2", "given twice"},
      {"poison=0.1,,malformed=0.1", "empty item"},
  };
  for (const auto& [text, message] : bad) {
    auto r = FaultSpec::Parse(text);
    INFO(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kInvalidArgument);
    CHECK(r.status().message().find(message) != std::string::npos);
  }
}

namespace {

// Runs a service on a manual clock and returns its stats.
ServiceRunStats RunManual(const LoadShape& shape, double seconds, Publisher* publisher,
                          uint64_t count = 0) {
  ManualClock clock(kStartMs);
  ServiceRunOptions o;
  o.stream.service = "learning";
  o.stream.seed = 3;
  o.shape = shape;
  o.duration_seconds = seconds;
  o.count = count;
  o.start_unix_ms = kStartMs;
  auto run = ServiceRun::Create(o, publisher, nullptr, &clock);
  REQUIRE(run.ok());
  REQUIRE(run.value()->Run().ok());
  return run.value()->stats();
}

// Acks at once but takes `cost` of (manual) time per publish: a publisher that cannot keep up.
class SlowPublisher final : public Publisher {
 public:
  SlowPublisher(ManualClock* clock, std::chrono::nanoseconds cost) : clock_(clock), cost_(cost) {}
  TransportKind transport() const override { return TransportKind::kJetStream; }
  Status Publish(const std::string&, const std::string&, const MessageHeaders&, std::string_view,
                 PublishDone done) override {
    clock_->Advance(cost_);
    done(PublishOutcome{true, "", 1});
    return Status::Ok();
  }
  Status Flush(std::chrono::milliseconds) override { return Status::Ok(); }
  void Close() override {}

 private:
  ManualClock* clock_;
  std::chrono::nanoseconds cost_;
};

}  // namespace

TEST_CASE("arrival rates are accurate on a manual clock") {
  SECTION("constant 1000/s for 10 s sends 10,000 ± 1%") {
    MemoryPublisher p;
    const auto s = RunManual(LoadShape::Parse("constant", 1000, 10).value(), 10, &p);
    CHECK(s.sent >= 9900);
    CHECK(s.sent <= 10100);
    CHECK(s.shortfall == 0);
    CHECK(s.late == 0);
    CHECK(s.acked == s.sent);
    CHECK(p.messages().size() == s.sent);
  }
  SECTION("event times follow the virtual clock, not the wall clock") {
    MemoryPublisher p;
    RunManual(LoadShape::Parse("constant", 10, 5).value(), 5, &p);
    const auto msgs = p.messages();
    REQUIRE(msgs.size() >= 49);
    const json first = json::parse(msgs.front().payload);
    if (first.contains("time")) CHECK(first["time"] == "2026-01-01T00:00:00.000Z");
    const json last = json::parse(msgs[40].payload);
    if (last.contains("time")) CHECK(last["time"] == "2026-01-01T00:00:04.000Z");
  }
  SECTION("ramp 0→1000 over 10 s sends about half of 10,000") {
    MemoryPublisher p;
    const auto s = RunManual(LoadShape::Parse("ramp:0:1000", 0, 10).value(), 10, &p);
    CHECK(s.sent >= 4950);
    CHECK(s.sent <= 5050);
  }
  SECTION("spike: the peak rate applies only inside its window") {
    ArrivalScheduler sched(LoadShape::Parse("spike:2000:2s:1s", 100, 10).value(), 1);
    int in_spike = 0, total = 0;
    for (int64_t t = sched.Next(); t < 10'000'000'000; t = sched.Next()) {
      ++total;
      in_spike += t >= 2'000'000'000 && t < 3'000'000'000;
    }
    CHECK(std::abs(in_spike - 2000) <= 20);
    CHECK(std::abs(total - (2000 + 900)) <= 30);
  }
  SECTION("poisson arrivals have the configured mean") {
    MemoryPublisher p;
    const auto s = RunManual(LoadShape::Parse("poisson", 1000, 10).value(), 10, &p);
    CHECK(s.sent >= 9600);
    CHECK(s.sent <= 10400);
    ArrivalScheduler a(LoadShape::Parse("poisson", 1000, 10).value(), 1);
    ArrivalScheduler b(LoadShape::Parse("poisson", 1000, 10).value(), 1);
    int64_t prev = a.Next();
    b.Next();
    std::set<int64_t> gaps;
    for (int i = 0; i < 100; ++i) {
      const int64_t t = a.Next();
      CHECK(t == b.Next());  // seeded
      gaps.insert(t - prev);
      prev = t;
    }
    CHECK(gaps.size() > 90);  // not evenly spaced
  }
  SECTION("SetRate changes the rate from its offset on") {
    ArrivalScheduler sched(LoadShape::Parse("constant", 100, 10).value(), 1);
    sched.SetRate(1000, 5'000'000'000);
    int total = 0;
    for (int64_t t = sched.Next(); t < 10'000'000'000; t = sched.Next()) ++total;
    CHECK(std::abs(total - (500 + 5000)) <= 10);
  }
  SECTION("a publisher that cannot keep up shows as shortfall and lateness, not a lower rate") {
    ManualClock clock(kStartMs);
    SlowPublisher slow(&clock, std::chrono::microseconds(2000));  // 500/s at most
    ServiceRunOptions o;
    o.stream.service = "auth";
    o.shape = LoadShape::Parse("constant", 1000, 10).value();
    o.duration_seconds = 10;
    o.start_unix_ms = kStartMs;
    auto run = ServiceRun::Create(o, &slow, nullptr, &clock).value();
    REQUIRE(run->Run().ok());
    const auto s = run->stats();
    CHECK(s.sent + s.shortfall >= 9990);
    CHECK(s.sent + s.shortfall <= 10010);
    CHECK(s.shortfall >= 4900);
    CHECK(s.late > 3000);
  }
  SECTION("SetRate during a run takes effect at once, not after the old gap") {
    ManualClock clock(kStartMs);
    ServiceRun* run_ptr = nullptr;
    // Raises the rate from inside the run, as the harness does from its timeline thread.
    class RateStepPublisher final : public Publisher {
     public:
      explicit RateStepPublisher(ServiceRun** run) : run_(run) {}
      TransportKind transport() const override { return TransportKind::kJetStream; }
      Status Publish(const std::string&, const std::string&, const MessageHeaders&,
                     std::string_view, PublishDone done) override {
        if (++published_ == 3) (*run_)->SetRate(1000);
        done(PublishOutcome{true, "", 1});
        return Status::Ok();
      }
      Status Flush(std::chrono::milliseconds) override { return Status::Ok(); }
      void Close() override {}

     private:
      ServiceRun** run_;
      int published_ = 0;
    } publisher(&run_ptr);
    ServiceRunOptions o;
    o.stream.service = "support";
    o.shape = LoadShape::Parse("constant", 1, 5).value();  // 1/s: due at 0, 1, 2 s ...
    o.duration_seconds = 5;
    auto run = ServiceRun::Create(o, &publisher, nullptr, &clock).value();
    run_ptr = run.get();
    REQUIRE(run->Run().ok());
    // 3 at 1/s, then 1000/s from t = 2 s (not from the old next due time, 3 s).
    CHECK(run->stats().sent >= 2990);
    CHECK(run->stats().sent <= 3010);
  }
  SECTION("a count stops the run") {
    MemoryPublisher p;
    const auto s = RunManual(LoadShape::Parse("constant", 1000, 0).value(), 0, &p, 1234);
    CHECK(s.sent == 1234);
  }
}

TEST_CASE("load shapes and durations parse or fail with a clear message") {
  CHECK(ParseDurationSeconds("10s").value() == 10);
  CHECK(ParseDurationSeconds("500ms").value() == 0.5);
  CHECK(ParseDurationSeconds("2m").value() == 120);
  CHECK(ParseDurationSeconds("3").value() == 3);
  CHECK_FALSE(ParseDurationSeconds("soon").ok());
  CHECK_FALSE(ParseDurationSeconds("-1s").ok());
  auto ramp = LoadShape::Parse("ramp:10:100:5s", 1, 60).value();
  CHECK(ramp.RateAt(0) == 10);
  CHECK(ramp.RateAt(2.5) == Approx(55));
  CHECK(ramp.RateAt(9) == 100);
  CHECK_FALSE(LoadShape::Parse("ramp:10", 1, 60).ok());
  CHECK_FALSE(LoadShape::Parse("spike:1:2", 1, 60).ok());
  CHECK_FALSE(LoadShape::Parse("sawtooth", 1, 60).ok());
  CHECK_FALSE(LoadShape::Parse("constant:5", 1, 60).ok());
}

TEST_CASE("encoding helpers") {
  CHECK(FormatRfc3339Millis(kStartMs + 61'123) == "2026-01-01T00:01:01.123Z");
  CHECK(FormatRfc3339Millis(0) == "1970-01-01T00:00:00.000Z");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\x00\xff\x80", 3)}) {
    CHECK(Base64Decode(Base64Encode(s)).value() == s);
  }
  CHECK(Base64Encode("abcd") == "YWJjZA==");
  CHECK_FALSE(Base64Decode("abc").has_value());
  CHECK(KafkaTopic("crm.lead.converted").value() == "crm.leads");
  CHECK(KafkaTopic("crm.contact.created").value() == "crm.contacts");
  CHECK(KafkaTopic("crm.opportunity.won").value() == "crm.opportunities");
  CHECK(KafkaTopic("billing.invoice.paid").value() == "billing.events");
  CHECK_FALSE(KafkaTopic("auth.user.created").ok());
  StreamOptions o;
  o.service = "auth";
  o.transport = TransportKind::kKafka;
  CHECK_FALSE(MessageStream::Create(o).ok());  // auth has no Kafka topic
}

TEST_CASE("the event log round-trips and tolerates a run killed mid-write") {
  const std::string path = TempPath("events.log");
  EventLogHeader h;
  h.scenario = "smoke";
  h.seed = 9;
  h.ingestlab_version = "0.1.0";
  h.git_commit = "abc";
  h.topology = {{"nats_nodes", 3}};
  h.started_at_ms = kStartMs;
  auto w = EventLogWriter::Create(path, h).value();
  PublishRecord r;
  r.offset_ms = 12;
  r.service = "billing";
  r.seq = 4;
  r.type = "billing.purchase.completed";
  r.event_id = "billing-9-4";
  r.transport = "kafka";
  r.subject = "billing.events";
  r.key = "cust-9-0001";
  r.headers = {{"Nats-Msg-Id", "billing-9-4"}};
  r.payload = std::string("{\"x\":1}\xff\x00", 9);  // arbitrary bytes survive
  r.expected = "dead_letter:parse";
  r.scheduled_ms = 10;
  r.published_ms = 11;
  r.acked = true;
  REQUIRE(w->Append(r).ok());
  r.seq = 5;
  r.acked = false;
  r.publish_error = "timeout";
  REQUIRE(w->Append(r).ok());
  FaultRecord f{500, "kill", "ingestd[0]", {{"signal", "SIGKILL"}}};
  REQUIRE(w->Append(f).ok());
  REQUIRE(w->Close().ok());

  auto log = ReadEventLog(path);
  REQUIRE(log.ok());
  CHECK(log->header.scenario == "smoke");
  CHECK(log->header.seed == 9);
  CHECK(log->header.topology["nats_nodes"] == 3);
  CHECK(log->header.started_at_ms == kStartMs);
  REQUIRE(log->publishes.size() == 2);
  CHECK(log->publishes[0].payload == r.payload);
  CHECK(log->publishes[0].headers.at("Nats-Msg-Id") == "billing-9-4");
  CHECK(log->publishes[0].acked);
  CHECK(log->publishes[0].publish_error.empty());
  CHECK(log->publishes[1].publish_error == "timeout");
  CHECK(log->publishes[1].expected == "dead_letter:parse");
  REQUIRE(log->faults.size() == 1);
  CHECK(log->faults[0].action == "kill");
  CHECK(log->faults[0].params["signal"] == "SIGKILL");
  CHECK_FALSE(log->truncated_tail);

  SECTION("text fields with quotes, control bytes and invalid UTF-8 still make valid lines") {
    const std::string odd_path = TempPath("odd.log");
    auto odd = EventLogWriter::Create(odd_path, h).value();
    PublishRecord q = r;
    q.key = "a\"b\\c\n\x01 é 😀";
    q.publish_error = std::string("bad \xC3\x28 \xED\xA0\x80 \xFF end");
    REQUIRE(odd->Append(q).ok());
    REQUIRE(odd->Close().ok());
    auto back = ReadEventLog(odd_path);
    REQUIRE(back.ok());
    REQUIRE(back->publishes.size() == 1);
    CHECK(back->publishes[0].key == q.key);
    CHECK(back->publishes[0].publish_error.rfind("bad ", 0) == 0);
    CHECK(back->publishes[0].payload == r.payload);
    std::remove(odd_path.c_str());
    std::remove(sim::AcksPathFor(odd_path).c_str());
  }
  SECTION("a truncated last line is skipped") {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text.resize(text.size() - 20);  // cut into the last record
    auto cut = ParseEventLog(text);
    REQUIRE(cut.ok());
    CHECK(cut->truncated_tail);
    CHECK(cut->publishes.size() == 2);
    CHECK(cut->faults.empty());
  }
  SECTION("a broken line in the middle is an error naming the line") {
    auto broken = ParseEventLog("{\"kind\":\"header\",\"format\":1}\nnot json\n{}\n");
    REQUIRE_FALSE(broken.ok());
    CHECK(broken.status().message().find("line 2") != std::string::npos);
  }
  std::remove(path.c_str());
  std::remove(sim::AcksPathFor(path).c_str());
}

TEST_CASE("a service run records every publish in the event log") {
  const std::string path = TempPath("run.log");
  EventLogHeader h;
  h.seed = 2;
  auto w = EventLogWriter::Create(path, h).value();
  ManualClock clock(kStartMs);
  MemoryPublisher p(TransportKind::kKafka);
  ServiceRunOptions o;
  o.stream.service = "crm";
  o.stream.seed = 2;
  o.stream.faults = FaultSpec::Parse("duplicate=0.1,poison=0.1").value();
  o.shape = LoadShape::Parse("constant", 100, 2).value();
  o.duration_seconds = 2;
  auto run = ServiceRun::Create(o, &p, w.get(), &clock).value();
  REQUIRE(run->Run().ok());
  REQUIRE(w->Close().ok());
  auto log = ReadEventLog(path).value();
  CHECK(log.publishes.size() == run->stats().sent);
  std::map<std::string, int> expected;
  for (const auto& r : log.publishes) {
    ++expected[r.expected];
    CHECK(r.transport == "kafka");
    CHECK(r.acked);
    CHECK(r.published_ms >= r.scheduled_ms);
  }
  CHECK(expected[kExpectSchema] > 0);
  CHECK(expected[kExpectApplied] > 150);
  CHECK(p.messages().size() == log.publishes.size());
  std::remove(path.c_str());
  std::remove(sim::AcksPathFor(path).c_str());
}

namespace {

int RunCli(std::vector<std::string> args, std::string* out_text, std::string* err_text) {
  args.insert(args.begin(), "simulate");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  const int rc = RunSimulateCommand(static_cast<int>(argv.size()), argv.data(), out, err);
  auto slurp = [](std::FILE* f) {
    std::fflush(f);
    std::rewind(f);
    std::string s;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) s.append(buf, n);
    std::fclose(f);
    return s;
  };
  *out_text = slurp(out);
  *err_text = slurp(err);
  return rc;
}

}  // namespace

TEST_CASE("ingestlab simulate: usage, errors and dry runs") {
  std::string out, err;
  SECTION("--help prints usage and exits 0") {
    CHECK(RunCli({"--help"}, &out, &err) == 0);
    CHECK(out.find("usage: ingestlab simulate") != std::string::npos);
  }
  SECTION("bad usage is one clear line and exit 2") {
    const std::vector<std::vector<std::string>> bad = {
        {},
        {"payments"},
        {"billing", "--rate", "fast"},
        {"billing", "--faults", "dup=0.1"},
        {"billing", "--shape", "zigzag"},
        {"billing", "--frobnicate"},
        {"billing", "--duration", "forever"},
        {"billing", "--transport", "auth=carrier-pigeon"},
        {"--event", "nope.nothing.happened"},
        {"billing", "--seed"},
        {"billing", "--seed", "99999999999999999999999"},
        {"billing", "--count", "-1"},
        {"billing", "--transport", "auth=nats", "--transport"},
    };
    for (const auto& args : bad) {
      INFO(args.size());
      CHECK(RunCli(args, &out, &err) == 2);
      CHECK(err.rfind("ingestlab simulate: ", 0) == 0);
      CHECK(std::count(err.begin(), err.end(), '\n') == 1);
      CHECK(err.find(" (see ingestlab simulate --help)\n") != std::string::npos);
    }
  }
  SECTION("--print publishes nothing and is deterministic for a seed") {
    const std::vector<std::string> args = {
        "all",        "--print",       "--count",  "200",
        "--rate",     "100000",        "--seed",   "5",
        "--start-ms", "1767225600000", "--faults", "duplicate=0.05,malformed=0.02"};
    std::string out2, err2;
    REQUIRE(RunCli(args, &out, &err) == 0);
    REQUIRE(RunCli(args, &out2, &err2) == 0);
    // Services run on their own threads, so only each service's own order is fixed.
    auto sorted_lines = [](const std::string& text) {
      std::vector<std::string> lines;
      size_t pos = 0;
      for (size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
        lines.push_back(text.substr(pos, nl - pos));
      }
      std::sort(lines.begin(), lines.end());
      return lines;
    };
    CHECK(sorted_lines(out) == sorted_lines(out2));
    CHECK(std::count(out.begin(), out.end(), '\n') >= 1000);
    CHECK(err.find("total") != std::string::npos);
    CHECK(out.find("billing.events\t") != std::string::npos);
    CHECK(out.find("auth.user.created\t") != std::string::npos);
    std::vector<std::string> one = {"support",  "--print",      "--count",    "300",
                                    "--rate",   "100000",       "--start-ms", "0",
                                    "--faults", "duplicate=0.1"};
    REQUIRE(RunCli(one, &out, &err) == 0);
    REQUIRE(RunCli(one, &out2, &err2) == 0);
    CHECK(out == out2);
    CHECK(out.find("support.ticket.opened\t") != std::string::npos);
    CHECK(out.find("billing.events\t") == std::string::npos);
  }
  SECTION("--event publishes one sample of the type") {
    REQUIRE(RunCli({"--event", "crm.lead.converted", "--print", "--start-ms", "0"}, &out, &err) ==
            0);
    CHECK(std::count(out.begin(), out.end(), '\n') == 1);
    CHECK(out.rfind("crm.leads\t", 0) == 0);
    CHECK(out.find("\"type\":\"crm.lead.converted\"") != std::string::npos);
  }
  SECTION("an unreachable NATS server is a one-line error and exit 1") {
    CHECK(RunCli({"auth", "--nats", "nats://127.0.0.1:1", "--count", "1"}, &out, &err) == 1);
    CHECK(err.find("nats connect") != std::string::npos);
  }
}
