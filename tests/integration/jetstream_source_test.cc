// Specification of JetStreamSource against a real 1-node nats-server and a fake BatchSink that
// records what it receives and settles it by a per-test policy (on its own "writer" thread).
#include <atomic>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "common/clock.h"
#include "harness/infra/nats_cluster.h"
#include "harness/infra/ports.h"
#include "system/nats/jetstream_source.h"
#include "system/sha256.h"
#include "tests/integration/nats_test_util.h"
#include "tests/integration/test_nats.h"
#include "tests/support/batch_worker.h"

using namespace ingestlab;
using ingestlab::testing::BatchWorker;
using ingestlab::testing::JsTestClient;
using ingestlab::testing::WaitUntil;

namespace {

struct Delivery {
  RawMessage msg;
  int64_t at_ms = 0;
};

// Records every delivery; settles each batch on its own thread according to `policy`
// (nullopt = hold the batch unsettled until ReleaseHeld()).
class FakeSink final : public BatchSink {
 public:
  using Policy = std::function<std::optional<Settlement>(const RawMessage&)>;

  void SetPolicy(Policy p) {
    std::lock_guard<std::mutex> lock(mu_);
    policy_ = std::move(p);
  }
  bool Submit(InboundBatch batch) override { return worker_.Submit(std::move(batch)); }
  bool TrySubmit(InboundBatch& batch) override { return Submit(std::move(batch)); }

  std::vector<Delivery> deliveries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return deliveries_;
  }
  size_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return deliveries_.size();
  }
  void ReleaseHeld() {
    std::vector<InboundBatch> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.swap(held_);
    }
    for (auto& b : held) b.on_settled(std::vector<Settlement>(b.messages.size()));
  }

 private:
  void Settle(InboundBatch batch) {
    Policy policy;
    {
      std::lock_guard<std::mutex> lock(mu_);
      policy = policy_;
      const int64_t now = Clock::System().NowUnixMillis();
      for (const RawMessage& m : batch.messages) deliveries_.push_back({m, now});
    }
    std::vector<Settlement> settlements;
    bool hold = false;
    for (const RawMessage& m : batch.messages) {
      std::optional<Settlement> s = policy ? policy(m) : Settlement{};
      if (!s) hold = true;
      settlements.push_back(s.value_or(Settlement{}));
    }
    if (hold) {
      std::lock_guard<std::mutex> lock(mu_);
      held_.push_back(std::move(batch));
      return;
    }
    batch.on_settled(std::move(settlements));
  }

  mutable std::mutex mu_;
  std::vector<InboundBatch> held_;
  std::vector<Delivery> deliveries_;
  Policy policy_;
  BatchWorker worker_{[this](InboundBatch batch) { Settle(std::move(batch)); }};
};

struct Broker : ingestlab::testing::TestNats {
  Broker() : TestNats("js-source") {}
};

JetStreamOptions OptionsFor(const NatsCluster& cluster) {
  JetStreamOptions o;
  o.urls = {cluster.urls()};
  o.fetch_wait_ms = 20;
  return o;
}

std::unique_ptr<JetStreamSource> MustCreate(JetStreamOptions o, FakeSink* sink, Metrics* metrics) {
  auto src = JetStreamSource::Create(std::move(o), sink, metrics, &Clock::System());
  REQUIRE(src.ok());
  return std::move(src).value();
}

// A 1-node broker, metrics and a FakeSink for the source under test.
struct SourceFixture {
  Broker broker;
  Metrics metrics;
  FakeSink sink;

  std::unique_ptr<JetStreamSource> Create() {
    return MustCreate(OptionsFor(*broker.cluster), &sink, &metrics);
  }
  // Created with `options` (OptionsFor(*broker.cluster) when omitted) and started.
  std::unique_ptr<JetStreamSource> Started(std::optional<JetStreamOptions> options = {}) {
    auto source = MustCreate(options.value_or(OptionsFor(*broker.cluster)), &sink, &metrics);
    REQUIRE(source->Start().ok());
    return source;
  }
  // Publishes `n` copies of `payload` on `subject` with a client of its own.
  void Publish(const std::string& subject, const std::string& payload, int n = 1) {
    JsTestClient client(broker.cluster->urls());
    for (int i = 0; i < n; ++i) REQUIRE(client.Publish(subject, payload) == NATS_OK);
  }
};

