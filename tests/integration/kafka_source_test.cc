// KafkaSource against librdkafka's mock cluster in this process, with a fake BatchSink that
// settles batches on its own thread the way the pipeline's writer does.
// Specifies: delivery with the right origins, commit-after-store, ordered retries, the DLQ
// producer, surviving a broker outage, and exactly-once settlement across a group rebalance.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/clock.h"
#include "harness/infra/kafka_cluster.h"
#include "system/kafka/kafka_source.h"
#include "system/metrics.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/support/wait.h"

using namespace ingestlab;
using namespace std::chrono_literals;
using ingestlab::testing::WaitUntil;

namespace {

struct Delivery {
  int sink_id = 0;
  std::string origin;
  std::string subject;
  std::string key;
  std::string payload;
  Headers headers;
  Transport transport = Transport::kJetStream;
  int attempts = 0;
  Verdict verdict = Verdict::kAck;
  int64_t at_ms = 0;
};

// Settles batches on a worker thread, deciding each message with `decide` (ack by default).
// While held, batches queue up unsettled. TrySubmit refuses above `capacity` queued messages.
class FakeSink final : public BatchSink {
 public:
  using Decide = std::function<Settlement(const RawMessage&)>;
  explicit FakeSink(int id = 0, size_t capacity = 1'000'000) : id_(id), capacity_(capacity) {
    worker_ = std::thread([this] { Work(); });
  }
  ~FakeSink() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      held_ = false;
    }
    cv_.notify_all();
    worker_.join();
  }

  void set_decide(Decide decide) {
    std::lock_guard<std::mutex> lock(mu_);
    decide_ = std::move(decide);
  }
  void set_batch_delay(std::chrono::milliseconds delay) {
    std::lock_guard<std::mutex> lock(mu_);
    batch_delay_ = delay;
  }
  void set_held(bool held) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      held_ = held;
    }
    cv_.notify_all();
  }

  bool Submit(InboundBatch batch) override { return TrySubmit(batch); }
  bool TrySubmit(InboundBatch& batch) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return false;
    if (queued_ > 0 && queued_ + batch.messages.size() > capacity_) {
      refusals_++;
      return false;
    }
    queued_ += batch.messages.size();
    received_ += batch.messages.size();
    queue_.push_back(std::move(batch));
    cv_.notify_all();
    return true;
  }

  std::vector<Delivery> deliveries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return deliveries_;
  }
  size_t received() const {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  size_t refusals() const {
    std::lock_guard<std::mutex> lock(mu_);
    return refusals_;
  }

 private:
  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || (!held_ && !queue_.empty()); });
      if (queue_.empty()) return;
      InboundBatch batch = std::move(queue_.front());
      queue_.pop_front();
      queued_ -= batch.messages.size();
      std::vector<Settlement> settlements;
      for (const RawMessage& m : batch.messages) {
        Settlement s = decide_ ? decide_(m) : Settlement{};
        settlements.push_back(s);
        Delivery d{id_,       m.origin,    m.subject,  m.key,     m.payload,
                   m.headers, m.transport, m.attempts, s.verdict, Clock::System().NowUnixMillis()};
        deliveries_.push_back(std::move(d));
      }
      const auto delay = batch_delay_;
      lock.unlock();
      if (delay.count() > 0) std::this_thread::sleep_for(delay);
      batch.on_settled(std::move(settlements));
      lock.lock();
    }
  }

  const int id_;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<InboundBatch> queue_;
  size_t queued_ = 0;
  size_t received_ = 0;
  size_t refusals_ = 0;
  bool held_ = false;
  bool stop_ = false;
  std::chrono::milliseconds batch_delay_{0};
  Decide decide_;
  std::vector<Delivery> deliveries_;
  std::thread worker_;
};

// Record i of a numbered stream on crm.leads: key "k<i>", value "<i>".
KafkaRecord NumberedLead(int i) {
  return {"crm.leads", -1, "k" + std::to_string(i), std::to_string(i), {}};
}

std::unique_ptr<KafkaMockCluster> StartCluster() {
  auto cluster = KafkaMockCluster::Start();
  REQUIRE(cluster.ok());
  return std::move(cluster).value();
}

