// Specification of the DeadLetterOutbox (system/dead_letter_outbox.h) on the real SQLite store:
// rows recorded by the store are published through the transport's sink after the fact, in
// order, at least once; a DLQ outage delays only the DLQ copies; refusals and oversized payloads;
// and, end to end with the Pipeline, bad messages are acked at once whatever the DLQ does.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "system/dead_letter_outbox.h"
#include "system/metrics.h"
#include "system/pipeline.h"
#include "system/schema.h"
#include "system/store.h"
#include "tests/support/event_fixture.h"

using namespace ingestlab;
using ingestlab::testing::StoreHarness;

namespace {

class RecordingSink final : public DeadLetterSink {
 public:
  Status Publish(const RawMessage& original, const DeadLetterRecord& record) override {
    ++calls;
    if (down) return Status::Transient("broker unavailable");
    if (refuse) return Status::InvalidArgument("message too large");
    std::lock_guard<std::mutex> lock(mu_);
    sent_.push_back({original, record});
    return Status::Ok();
  }
  struct Sent {
    RawMessage message;
    DeadLetterRecord record;
  };
  std::vector<Sent> sent() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }
  std::vector<std::string> origins() {
    std::vector<std::string> out;
    for (const Sent& s : sent()) out.push_back(s.record.origin);
    return out;
  }
  std::atomic<bool> down{false};
  std::atomic<bool> refuse{false};
  std::atomic<int> calls{0};

 private:
  std::mutex mu_;
  std::vector<Sent> sent_;
};

