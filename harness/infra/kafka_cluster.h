// KafkaMockCluster: librdkafka's mock Kafka cluster running inside this process, with N brokers
// listening on real loopback sockets, so separate processes (ingestd, kcat) can connect to its
// bootstrap() string. Topics, committed group offsets and the log survive clients connecting,
// disconnecting and being killed, for as long as this object lives.
//
// The fault API mirrors rdkafka_mock.h: take a broker down and up, set its round-trip time,
// make the next requests of one API key fail, move a partition's leader.
//
// Also here: small synchronous client helpers used by tests, benchmarks and the harness to
// produce to and read back from a cluster (this one or any bootstrap).
//
// Notes on the mock: a consumer group's first join is delayed ~3 s by the mock (like the broker's
// group.initial.rebalance.delay.ms), later rebalances by session.timeout.ms - 1 s; consumers should
// use a small fetch.wait.max.ms (e.g. 10), since the mock holds empty fetches for the full wait.
// From the moment a member asks to join, the mock refuses offset commits until the group is
// stable again (a real broker accepts them until the rejoin), so a rebalance in the mock
// redelivers what was settled but not yet committed. Each partition keeps only its newest ~5 MB
// (or 100k produce batches): older messages are dropped like expired segments, so size topics'
// partition counts for the data a run leaves unconsumed.
//
// Thread-safety: every method of KafkaMockCluster is safe from any thread. KafkaTestProducer is
// safe from any thread; ReadTopic/CommittedOffsets are free functions with their own clients.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ingestlab {

struct KafkaClusterOptions {
  int brokers = 3;
  int partitions = 4;   // for the default topics
  int replication = 3;  // clamped to the broker count
  bool create_default_topics = true;
  // billing.events, crm.leads, crm.contacts, crm.opportunities and each one's ".dlq".
  static std::vector<std::string> DefaultTopics();
};

class KafkaMockCluster {
 public:
  static Result<std::unique_ptr<KafkaMockCluster>> Start(const KafkaClusterOptions& options = {});
  ~KafkaMockCluster();
  KafkaMockCluster(const KafkaMockCluster&) = delete;
  KafkaMockCluster& operator=(const KafkaMockCluster&) = delete;

  // "127.0.0.1:port,127.0.0.1:port,..."
  const std::string& bootstrap() const { return bootstrap_; }
  int broker_count() const { return broker_count_; }
  int partitions() const { return partitions_; }  // of the default topics
  // Broker ids are 1..broker_count().

  Status CreateTopic(const std::string& name, int partitions, int replication = 3);

  // Faults. broker_id -1 means every broker.
  // Down: disconnects the broker's clients and refuses new connections (no leader change).
  Status BrokerDown(int32_t broker_id);
  Status BrokerUp(int32_t broker_id);
  Status SetRtt(int32_t broker_id, int rtt_ms);
  // The next errors.size() requests with this Kafka API key (0 Produce, 1 Fetch, 8 OffsetCommit,
  // 9 OffsetFetch, 11 JoinGroup, 12 Heartbeat, ...) fail with these error codes
  // (rd_kafka_resp_err_t values; -195 = transport failure, disconnects the client).
  void PushRequestErrors(int16_t api_key, const std::vector<int>& errors);
  void ClearRequestErrors(int16_t api_key);
  Status SetPartitionLeader(const std::string& topic, int32_t partition, int32_t broker_id);

 private:
  KafkaMockCluster() = default;
  struct Handles;
  std::unique_ptr<Handles> handles_;
  std::string bootstrap_;
  int broker_count_ = 0;
  int partitions_ = 0;
};

// A producer for tests and tools: Produce() enqueues, Flush() waits for every delivery report and
// reports the first failure. partition -1 = partitioner by key.
struct KafkaRecord {
  std::string topic;
  int32_t partition = -1;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

class KafkaTestProducer {
 public:
  static Result<std::unique_ptr<KafkaTestProducer>> Create(
      const std::string& bootstrap, const std::map<std::string, std::string>& properties = {});
  ~KafkaTestProducer();
  KafkaTestProducer(const KafkaTestProducer&) = delete;
  KafkaTestProducer& operator=(const KafkaTestProducer&) = delete;

  Status Produce(const KafkaRecord& record);
  Status Flush(int timeout_ms = 10'000);
  int64_t delivered() const;

 private:
  KafkaTestProducer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A message read back from a topic.
struct KafkaReadRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Reads every partition of `topic` from the beginning up to its high watermark at call time (no
// consumer group, nothing committed). Waits up to timeout_ms overall.
Result<std::vector<KafkaReadRecord>> ReadTopic(const std::string& bootstrap,
                                               const std::string& topic, int timeout_ms = 10'000);

// Committed offsets of `group` for every partition of `topic`: partition -> next offset to
// consume (-1001 = nothing committed).
Result<std::map<int32_t, int64_t>> CommittedOffsets(const std::string& bootstrap,
                                                    const std::string& group,
                                                    const std::string& topic,
                                                    int timeout_ms = 10'000);

}  // namespace ingestlab