std::unique_ptr<KafkaSource> MakeSource(const KafkaMockCluster& cluster, const std::string& group,
                                        BatchSink* sink, Metrics* metrics,
                                        std::vector<std::string> topics = {"crm.leads"},
                                        std::map<std::string, std::string> properties = {}) {
  KafkaOptions options;
  options.bootstrap = cluster.bootstrap();
  options.group_id = group;
  options.topics = std::move(topics);
  options.batch_max_messages = 100;
  options.properties = std::move(properties);
  auto source = KafkaSource::Create(options, sink, metrics, &Clock::System());
  REQUIRE(source.ok());
  return std::move(source).value();
}

// Produces `per_partition` messages to each of the 4 partitions of `topic`; payload "p<P>-<i>".
void ProduceToPartitions(const KafkaMockCluster& cluster, const std::string& topic,
                         int per_partition) {
  auto producer = KafkaTestProducer::Create(cluster.bootstrap());
  REQUIRE(producer.ok());
  for (int i = 0; i < per_partition; ++i) {
    for (int p = 0; p < 4; ++p) {
      KafkaRecord rec;
      rec.topic = topic;
      rec.partition = p;
      rec.key = "lead-" + std::to_string(p);
      rec.value = "p" + std::to_string(p) + "-" + std::to_string(i);
      rec.headers = {{"ce_id", rec.value}, {"trace", "t" + std::to_string(i)}};
      REQUIRE((*producer)->Produce(rec).ok());
    }
  }
  REQUIRE((*producer)->Flush().ok());
}

std::map<std::string, int> AckedOrigins(const std::vector<Delivery>& deliveries) {
  std::map<std::string, int> counts;
  for (const auto& d : deliveries) {
    if (d.verdict == Verdict::kAck) counts[d.origin]++;
  }
  return counts;
}

}  // namespace

TEST_CASE("every produced message is delivered once with its topic/partition/offset origin",
          "[kafka]") {
  auto cluster = StartCluster();
  ProduceToPartitions(*cluster, "crm.leads", 50);
  auto produced = ReadTopic(cluster->bootstrap(), "crm.leads");
  REQUIRE(produced.ok());
  REQUIRE(produced->size() == 200);

  Metrics metrics;
  FakeSink sink;
  auto source = MakeSource(*cluster, "delivery", &sink, &metrics);
  REQUIRE(source->Start().ok());
  REQUIRE(WaitUntil([&] { return sink.received() >= 200; }, 20s));
  source->Stop();

  const auto deliveries = sink.deliveries();
  CHECK(deliveries.size() == 200);
  std::map<std::string, const Delivery*> by_origin;
  for (const auto& d : deliveries) by_origin[d.origin] = &d;
  for (const auto& rec : *produced) {
    const std::string origin =
        "kafka:crm.leads:" + std::to_string(rec.partition) + ":" + std::to_string(rec.offset);
    INFO(origin);
    REQUIRE(by_origin.count(origin) == 1);
    const Delivery& d = *by_origin[origin];
    CHECK(d.payload == rec.value);
    CHECK(d.key == rec.key);
    CHECK(d.subject == "crm.leads");
    CHECK(d.transport == Transport::kKafka);
    CHECK(d.attempts == 1);
    const std::string* ce_id = FindHeader(d.headers, "ce_id");
    REQUIRE(ce_id != nullptr);
    CHECK(*ce_id == rec.value);
    CHECK(FindHeader(d.headers, "trace") != nullptr);
  }

  SECTION("and the group's committed offsets reach the end of every partition") {
    auto committed = CommittedOffsets(cluster->bootstrap(), "delivery", "crm.leads");
    REQUIRE(committed.ok());
    for (int p = 0; p < 4; ++p) CHECK(committed->at(p) == 50);
  }
}