bool WaitFor(const std::function<bool()>& done, int ms = 5'000) {
  for (int i = 0; i < ms / 10 && !done(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

DeadLetterRecord Record(const std::string& origin, const std::string& payload) {
  DeadLetterRecord r;
  r.origin = origin;
  r.subject = origin.rfind("kafka:", 0) == 0 ? "crm.leads" : "billing.invoice.issued";
  r.reason = "parse";
  r.error = "malformed JSON";
  r.attempts = 1;
  r.payload = payload;
  r.headers = {{"Nats-Msg-Id", "m-" + origin}};
  return r;
}

struct Harness {
  StoreHarness h;
  Metrics metrics;
  RecordingSink nats, kafka;
  std::unique_ptr<DeadLetterOutbox> outbox;

  explicit Harness(OutboxOptions options = {}) {
    options.db_path = h.path();
    options.retry_base_ms = 20;
    options.retry_max_ms = 50;
    options.poll_ms = 20;
    auto opened = DeadLetterOutbox::Open(options, &metrics, nullptr);
    REQUIRE(opened.ok());
    outbox = std::move(opened).value();
    outbox->SetSink(Transport::kJetStream, &nats);
    outbox->SetSink(Transport::kKafka, &kafka);
  }
  void Record(const std::vector<DeadLetterRecord>& records) {
    REQUIRE(h.store().Begin().ok());
    for (const auto& r : records) REQUIRE(h.store().RecordDeadLetter(r).ok());
    REQUIRE(h.store().Commit().ok());
    outbox->Wake();
  }
  int64_t Unpublished() { return h.Int("SELECT COUNT(*) FROM dead_letters WHERE published_at IS NULL"); }
};

}  // namespace

TEST_CASE("the outbox publishes committed dead letters in order, each to its transport") {
  Harness t;
  t.Record({Record("nats:BILLING:1", "{bad 1"), Record("kafka:crm.leads:0:5", "{bad k"),
            Record("nats:BILLING:2", "{bad 2")});
  t.outbox->Start();
  REQUIRE(WaitFor([&] { return t.Unpublished() == 0; }));
  CHECK(t.nats.origins() == std::vector<std::string>{"nats:BILLING:1", "nats:BILLING:2"});
  CHECK(t.kafka.origins() == std::vector<std::string>{"kafka:crm.leads:0:5"});
  const auto sent = t.nats.sent();
  CHECK(sent[0].message.payload == "{bad 1");
  CHECK(sent[0].message.subject == "billing.invoice.issued");
  CHECK(sent[0].message.transport == Transport::kJetStream);
  CHECK(sent[0].message.headers == Headers{{"Nats-Msg-Id", "m-nats:BILLING:1"}});
  CHECK(sent[0].record.reason == "parse");
  CHECK(sent[0].record.error == "malformed JSON");
  // New rows later are found at once when the outbox is woken.
  t.Record({Record("nats:BILLING:3", "{bad 3")});
  REQUIRE(WaitFor([&] { return t.nats.origins().size() == 3; }));
  t.outbox->Stop();
  CHECK(t.Unpublished() == 0);
  CHECK(t.metrics.counter("ingest_dlq_published_total", "")->value() == 4);
  CHECK(t.metrics.gauge("ingest_dlq_pending", "")->value() == 0);
}

TEST_CASE("a DLQ outage on one transport delays only its copies, in order, and none is lost") {
  Harness t;
  t.nats.down = true;
  t.outbox->Start();
  t.Record({Record("nats:BILLING:1", "{bad 1"), Record("nats:BILLING:2", "{bad 2"),
            Record("kafka:crm.leads:0:5", "{bad k")});
  // Kafka's DLQ is up: its copy goes out while NATS's retries.
  REQUIRE(WaitFor([&] { return t.kafka.origins().size() == 1; }));
  REQUIRE(WaitFor([&] { return t.nats.calls.load() >= 3; }));
  CHECK(t.nats.sent().empty());
  CHECK(t.Unpublished() == 2);
  CHECK(t.metrics.gauge("ingest_dlq_pending", "")->value() == 2);
  t.nats.down = false;
  REQUIRE(WaitFor([&] { return t.Unpublished() == 0; }));
  CHECK(t.nats.origins() == std::vector<std::string>{"nats:BILLING:1", "nats:BILLING:2"});
  t.outbox->Stop();
}

TEST_CASE("rows left by a stop are published by the next outbox, at least once") {
  StoreHarness h;
  Metrics metrics;
  RecordingSink sink;
  OutboxOptions options;
  options.db_path = h.path();
  options.drain_on_stop_ms = 100;
  options.retry_base_ms = 20;
  REQUIRE(h.store().Begin().ok());
  REQUIRE(h.store().RecordDeadLetter(Record("nats:BILLING:1", "{bad")).ok());
  REQUIRE(h.store().Commit().ok());
  {
    sink.down = true;  // the DLQ is down through the whole first run
    auto outbox = DeadLetterOutbox::Open(options, &metrics, nullptr).value();
    outbox->SetSink(Transport::kJetStream, &sink);
    outbox->Start();
    REQUIRE(WaitFor([&] { return sink.calls.load() >= 1; }));
    outbox->Stop();  // gives up after drain_on_stop_ms
    CHECK(outbox->pending() == 1);
  }
  CHECK(h.Int("SELECT COUNT(*) FROM dead_letters WHERE published_at IS NULL") == 1);
  sink.down = false;
  auto outbox = DeadLetterOutbox::Open(options, &metrics, nullptr).value();
  outbox->SetSink(Transport::kJetStream, &sink);
  outbox->Start();
  REQUIRE(WaitFor([&] { return sink.origins().size() == 1; }));
  outbox->Stop();
  CHECK(h.Int("SELECT COUNT(*) FROM dead_letters WHERE published_at IS NULL") == 0);
}

TEST_CASE("a dead letter the DLQ refuses for good is marked with the error, counted, not retried") {
  Harness t;
  t.nats.refuse = true;
  t.Record({Record("nats:BILLING:11", "{bad")});
  t.outbox->Start();
  REQUIRE(WaitFor([&] { return t.Unpublished() == 0; }));
  t.outbox->Stop();
  CHECK(t.nats.calls.load() == 1);
  CHECK(t.h.Text("SELECT publish_error FROM dead_letters") ==
        "invalid argument: message too large");
  CHECK(t.metrics.counter("ingest_dead_letter_publish_failures_total", "")->value() == 1);
}

TEST_CASE("an oversized dead letter goes to the DLQ truncated and marked; the row keeps it all") {
  OutboxOptions options;
  options.max_payload_bytes = 100;
  Harness t(options);
  const std::string big(2'000, 'x');
  t.Record({Record("nats:BILLING:8", big), Record("nats:BILLING:9", "{short")});
  t.outbox->Start();
  REQUIRE(WaitFor([&] { return t.Unpublished() == 0; }));
  t.outbox->Stop();
  const auto sent = t.nats.sent();
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].message.payload == big.substr(0, 100));
  const std::string* marker = FindHeader(sent[0].message.headers, kPayloadTruncatedHeader);
  REQUIRE(marker != nullptr);
  CHECK(*marker == "2000");
  CHECK(sent[1].message.payload == "{short");
  CHECK(FindHeader(sent[1].message.headers, kPayloadTruncatedHeader) == nullptr);
  CHECK(t.h.Int("SELECT length(payload) FROM dead_letters WHERE origin = 'nats:BILLING:8'") ==
        2'000);
}

TEST_CASE("a new poison message at a reused origin is a new dead letter, a replay is not") {
  // A stream deleted and recreated restarts its sequence numbers: the same origin with other
  // bytes is another message.
  StoreHarness h;
  REQUIRE(h.store().Begin().ok());
  CHECK(h.store().RecordDeadLetter(Record("nats:BILLING:1", "{first")).value() ==
        DeadLetterState::kNew);
  CHECK(h.store().RecordDeadLetter(Record("nats:BILLING:1", "{first")).value() ==
        DeadLetterState::kKnown);
  CHECK(h.store().RecordDeadLetter(Record("nats:BILLING:1", "{second")).value() ==
        DeadLetterState::kNew);
  REQUIRE(h.store().Commit().ok());
  CHECK(h.Int("SELECT COUNT(*) FROM dead_letters WHERE origin = 'nats:BILLING:1'") == 2);
  // A row from before dead letters had a digest stands for any payload at its origin.
  REQUIRE(h.Exec("UPDATE dead_letters SET digest = '' WHERE id = (SELECT MIN(id) FROM dead_letters)").ok());
  REQUIRE(h.store().Begin().ok());
  CHECK(h.store().RecordDeadLetter(Record("nats:BILLING:1", "{third")).value() ==
        DeadLetterState::kKnown);
  REQUIRE(h.store().Commit().ok());
}

TEST_CASE("end to end on the real store: bad messages are acked while the DLQ is down") {
  StoreHarness h;
  ManualClock clock;
  Metrics metrics;
  auto schemas = SchemaRegistry::LoadEmbedded();
  REQUIRE(schemas.ok());
  RecordingSink sink;
  sink.down = true;
  OutboxOptions options;
  options.db_path = h.path();
  options.retry_base_ms = 20;
  options.retry_max_ms = 50;
  auto outbox = DeadLetterOutbox::Open(options, &metrics, nullptr).value();
  outbox->SetSink(Transport::kJetStream, &sink);
  Pipeline pipeline(PipelineOptions{}, &h.store(), schemas->get(), &metrics, &clock);
  pipeline.SetDeadLetterListener([&] { outbox->Wake(); });
  pipeline.Start();
  outbox->Start();

  std::mutex mu;
  std::vector<Settlement> settled;
  auto submit = [&](std::vector<RawMessage> messages) {
    InboundBatch batch;
    batch.messages = std::move(messages);
    batch.on_settled = [&](std::vector<Settlement>&& s) {
      std::lock_guard<std::mutex> lock(mu);
      settled.insert(settled.end(), s.begin(), s.end());
    };
    REQUIRE(pipeline.Submit(std::move(batch)));
  };
  auto message = [](const std::string& payload, const std::string& origin) {
    RawMessage m;
    m.payload = payload;
    m.transport = Transport::kJetStream;
    m.subject = "billing.invoice.issued";
    m.origin = origin;
    return m;
  };
  submit({message("[1,2", "nats:BILLING:4"), message("{\"x\":", "nats:BILLING:5")});
  REQUIRE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return settled.size() == 2;
  }));
  for (const Settlement& s : settled) CHECK(s.verdict == Verdict::kAck);  // not held by the DLQ
  CHECK(metrics.counter("ingest_dead_letters_total", "", {{"reason", "parse"}})->value() == 2);
  CHECK(sink.sent().empty());
  // A replay of a recorded dead letter: acked, no second row.
  submit({message("[1,2", "nats:BILLING:4")});
  REQUIRE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return settled.size() == 3;
  }));
  CHECK(metrics.counter("ingest_redeliveries_total", "")->value() == 1);
  sink.down = false;
  REQUIRE(WaitFor([&] { return sink.origins().size() == 2; }));
  pipeline.Stop();
  outbox->Stop();
  CHECK(sink.origins() == std::vector<std::string>{"nats:BILLING:4", "nats:BILLING:5"});
  CHECK(h.Int("SELECT COUNT(*) FROM dead_letters") == 2);
  CHECK(h.Int("SELECT COUNT(*) FROM dead_letters WHERE published_at IS NULL") == 0);
}
