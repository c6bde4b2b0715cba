// A Kafka broker outage in the middle of steady idempotent production, against librdkafka's mock
// cluster in this process: what the producer was told was delivered must be readable from the
// cluster afterwards, and KafkaSource must hand every one of those messages to its sink.
// Mirrors the mixed-soak scenario (3 brokers, broker 1 down for 4 s, the simulator's idempotent
// acks=all producer, a consumer that joins while the broker is down).
#include <librdkafka/rdkafka.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/clock.h"
#include "harness/infra/kafka_cluster.h"
#include "system/kafka/kafka_source.h"
#include "system/metrics.h"
#include "tests/support/wait.h"

using namespace ingestlab;
using namespace std::chrono_literals;
using ingestlab::testing::WaitUntil;

namespace {

// Acks every message at once; remembers payloads by origin.
class RecordingSink final : public BatchSink {
 public:
  bool Submit(InboundBatch batch) override { return TrySubmit(batch); }
  bool TrySubmit(InboundBatch& batch) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const RawMessage& m : batch.messages) by_origin_[m.origin] = m.payload;
    }
    batch.on_settled(std::vector<Settlement>(batch.messages.size()));
    return true;
  }
  std::map<std::string, std::string> by_origin() const {
    std::lock_guard<std::mutex> lock(mu_);
    return by_origin_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> by_origin_;
};

// An idempotent acks=all producer (the simulator's settings) that records, per successful
// delivery report, the origin "kafka:<topic>:<partition>:<offset>" the broker assigned.
class AckRecordingProducer {
 public:
  explicit AckRecordingProducer(const std::string& bootstrap) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    for (const auto& [k, v] : std::map<std::string, std::string>{{"bootstrap.servers", bootstrap},
                                                                 {"enable.idempotence", "true"},
                                                                 {"acks", "all"},
                                                                 {"linger.ms", "5"},
                                                                 {"message.timeout.ms", "60000"}}) {
      REQUIRE(rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) == RD_KAFKA_CONF_OK);
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
      auto* self = static_cast<AckRecordingProducer*>(opaque);
      std::lock_guard<std::mutex> lock(self->mu_);
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        self->failed_++;
        return;
      }
      self->acked_["kafka:" + std::string(rd_kafka_topic_name(m->rkt)) + ":" +
                   std::to_string(m->partition) + ":" + std::to_string(m->offset)] =
          std::string(static_cast<const char*>(m->payload), m->len);
    });
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    REQUIRE(rk_ != nullptr);
    poller_ = std::thread([this] {
      while (!stop_.load()) rd_kafka_poll(rk_, 20);
    });
  }
  ~AckRecordingProducer() {
    rd_kafka_flush(rk_, 10'000);
    stop_ = true;
    poller_.join();
    rd_kafka_destroy(rk_);
  }
  // Runs on a producing thread, so it reports instead of asserting (Catch2 is not thread-safe).
  rd_kafka_resp_err_t Produce(const std::string& topic, int32_t partition,
                              const std::string& value) {
    for (;;) {
      rd_kafka_resp_err_t e = rd_kafka_producev(
          rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END);
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) return e;
      std::this_thread::sleep_for(5ms);
    }
  }
  bool Flush(int timeout_ms) {
    return rd_kafka_flush(rk_, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR;
  }
  std::map<std::string, std::string> acked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }
  int failed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failed_;
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  std::thread poller_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::map<std::string, std::string> acked_;
  int failed_ = 0;
};

}  // namespace

TEST_CASE("a 4 s broker outage during steady idempotent production: every acked message is stored",
          "[kafka]") {
  auto started = KafkaMockCluster::Start();
  REQUIRE(started.ok());
  auto cluster = std::move(started).value();
  REQUIRE(cluster->SetPartitionLeader("crm.leads", 0, 1).ok());
  REQUIRE(cluster->SetPartitionLeader("crm.leads", 1, 1).ok());
  REQUIRE(cluster->SetPartitionLeader("crm.leads", 2, 2).ok());
  REQUIRE(cluster->SetPartitionLeader("crm.leads", 3, 3).ok());

  AckRecordingProducer producer(cluster->bootstrap());
  std::atomic<bool> stop_producing{false};
  std::atomic<rd_kafka_resp_err_t> produce_error{RD_KAFKA_RESP_ERR_NO_ERROR};
  std::thread production([&] {
    for (int i = 0; !stop_producing.load(); ++i) {
      const rd_kafka_resp_err_t e = producer.Produce("crm.leads", i % 4, "m" + std::to_string(i));
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        produce_error = e;
        return;
      }
      std::this_thread::sleep_for(5ms);
    }
  });

  Metrics metrics;
  RecordingSink sink;
  KafkaOptions options;
  options.bootstrap = cluster->bootstrap();
  options.group_id = "outage-4s";
  options.topics = {"crm.leads"};
  options.batch_max_messages = 100;
  auto source = KafkaSource::Create(options, &sink, &metrics, &Clock::System());
  REQUIRE(source.ok());

  std::this_thread::sleep_for(1500ms);
  REQUIRE(cluster->BrokerDown(1).ok());
  std::this_thread::sleep_for(500ms);
  // The consumer joins while the broker is down, as the restarted ingestd does in the soak.
  REQUIRE((*source)->Start().ok());
  std::this_thread::sleep_for(3500ms);
  REQUIRE(cluster->BrokerUp(1).ok());
  std::this_thread::sleep_for(3000ms);
  stop_producing = true;
  production.join();
  REQUIRE(produce_error.load() == RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(producer.Flush(20'000));

  const auto acked = producer.acked();
  INFO("acked " << acked.size() << ", failed " << producer.failed());
  REQUIRE(acked.size() > 500);

  // What the cluster holds, read by a fresh consumer.
  auto stored = ReadTopic(cluster->bootstrap(), "crm.leads", 15'000);
  REQUIRE(stored.ok());
  std::map<std::string, std::string> in_cluster;
  for (const auto& rec : *stored) {
    in_cluster["kafka:crm.leads:" + std::to_string(rec.partition) + ":" +
               std::to_string(rec.offset)] = rec.value;
  }
  std::map<int, int> acked_not_in_cluster;
  for (const auto& [origin, payload] : acked) {
    auto it = in_cluster.find(origin);
    if (it == in_cluster.end() || it->second != payload) {
      acked_not_in_cluster[origin[std::string("kafka:crm.leads:").size()] - '0']++;
    }
  }
  CHECK(acked_not_in_cluster.empty());

  auto all_consumed = [&] {
    const auto consumed = sink.by_origin();
    for (const auto& [origin, payload] : acked) {
      if (!consumed.count(origin)) return false;
    }
    return true;
  };
  const bool consumed_all = WaitUntil(all_consumed, 15s);
  std::map<int, int> missing_by_partition;
  std::map<int, int64_t> first_missing;
  {
    const auto consumed = sink.by_origin();
    for (const auto& [origin, payload] : acked) {
      if (consumed.count(origin)) continue;
      const size_t last = origin.rfind(':');
      const int p = std::stoi(origin.substr(origin.rfind(':', last - 1) + 1));
      const int64_t off = std::stoll(origin.substr(last + 1));
      missing_by_partition[p]++;
      if (!first_missing.count(p) || off < first_missing[p]) first_missing[p] = off;
    }
  }
  for (const auto& [p, n] : missing_by_partition) {
    UNSCOPED_INFO("partition " << p << ": " << n << " acked messages never consumed, from offset "
                               << first_missing[p]);
  }
  CHECK(consumed_all);
  (*source)->Stop();
}