TEST_CASE("offsets are committed only after settlement, and a new member resumes from them",
          "[kafka]") {
  auto cluster = StartCluster();
  ProduceToPartitions(*cluster, "crm.leads", 40);
  Metrics metrics;
  {
    FakeSink sink;
    sink.set_held(true);
    auto source = MakeSource(*cluster, "resume", &sink, &metrics);
    REQUIRE(source->Start().ok());
    REQUIRE(WaitUntil([&] { return sink.received() >= 160; }, 20s));
    std::this_thread::sleep_for(300ms);
    // Everything is submitted and nothing settled: nothing may be committed yet.
    auto committed = CommittedOffsets(cluster->bootstrap(), "resume", "crm.leads");
    REQUIRE(committed.ok());
    for (const auto& [p, offset] : *committed) CHECK(offset < 0);
    CHECK(source->Health().in_flight == 160);

    // Settle the first half of every partition; the rest asks for a retry far in the future.
    sink.set_decide([](const RawMessage& m) {
      const int64_t offset = std::stoll(m.origin.substr(m.origin.rfind(':') + 1));
      return offset < 20 ? Settlement{} : Settlement{Verdict::kRetry, 60'000};
    });
    sink.set_held(false);
    REQUIRE(WaitUntil([&] { return source->Health().in_flight == 0; }, 10s));
    source->Stop();
    committed = CommittedOffsets(cluster->bootstrap(), "resume", "crm.leads");
    REQUIRE(committed.ok());
    for (int p = 0; p < 4; ++p) CHECK(committed->at(p) == 20);
  }
  FakeSink sink;
  auto source = MakeSource(*cluster, "resume", &sink, &metrics);
  REQUIRE(source->Start().ok());
  REQUIRE(WaitUntil([&] { return sink.received() >= 80; }, 20s));
  std::this_thread::sleep_for(200ms);
  source->Stop();
  const auto deliveries = sink.deliveries();
  CHECK(deliveries.size() == 80);
  for (const auto& d : deliveries) {
    const int64_t offset = std::stoll(d.origin.substr(d.origin.rfind(':') + 1));
    CHECK(offset >= 20);
  }
  CHECK(AckedOrigins(deliveries).size() == 80);
}

TEST_CASE("a member that resumes at the end of its partitions reports no lag", "[kafka]") {
  auto cluster = StartCluster();
  ProduceToPartitions(*cluster, "crm.leads", 40);
  Metrics metrics;
  {
    FakeSink sink;
    auto source = MakeSource(*cluster, "caught-up", &sink, &metrics);
    REQUIRE(source->Start().ok());
    REQUIRE(WaitUntil([&] { return sink.received() >= 160; }, 20s));
    REQUIRE(WaitUntil([&] { return source->Health().in_flight == 0; }, 10s));
    source->Stop();
  }
  // Everything is committed: the next member fetches nothing, so librdkafka has no position
  // for its partitions. Their lag is 0 or unknown, never the 40 messages below the commit.
  FakeSink sink;
  auto source = MakeSource(*cluster, "caught-up", &sink, &metrics);
  REQUIRE(source->Start().ok());
  std::this_thread::sleep_for(6s);  // the first join, then several lag refreshes
  const SourceHealth health = source->Health();
  source->Stop();
  CHECK(sink.received() == 0);
  for (const auto& [partition, lag] : health.lag) {
    INFO(partition);
    CHECK(lag == 0);
  }
}

TEST_CASE("kRetry redelivers from the retried offset, in order, after the delay", "[kafka]") {
  auto cluster = StartCluster();
  auto producer = KafkaTestProducer::Create(cluster->bootstrap());
  REQUIRE(producer.ok());
  for (int i = 0; i < 60; ++i) {
    REQUIRE((*producer)->Produce({"crm.leads", 0, "k", std::to_string(i), {}}).ok());
  }
  REQUIRE((*producer)->Flush().ok());

  Metrics metrics;
  FakeSink sink;
  // Message 10 fails transiently on its first two deliveries.
  sink.set_decide([](const RawMessage& m) {
    if (m.payload == "10" && m.attempts < 3) return Settlement{Verdict::kRetry, 200};
    return Settlement{};
  });
  auto source = MakeSource(*cluster, "retry", &sink, &metrics);
  REQUIRE(source->Start().ok());
  REQUIRE(WaitUntil(
      [&] {
        auto acked = AckedOrigins(sink.deliveries());
        return acked.size() == 60 && acked.count("kafka:crm.leads:0:10");
      },
      20s));
  std::this_thread::sleep_for(100ms);
  source->Stop();

  const auto deliveries = sink.deliveries();
  std::vector<int> seq;
  std::vector<int> attempts_of_10;
  std::vector<int64_t> times_of_10;
  for (const auto& d : deliveries) {
    seq.push_back(std::stoi(d.payload));
    if (d.payload == "10") {
      attempts_of_10.push_back(d.attempts);
      times_of_10.push_back(d.at_ms);
    }
  }
  CHECK(attempts_of_10 == std::vector<int>{1, 2, 3});
  // Every step back in the delivery order goes back exactly to the retried message.
  int rewinds = 0;
  for (size_t i = 1; i < seq.size(); ++i) {
    if (seq[i] <= seq[i - 1]) {
      rewinds++;
      CHECK(seq[i] == 10);
    } else {
      CHECK(seq[i] == seq[i - 1] + 1);
    }
  }
  CHECK(rewinds == 2);
  REQUIRE(times_of_10.size() == 3);
  CHECK(times_of_10[1] - times_of_10[0] >= 150);
  CHECK(times_of_10[2] - times_of_10[1] >= 150);
  // Committed past everything once 10 succeeded.
  auto committed = CommittedOffsets(cluster->bootstrap(), "retry", "crm.leads");
  REQUIRE(committed.ok());
  CHECK(committed->at(0) == 60);
}

TEST_CASE("a full sink pauses the partitions; nothing is skipped or repeated", "[kafka]") {
  auto cluster = StartCluster();
  ProduceToPartitions(*cluster, "crm.leads", 500);
  Metrics metrics;
  FakeSink sink(0, /*capacity=*/150);  // room for one batch of 100 at a time
  sink.set_batch_delay(5ms);
  auto source = MakeSource(*cluster, "backpressure", &sink, &metrics);
  REQUIRE(source->Start().ok());
  REQUIRE(WaitUntil([&] { return sink.received() >= 2000; }, 30s));
  // Lag (high watermark - position) is refreshed once a second; all consumed means 0 each.
  CHECK(WaitUntil(
      [&] {
        const auto lag = source->Health().lag;
        return lag.size() == 4 && lag.count("crm.leads/0") &&
               std::all_of(lag.begin(), lag.end(), [](const auto& kv) { return kv.second == 0; });
      },
      5s));
  source->Stop();

  CHECK(sink.refusals() > 0);
  CHECK(metrics.counter("ingest_kafka_backpressure_pauses_total", "")->value() > 0);
  const auto deliveries = sink.deliveries();
  CHECK(deliveries.size() == 2000);
  // Per partition the offsets arrive exactly once each, in order, without gaps.
  std::map<std::string, int64_t> next;
  for (const auto& d : deliveries) {
    const size_t last = d.origin.rfind(':');
    const std::string partition = d.origin.substr(0, last);
    const int64_t offset = std::stoll(d.origin.substr(last + 1));
    INFO(d.origin);
    CHECK(offset == next[partition]);
    next[partition] = offset + 1;
  }
  CHECK(next.size() == 4);
  auto committed = CommittedOffsets(cluster->bootstrap(), "backpressure", "crm.leads");
  REQUIRE(committed.ok());
  for (int p = 0; p < 4; ++p) CHECK(committed->at(p) == 500);
}

TEST_CASE("a bad librdkafka property fails Create with librdkafka's message", "[kafka]") {
  Metrics metrics;
  FakeSink sink;
  KafkaOptions options;
  options.bootstrap = "127.0.0.1:1";
  options.properties = {{"kafka.fetch.wait.max.ms", "soon"}};
  auto bad_value = KafkaSource::Create(options, &sink, &metrics, &Clock::System());
  REQUIRE(!bad_value.ok());
  CHECK(bad_value.status().message().find("fetch.wait.max.ms") != std::string::npos);
  CHECK(bad_value.status().message().find("Invalid value") != std::string::npos);

  options.properties = {{"no.such.property", "1"}};
  auto bad_key = KafkaSource::Create(options, &sink, &metrics, &Clock::System());
  REQUIRE(!bad_key.ok());
  CHECK(bad_key.status().message().find("No such configuration property") != std::string::npos);

  options.properties = {{"kafka.client.id", "custom"}};
  CHECK(KafkaSource::Create(options, &sink, &metrics, &Clock::System()).ok());
}

TEST_CASE("the dead-letter sink writes to <topic>.dlq with the promised headers", "[kafka]") {
  auto cluster = StartCluster();
  Metrics metrics;
  FakeSink sink;
  auto source = MakeSource(*cluster, "dlq", &sink, &metrics);
  RawMessage original;
  original.transport = Transport::kKafka;
  original.subject = "crm.contacts";
  original.key = "contact-7";
  original.payload = "{not json";
  original.origin = "kafka:crm.contacts:3:17";
  original.headers = {{"ce_type", "crm.contact.created"}};
  original.attempts = 1;
  DeadLetterRecord record{original.origin,  original.subject, "parse", "envelope: not JSON", 1,
                          original.payload, original.headers, original.key};
  REQUIRE(source->dead_letter_sink()->Publish(original, record).ok());

  // Publish returned only after the delivery report: the message is already readable.
  auto dlq = ReadTopic(cluster->bootstrap(), "crm.contacts.dlq", 5'000);
  REQUIRE(dlq.ok());
  REQUIRE(dlq->size() == 1);
  const KafkaReadRecord& rec = dlq->front();
  CHECK(rec.value == "{not json");
  CHECK(rec.key == "contact-7");
  std::map<std::string, std::string> headers(rec.headers.begin(), rec.headers.end());
  CHECK(headers["reason"] == "parse");
  CHECK(headers["error"] == "envelope: not JSON");
  CHECK(headers["attempts"] == "1");
  CHECK(headers["topic"] == "crm.contacts");
  CHECK(headers["partition"] == "3");
  CHECK(headers["offset"] == "17");
  CHECK(headers["origin"] == "kafka:crm.contacts:3:17");
  CHECK(headers["ce_type"] == "crm.contact.created");
}

TEST_CASE("a broker going down and up mid-stream loses nothing and counts the reconnect",
          "[kafka]") {
  auto cluster = StartCluster();
  // Broker 1 leads half of the partitions, so the consumer must reconnect to it.
  REQUIRE(cluster->SetPartitionLeader("crm.leads", 0, 1).ok());
  REQUIRE(cluster->SetPartitionLeader("crm.leads", 1, 1).ok());
  Metrics metrics;
  FakeSink sink;
  auto source = MakeSource(*cluster, "outage", &sink, &metrics);
  REQUIRE(source->Start().ok());

  constexpr int kTotal = 2'000;
  testing::BackgroundProducer producer(cluster->bootstrap(), kTotal, 100, 30ms, NumberedLead);
  REQUIRE(WaitUntil([&] { return sink.received() >= 300; }, 20s));
  REQUIRE(cluster->BrokerDown(1).ok());
  std::this_thread::sleep_for(1500ms);
  REQUIRE(cluster->BrokerUp(1).ok());
  REQUIRE(producer.Finish());

  auto all_acked = [&] {
    std::set<std::string> payloads;
    for (const auto& d : sink.deliveries()) payloads.insert(d.payload);
    return payloads.size() == kTotal;
  };
  CHECK(WaitUntil(all_acked, 30s));
  CHECK(WaitUntil([&] { return source->Health().reconnects >= 1; }, 15s));
  CHECK(source->Health().connected);
  source->Stop();
  CHECK(metrics.RenderPrometheus().find("ingest_reconnects_total{transport=\"kafka\"}") !=
        std::string::npos);
}

// A second member joins mid-stream, with the consumer properties given (the rebalance protocol).
void SecondMemberJoins(const std::map<std::string, std::string>& properties) {
  auto cluster = StartCluster();
  Metrics metrics_a, metrics_b;
  FakeSink sink_a(1), sink_b(2);
  auto source_a =
      MakeSource(*cluster, "rebalance", &sink_a, &metrics_a, {"crm.leads"}, properties);
  REQUIRE(source_a->Start().ok());
  REQUIRE(WaitUntil(
      [&] { return source_a->Health().detail.find(" 4 partitions") != std::string::npos; }, 15s));

  // ~8 s of traffic, so the stream is still flowing while the group rebalances (~5 s).
  constexpr int kTotal = 2'400;
  testing::BackgroundProducer producer(cluster->bootstrap(), kTotal, 50, 160ms, NumberedLead);
  REQUIRE(WaitUntil([&] { return sink_a.received() >= 200; }, 20s));
  std::unique_ptr<KafkaSource> source_b =
      MakeSource(*cluster, "rebalance", &sink_b, &metrics_b, {"crm.leads"}, properties);
  REQUIRE(source_b->Start().ok());
  REQUIRE(producer.Finish());

  auto settled = [&] {
    std::set<std::string> origins;
    for (const auto& d : sink_a.deliveries()) origins.insert(d.origin);
    for (const auto& d : sink_b.deliveries()) origins.insert(d.origin);
    return origins.size();
  };
  CHECK(WaitUntil([&] { return settled() == kTotal; }, 40s));
  source_a->Stop();
  source_b->Stop();
  CHECK(settled() == kTotal);

  const auto b = AckedOrigins(sink_b.deliveries());
  CHECK(!b.empty());  // the newcomer got partitions and messages
  // A message is settled twice only if it was settled but not yet committed when the group moved
  // (the mock refuses commits from the moment a member asks to join, where a real broker accepts
  // them until the rejoin): so per partition the repeats are one contiguous run of offsets.
  std::map<std::string, int> all;
  for (const auto& d : sink_a.deliveries()) all[d.origin]++;
  for (const auto& d : sink_b.deliveries()) all[d.origin]++;
  std::map<int, std::vector<int64_t>> repeated;
  size_t repeats = 0;
  for (const auto& [origin, n] : all) {
    if (n == 1) continue;
    repeats++;
    const size_t last = origin.rfind(':');
    const size_t mid = origin.rfind(':', last - 1);
    repeated[std::stoi(origin.substr(mid + 1, last - mid - 1))].push_back(
        std::stoll(origin.substr(last + 1)));
  }
  for (auto& [p, offsets] : repeated) {
    std::sort(offsets.begin(), offsets.end());
    INFO("partition " << p);
    CHECK(offsets.back() - offsets.front() + 1 == static_cast<int64_t>(offsets.size()));
  }
  // How many fall in that window depends on how fast messages flow while the group moves, which
  // on a loaded machine varies several-fold; the contiguity above is what bounds them.
  WARN("settled twice (uncommitted at the handover): " << repeats);
  CHECK(repeats < kTotal);
}

TEST_CASE("a second member joining mid-stream: every message settled, repeats only at the handover",
          "[kafka]") {
  SecondMemberJoins({});  // librdkafka's default: eager (range,roundrobin)
}

// The incremental callback path (incremental_assign / incremental_unassign), opt-in.
TEST_CASE("cooperative-sticky: a second member joining mid-stream settles every message",
          "[kafka]") {
  SecondMemberJoins({{"partition.assignment.strategy", "cooperative-sticky"}});
}

TEST_CASE("offsets deleted by the broker before they were consumed are counted and logged as loss",
          "[kafka]") {
  auto cluster = StartCluster();
  auto producer = KafkaTestProducer::Create(cluster->bootstrap());
  REQUIRE(producer.ok());
  for (int i = 0; i < 10; ++i) {
    REQUIRE((*producer)->Produce({"crm.leads", 0, "k", "small-" + std::to_string(i), {}}).ok());
  }
  REQUIRE((*producer)->Flush().ok());

  Metrics metrics;
  FakeSink sink;
  // Offset 5 asks for a retry in 3 s: the partition is paused and will be sought back to 5.
  sink.set_decide([](const RawMessage& m) {
    if (m.origin == "kafka:crm.leads:0:5" && m.attempts == 1) {
      return Settlement{Verdict::kRetry, 3'000};
    }
    return Settlement{};
  });
  auto source = MakeSource(*cluster, "retention", &sink, &metrics);
  REQUIRE(source->Start().ok());
  REQUIRE(WaitUntil([&] { return sink.received() >= 10; }, 20s));

  // Meanwhile more than the mock's ~5 MB per partition arrives, one produce request each, so the
  // mock deletes the oldest batches, offset 5 among them, before the seek back happens.
  const std::string big(200'000, 'x');
  for (int i = 0; i < 30; ++i) {
    REQUIRE((*producer)->Produce({"crm.leads", 0, "k", big + std::to_string(i), {}}).ok());
    REQUIRE((*producer)->Flush().ok());
  }
  Counter* skipped = metrics.counter("ingest_kafka_skipped_offsets_total", "");
  REQUIRE(WaitUntil([&] { return skipped->value() > 0; }, 15s));
  // Everything still in the log is delivered after the jump.
  REQUIRE(WaitUntil(
      [&] { return AckedOrigins(sink.deliveries()).count("kafka:crm.leads:0:39") == 1; }, 15s));
  source->Stop();

  // The skipped count is exactly the offsets between the retried one and the log's new start.
  auto log = ReadTopic(cluster->bootstrap(), "crm.leads");
  REQUIRE(log.ok());
  int64_t log_start = INT64_MAX;
  for (const auto& rec : *log) {
    if (rec.partition == 0) log_start = std::min(log_start, rec.offset);
  }
  REQUIRE(log_start > 5);
  CHECK(skipped->value() == log_start - 5);
  CHECK(AckedOrigins(sink.deliveries()).count("kafka:crm.leads:0:5") == 0);
  CHECK(metrics.RenderPrometheus().find("ingest_kafka_skipped_offsets_total " +
                                        std::to_string(log_start - 5)) != std::string::npos);
}