// Waits until the sink saw at least `n` distinct origins; those it saw.
std::set<std::string> AwaitOrigins(const FakeSink& sink, size_t n, int64_t timeout_ms) {
  std::set<std::string> origins;
  WaitUntil(
      [&] {
        origins.clear();
        for (const Delivery& d : sink.deliveries()) origins.insert(d.msg.origin);
        return origins.size() >= n;
      },
      timeout_ms);
  return origins;
}

// A poison message at `origin` and the dead-letter record the pipeline would make of it.
struct Poison {
  RawMessage original;
  DeadLetterRecord record;
};

Poison PoisonAt(const std::string& origin, const std::string& error) {
  Poison p;
  p.original.payload = "{not json";
  p.original.subject = "billing.purchase.completed";
  p.original.origin = origin;
  p.original.attempts = 1;
  p.record.origin = origin;
  p.record.subject = p.original.subject;
  p.record.reason = "parse";
  p.record.error = error;
  p.record.attempts = 1;
  p.record.payload = p.original.payload;
  return p;
}

int64_t CounterValue(Metrics& metrics, const std::string& line_prefix) {
  const std::string text = metrics.RenderPrometheus();
  const size_t at = text.find(line_prefix);
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + line_prefix.size()));
}

}  // namespace

TEST_CASE("JetStreamSource refuses a BackOff step shorter than AckWait instead of raising it") {
  FakeSink sink;
  Metrics metrics;
  JetStreamOptions o;
  o.urls = {"nats://127.0.0.1:1"};  // never dialled: the options are refused first
  o.ack_wait_ms = 10'000;
  o.server_max_deliver = 5;
  o.backoff_ms = {10'000, 500};
  auto refused = JetStreamSource::Create(o, &sink, &metrics, &Clock::System());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Status::Code::kInvalidArgument);
  CHECK(refused.status().message() ==
        "nats: backoff step 500 ms is shorter than ack_wait_ms (10000 ms); every step must be at "
        "least the AckWait");
}

TEST_CASE_METHOD(SourceFixture, "JetStreamSource creates the contract's streams idempotently") {
  Started()->Stop();
  JsTestClient client(broker.cluster->urls());
  for (const StreamSpec& spec : DefaultStreams()) {
    INFO(spec.name);
    CHECK(client.StreamSubjects(spec.name) == spec.subjects);
    client.WithStreamInfo(spec.name, [](jsStreamInfo* si) {
      CHECK(si->Config->Storage == js_FileStorage);
      CHECK(si->Config->Duplicates == 120'000'000'000LL);
      CHECK(si->Config->Replicas == 1);  // min(3, cluster size 1)
    });
  }
  bool consumer_found =
      client.WithConsumerInfo("LEARNING", "ingestd-LEARNING", [](jsConsumerInfo* ci) {
        CHECK(ci->Config->AckPolicy == js_AckExplicit);
        // Unlimited: ingestd, not the server, decides when a message failed too often.
        CHECK(ci->Config->MaxDeliver == -1);
        CHECK(ci->Config->BackOffLen == 0);
        CHECK(ci->Config->AckWait == 10'000'000'000LL);
        CHECK(ci->Config->DeliverPolicy == js_DeliverAll);
      });
  CHECK(consumer_found);
  CHECK(!client.WithConsumerInfo("DLQ", "ingestd-DLQ", [](jsConsumerInfo*) {}));

  SECTION("a second source starts against the existing streams and consumers") {
    auto again = Create();
    CHECK(again->Start().ok());
    CHECK(WaitUntil([&] { return again->Health().connected; }, 5000));
    again->Stop();
  }
}

TEST_CASE_METHOD(SourceFixture,
                 "JetStreamSource reports a stream whose subjects differ and leaves it alone") {
  JsTestClient client(broker.cluster->urls());
  client.AddStream("BILLING", {"billing.only"});
  auto source = Create();
  Status st = source->Start();
  REQUIRE(!st.ok());
  CHECK_THAT(st.message(), Catch::Contains("BILLING") && Catch::Contains("[billing.only]") &&
                               Catch::Contains("[billing.>]"));
  CHECK(client.StreamSubjects("BILLING") == std::vector<std::string>{"billing.only"});
}

TEST_CASE_METHOD(
    SourceFixture,
    "JetStreamSource delivers every published message with origin, attempts, headers") {
  auto source = Started();

  JsTestClient client(broker.cluster->urls());
  constexpr int kCount = 500;
  for (int i = 0; i < kCount; ++i) {
    REQUIRE(client.Publish("billing.purchase.completed", "{\"n\":" + std::to_string(i) + "}",
                           {{"Nats-Msg-Id", "evt-" + std::to_string(i)}, {"X-Trace", "t"}}) ==
            NATS_OK);
  }
  REQUIRE(client.Publish("homework.question.asked", "{}") == NATS_OK);
  REQUIRE(WaitUntil([&] { return sink.count() >= kCount + 1; }, 10'000));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // nothing extra arrives
  auto deliveries = sink.deliveries();
  REQUIRE(deliveries.size() == kCount + 1);

  std::set<std::string> origins;
  for (const Delivery& d : deliveries) {
    const RawMessage& m = d.msg;
    origins.insert(m.origin);
    CHECK(m.attempts == 1);
    CHECK(m.transport == Transport::kJetStream);
    CHECK(m.received_at_ms > 0);
    if (m.subject == "homework.question.asked") {
      CHECK(m.origin == "nats:LEARNING:1");
      CHECK(m.headers.empty());
      continue;
    }
    CHECK(m.subject == "billing.purchase.completed");
    const std::string* id = FindHeader(m.headers, "Nats-Msg-Id");
    REQUIRE(id != nullptr);
    const int n = std::stoi(id->substr(4));
    CHECK(m.payload == "{\"n\":" + std::to_string(n) + "}");
    CHECK(m.origin == "nats:BILLING:" + std::to_string(n + 1));
    const std::string* trace = FindHeader(m.headers, "x-trace");
    REQUIRE(trace != nullptr);
    CHECK(*trace == "t");
  }
  CHECK(origins.size() == kCount + 1);

  // Acked: nothing pending or awaiting ack on the consumer; Health reports zero lag.
  CHECK(WaitUntil(
      [&] {
        int64_t outstanding = -1;
        client.WithConsumerInfo("BILLING", "ingestd-BILLING", [&](jsConsumerInfo* ci) {
          outstanding = ci->NumAckPending + static_cast<int64_t>(ci->NumPending);
        });
        return outstanding == 0;
      },
      5000));
  CHECK(WaitUntil(
      [&] {
        SourceHealth h = source->Health();
        return h.connected && h.lag.count("BILLING") && h.lag["BILLING"] == 0 && h.in_flight == 0;
      },
      5000));
  source->Stop();
  CHECK(CounterValue(metrics, "ingest_source_messages_total{transport=\"nats\"} ") == kCount + 1);
}

TEST_CASE_METHOD(SourceFixture,
                 "JetStreamSource redelivers a kRetry message after its delay with attempts 2") {
  sink.SetPolicy([](const RawMessage& m) -> std::optional<Settlement> {
    if (m.attempts == 1) return Settlement{Verdict::kRetry, 400};
    return Settlement{};
  });
  auto source = Started();
  Publish("support.ticket.created", "{\"t\":1}");
  REQUIRE(WaitUntil([&] { return sink.count() >= 2; }, 10'000));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto d = sink.deliveries();
  REQUIRE(d.size() == 2);  // acked on the second delivery: no third
  CHECK(d[0].msg.attempts == 1);
  CHECK(d[1].msg.attempts == 2);
  CHECK(d[0].msg.origin == d[1].msg.origin);
  CHECK(d[1].msg.payload == "{\"t\":1}");
  CHECK(d[1].at_ms - d[0].at_ms >= 350);
  source->Stop();
}

TEST_CASE_METHOD(SourceFixture,
                 "JetStreamSource keeps a message it holds alive past AckWait, then acks it once") {
  std::atomic<int> seen{0};
  sink.SetPolicy([&](const RawMessage&) -> std::optional<Settlement> {
    if (seen.fetch_add(1) == 0) return std::nullopt;  // hold the first delivery
    return Settlement{};
  });
  JetStreamOptions options = OptionsFor(*broker.cluster);
  options.ack_wait_ms = 600;
  auto source = Started(options);
  Publish("auth.user.login.failed", "{}");
  REQUIRE(WaitUntil([&] { return sink.count() >= 1; }, 5000));
  CHECK(source->Health().in_flight == 1);
  // Held for four AckWaits (a store stalled by a lock): in-progress acks keep the server from
  // redelivering it meanwhile.
  std::this_thread::sleep_for(std::chrono::milliseconds(2400));
  CHECK(sink.count() == 1);
  CHECK(metrics.counter("ingest_nats_in_progress_acks_total", "")->value() >= 3);
  sink.ReleaseHeld();
  CHECK(WaitUntil([&] { return source->Health().in_flight == 0; }, 2000));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(sink.count() == 1);  // acked once settled: never delivered again
  source->Stop();
}

TEST_CASE_METHOD(SourceFixture,
                 "JetStreamSource's dead-letter sink publishes to dlq.<subject> with headers") {
  auto source = Started();
  Poison poison = PoisonAt("nats:BILLING:7", "envelope: not JSON");
  auto& original = poison.original;
  auto& record = poison.record;
  REQUIRE(source->dead_letter_sink()->Publish(original, record).ok());
  REQUIRE(source->dead_letter_sink()->Publish(original, record).ok());  // idempotent

  JsTestClient client(broker.cluster->urls());
  CHECK(client.StreamMessages("DLQ") == 1);
  auto dead = client.LastMessage("DLQ", "dlq.billing.purchase.completed");
  CHECK(dead.sequence == 1);
  CHECK(dead.payload == "{not json");
  CHECK(dead.headers["Ingest-Reason"] == "parse");
  CHECK(dead.headers["Ingest-Error"] == "envelope: not JSON");
  CHECK(dead.headers["Ingest-Attempts"] == "1");
  CHECK(dead.headers["Ingest-Origin"] == "nats:BILLING:7");
  CHECK(dead.headers["Nats-Msg-Id"] == "dlq:nats:BILLING:7:" + Sha256Hex("{not json").substr(0, 16));

  // Another message at the same origin (the stream was deleted and recreated, so its sequence
  // numbers started again) is not taken for a repeat of the first.
  original.payload = record.payload = "{other poison";
  REQUIRE(source->dead_letter_sink()->Publish(original, record).ok());
  CHECK(client.StreamMessages("DLQ") == 2);
  source->Stop();
}

TEST_CASE_METHOD(
    SourceFixture,
    "JetStreamSource may be asked for its health and sent dead letters while it starts") {
  // ingestd serves /healthz before it starts its sources, and its pipeline may dead-letter a
  // message from another source meanwhile: Health and the dead-letter sink run on those threads
  // while Start connects (ThreadSanitizer checks this in scripts/sanitize.sh tsan).
  auto source = Create();
  Poison poison = PoisonAt("kafka:billing.events:0:1", "not JSON");
  auto& original = poison.original;
  auto& record = poison.record;
  std::atomic<bool> started{false};
  std::thread health([&] {
    while (!started.load()) (void)source->Health();
  });
  std::thread dead_letters([&] {
    while (!started.load()) {
      // "not connected yet" (Transient) until Start has a JetStream context; never a crash.
      (void)source->dead_letter_sink()->Publish(original, record);
    }
  });
  const Status st = source->Start();
  started = true;
  health.join();
  dead_letters.join();
  REQUIRE(st.ok());
  CHECK(WaitUntil([&] { return source->Health().connected; }, 5000));
  CHECK(source->dead_letter_sink()->Publish(original, record).ok());
  source->Stop();
}

TEST_CASE_METHOD(SourceFixture,
                 "JetStreamSource reconnects after nats-server restarts and keeps delivering") {
  auto source = Started();
  Publish("focus.ping", "{}", 100);
  REQUIRE(WaitUntil([&] { return sink.count() >= 100; }, 10'000));
  CHECK(source->Health().reconnects == 0);

  REQUIRE(broker.cluster->Kill(0).ok());
  CHECK(WaitUntil([&] { return !source->Health().connected; }, 5000));
  REQUIRE(broker.cluster->Restart(0).ok());
  CHECK(WaitUntil([&] { return source->Health().reconnects >= 1; }, 10'000));
  CHECK(CounterValue(metrics, "ingest_reconnects_total{transport=\"nats\"} ") >= 1);
  {
    JsTestClient client(broker.cluster->urls());
    for (int i = 0; i < 100; ++i) client.PublishRetrying("focus.ping", "{}");
  }
  const std::set<std::string> origins = AwaitOrigins(sink, 200, 15'000);
  REQUIRE(origins.size() >= 200);
  CHECK(origins.count("nats:FOCUS:200") == 1);
  source->Stop();
  CHECK(source->Health().in_flight == 0);
}

TEST_CASE("JetStreamSource on a 3-node cluster creates replicated streams and survives a node") {
  ingestlab::testing::TestNats nats("js-source-3", 3);
  NatsCluster& c = *nats.cluster;
  Metrics metrics;
  FakeSink sink;
  JetStreamOptions options;
  options.urls = {c.url(0)};  // the others are discovered from the server
  options.fetch_wait_ms = 20;
  auto source = MustCreate(options, &sink, &metrics);
  REQUIRE(source->Start().ok());
  REQUIRE(WaitUntil([&] { return source->Health().connected; }, 10'000));
  JsTestClient client(c.urls());
  client.WithStreamInfo("BILLING", [](jsStreamInfo* si) { CHECK(si->Config->Replicas == 3); });
  client.WithStreamInfo("DLQ", [](jsStreamInfo* si) { CHECK(si->Config->Replicas == 3); });

  for (int i = 0; i < 50; ++i) REQUIRE(client.Publish("billing.x", "{}") == NATS_OK);
  REQUIRE(WaitUntil([&] { return sink.count() >= 50; }, 10'000));
  REQUIRE(c.Kill(0).ok());  // the node the source was connected to
  for (int i = 0; i < 50; ++i) client.PublishRetrying("billing.x", "{}");
  // Leader elections after a kill can take several seconds on a loaded machine, and messages
  // the dead leader sent but we never saw come back after AckWait (10 s).
  const std::set<std::string> origins = AwaitOrigins(sink, 100, 30'000);
  INFO("distinct messages delivered: " << origins.size());
  CHECK(origins.size() >= 100);
  CHECK(source->Health().reconnects >= 1);
  source->Stop();
}

TEST_CASE_METHOD(SourceFixture,
                 "JetStreamSource re-creates streams and consumers when the broker lost its data") {
  auto source = Started();
  Publish("support.ticket.opened", "{\"n\":1}");
  REQUIRE(WaitUntil([&] { return sink.count() >= 1; }, 10'000));

  REQUIRE(broker.cluster->Stop(0).ok());
  std::error_code ec;
  std::filesystem::remove_all(broker.cluster->store_dir(0), ec);
  REQUIRE(broker.cluster->Restart(0).ok());

  JsTestClient client(broker.cluster->urls());
  REQUIRE(WaitUntil([&] { return !client.StreamSubjects("SUPPORT").empty(); }, 15'000));
  CHECK(WaitUntil([&] { return !client.StreamSubjects("DLQ").empty(); }, 5'000));
  client.PublishRetrying("support.ticket.opened", "{\"n\":2}");
  REQUIRE(WaitUntil([&] { return sink.count() >= 2; }, 15'000));
  CHECK(sink.deliveries().back().msg.payload == "{\"n\":2}");
  CHECK(sink.deliveries().back().msg.origin == "nats:SUPPORT:1");  // a new stream
  source->Stop();
}
