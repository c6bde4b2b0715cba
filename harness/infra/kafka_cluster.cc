// KafkaMockCluster and the small Kafka client helpers. See kafka_cluster.h.
#include "harness/infra/kafka_cluster.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "system/kafka/kafka_headers.h"

namespace ingestlab {
namespace {

void RouteLibrdkafkaLog(const rd_kafka_t* /*rk*/, int level, const char* fac, const char* buf) {
  // syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug. The mock and test clients are
  // chatty about connections they expect to lose; keep them at debug unless they are errors.
  if (level <= 3) {
    LOG(kWarn, "kafka-mock") << fac << ": " << buf;
  } else {
    LOG(kDebug, "kafka-mock") << fac << ": " << buf;
  }
}

Status ConfSet(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    return Status::InvalidArgument("kafka property " + key + "=" + value + ": " + errstr);
  }
  return Status::Ok();
}

Status FromErr(rd_kafka_resp_err_t err, const std::string& what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  return Status::Io(what + ": " + rd_kafka_err2str(err));
}

// A handle made from conf with `properties` set on it; it takes conf, which is destroyed when
// a property is refused or the handle cannot be made (`what` names it in that error).
Result<rd_kafka_t*> NewHandle(rd_kafka_type_t type, rd_kafka_conf_t* conf,
                              const std::map<std::string, std::string>& properties,
                              const char* what) {
  for (const auto& [key, value] : properties) {
    Status st = ConfSet(conf, key, value);
    if (!st.ok()) {
      rd_kafka_conf_destroy(conf);
      return st;
    }
  }
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string(what) + ": " + errstr);
  }
  return rk;
}

// A client handle built from bootstrap + properties, with our log routing.
Result<rd_kafka_t*> NewClient(rd_kafka_type_t type, const std::string& bootstrap,
                              const std::map<std::string, std::string>& properties) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, RouteLibrdkafkaLog);
  std::map<std::string, std::string> all = properties;
  if (!bootstrap.empty()) all.emplace("bootstrap.servers", bootstrap);
  return NewHandle(type, conf, all, "kafka client");
}

}  // namespace

std::vector<std::string> KafkaClusterOptions::DefaultTopics() {
  std::vector<std::string> topics;
  for (const char* t : {"billing.events", "crm.leads", "crm.contacts", "crm.opportunities"}) {
    topics.emplace_back(t);
    topics.emplace_back(std::string(t) + ".dlq");
  }
  return topics;
}

struct KafkaMockCluster::Handles {
  rd_kafka_t* owner = nullptr;  // the handle the mock cluster's brokers run inside
  rd_kafka_mock_cluster_t* cluster = nullptr;
};

Result<std::unique_ptr<KafkaMockCluster>> KafkaMockCluster::Start(
    const KafkaClusterOptions& options) {
  if (options.brokers < 1) return Status::InvalidArgument("kafka mock: brokers must be >= 1");
  if (options.partitions < 1) return Status::InvalidArgument("kafka mock: partitions must be >= 1");
  // The owner handle never talks to a cluster itself; a producer without bootstrap servers is the
  // cheapest handle.
  auto owner = NewClient(RD_KAFKA_PRODUCER, "", {});
  if (!owner.ok()) return owner.status().Annotate("kafka mock");
  std::unique_ptr<KafkaMockCluster> self(new KafkaMockCluster());
  self->handles_ = std::make_unique<Handles>();
  self->handles_->owner = owner.value();
  self->handles_->cluster = rd_kafka_mock_cluster_new(owner.value(), options.brokers);
  if (self->handles_->cluster == nullptr) {
    return Status::Io("kafka mock: rd_kafka_mock_cluster_new failed to start " +
                      std::to_string(options.brokers) + " brokers");
  }
  self->broker_count_ = options.brokers;
  self->partitions_ = options.partitions;
  self->bootstrap_ = rd_kafka_mock_cluster_bootstraps(self->handles_->cluster);
  if (options.create_default_topics) {
    for (const auto& topic : KafkaClusterOptions::DefaultTopics()) {
      INGEST_RETURN_IF_ERROR(self->CreateTopic(topic, options.partitions, options.replication));
    }
  }
  LOG(kInfo, "kafka-mock") << "mock cluster with " << options.brokers << " brokers at "
                           << self->bootstrap_;
  return self;
}

KafkaMockCluster::~KafkaMockCluster() {
  if (!handles_) return;
  if (handles_->cluster != nullptr) rd_kafka_mock_cluster_destroy(handles_->cluster);
  if (handles_->owner != nullptr) rd_kafka_destroy(handles_->owner);
}

Status KafkaMockCluster::CreateTopic(const std::string& name, int partitions, int replication) {
  const int rf = std::max(1, std::min(replication, broker_count_));
  return FromErr(rd_kafka_mock_topic_create(handles_->cluster, name.c_str(), partitions, rf),
                 "kafka mock: create topic " + name);
}

Status KafkaMockCluster::BrokerDown(int32_t broker_id) {
  LOG(kInfo, "kafka-mock") << "broker " << broker_id << " down";
  return FromErr(rd_kafka_mock_broker_set_down(handles_->cluster, broker_id),
                 "kafka mock: broker " + std::to_string(broker_id) + " down");
}

Status KafkaMockCluster::BrokerUp(int32_t broker_id) {
  LOG(kInfo, "kafka-mock") << "broker " << broker_id << " up";
  return FromErr(rd_kafka_mock_broker_set_up(handles_->cluster, broker_id),
                 "kafka mock: broker " + std::to_string(broker_id) + " up");
}

Status KafkaMockCluster::SetRtt(int32_t broker_id, int rtt_ms) {
  return FromErr(rd_kafka_mock_broker_set_rtt(handles_->cluster, broker_id, rtt_ms),
                 "kafka mock: broker " + std::to_string(broker_id) + " rtt");
}

void KafkaMockCluster::PushRequestErrors(int16_t api_key, const std::vector<int>& errors) {
  std::vector<rd_kafka_resp_err_t> codes;
  codes.reserve(errors.size());
  for (int e : errors) codes.push_back(static_cast<rd_kafka_resp_err_t>(e));
  rd_kafka_mock_push_request_errors_array(handles_->cluster, api_key, codes.size(), codes.data());
}

void KafkaMockCluster::ClearRequestErrors(int16_t api_key) {
  rd_kafka_mock_clear_request_errors(handles_->cluster, api_key);
}

Status KafkaMockCluster::SetPartitionLeader(const std::string& topic, int32_t partition,
                                            int32_t broker_id) {
  return FromErr(
      rd_kafka_mock_partition_set_leader(handles_->cluster, topic.c_str(), partition, broker_id),
      "kafka mock: leader of " + topic + "/" + std::to_string(partition));
}

// --- KafkaTestProducer ---

struct KafkaTestProducer::Impl {
  rd_kafka_t* rk = nullptr;
  std::mutex mu;
  Status first_error;
  std::atomic<int64_t> delivered{0};
};

Result<std::unique_ptr<KafkaTestProducer>> KafkaTestProducer::Create(
    const std::string& bootstrap, const std::map<std::string, std::string>& properties) {
  std::unique_ptr<KafkaTestProducer> self(new KafkaTestProducer());
  self->impl_ = std::make_unique<Impl>();
  std::map<std::string, std::string> props = {{"linger.ms", "2"}, {"acks", "all"}};
  for (const auto& [k, v] : properties) props[k] = v;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, RouteLibrdkafkaLog);
  rd_kafka_conf_set_opaque(conf, self->impl_.get());
  rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
    auto* impl = static_cast<Impl*>(opaque);
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::lock_guard<std::mutex> lock(impl->mu);
      if (impl->first_error.ok()) {
        impl->first_error =
            Status::Io(std::string("kafka produce to ") + rd_kafka_topic_name(msg->rkt) + ": " +
                       rd_kafka_err2str(msg->err));
      }
    } else {
      impl->delivered.fetch_add(1, std::memory_order_relaxed);
    }
  });
  props["bootstrap.servers"] = bootstrap;
  auto rk = NewHandle(RD_KAFKA_PRODUCER, conf, props, "kafka producer");
  if (!rk.ok()) return rk.status();
  self->impl_->rk = *rk;
  return self;
}

KafkaTestProducer::~KafkaTestProducer() {
  if (impl_ && impl_->rk != nullptr) {
    rd_kafka_flush(impl_->rk, 5000);
    rd_kafka_destroy(impl_->rk);
  }
}

Status KafkaTestProducer::Produce(const KafkaRecord& record) {
  rd_kafka_headers_t* headers = nullptr;
  if (!record.headers.empty()) {
    headers = rd_kafka_headers_new(record.headers.size());
    for (const auto& [name, value] : record.headers) {
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
  }
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        impl_->rk, RD_KAFKA_V_TOPIC(record.topic.c_str()), RD_KAFKA_V_PARTITION(record.partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(const_cast<char*>(record.value.data()), record.value.size()),
        RD_KAFKA_V_KEY(record.key.data(), record.key.size()), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(impl_->rk, 10);
      continue;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (headers != nullptr) rd_kafka_headers_destroy(headers);
      return Status::Io("kafka produce to " + record.topic + ": " + rd_kafka_err2str(err));
    }
    break;
  }
  rd_kafka_poll(impl_->rk, 0);
  return Status::Ok();
}

Status KafkaTestProducer::Flush(int timeout_ms) {
  rd_kafka_resp_err_t err = rd_kafka_flush(impl_->rk, timeout_ms);
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->first_error.ok()) return impl_->first_error;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Transient(std::string("kafka flush: ") + rd_kafka_err2str(err) + " after " +
                             std::to_string(timeout_ms) + " ms");
  }
  return Status::Ok();
}

int64_t KafkaTestProducer::delivered() const { return impl_->delivered.load(); }

// --- readers ---

namespace {

struct ClientGuard {
  rd_kafka_t* rk;
  bool consumer;
  ~ClientGuard() {
    if (consumer) rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};

Result<int> PartitionCount(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return FromErr(err, "kafka metadata for " + topic);
  int count = 0;
  Status st;
  if (md->topic_cnt == 1) {
    if (md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      st = FromErr(md->topics[0].err, "kafka topic " + topic);
    }
    count = md->topics[0].partition_cnt;
  }
  rd_kafka_metadata_destroy(md);
  if (!st.ok()) return st;
  return count;
}

std::string UniqueGroup(const char* prefix) {
  static std::atomic<int> counter{0};
  return std::string(prefix) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1));
}

}  // namespace

Result<std::vector<KafkaReadRecord>> ReadTopic(const std::string& bootstrap,
                                               const std::string& topic, int timeout_ms) {
  auto client = NewClient(RD_KAFKA_CONSUMER, bootstrap,
                          {{"group.id", UniqueGroup("ingestlab-reader")},
                           {"enable.auto.commit", "false"},
                           {"fetch.wait.max.ms", "10"}});
  if (!client.ok()) return client.status();
  ClientGuard guard{client.value(), true};
  rd_kafka_t* rk = guard.rk;
  rd_kafka_poll_set_consumer(rk);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto partitions = PartitionCount(rk, topic, timeout_ms);
  if (!partitions.ok()) return partitions.status();

  std::map<int32_t, int64_t> high;  // partitions still to read, and where they end
  rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(*partitions);
  for (int32_t p = 0; p < *partitions; ++p) {
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &lo, &hi, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_topic_partition_list_destroy(assignment);
      return FromErr(err, "kafka watermarks of " + topic + "/" + std::to_string(p));
    }
    if (hi > lo) {
      high[p] = hi;
      rd_kafka_topic_partition_list_add(assignment, topic.c_str(), p)->offset = lo;
    }
  }
  std::vector<KafkaReadRecord> records;
  if (high.empty()) {
    rd_kafka_topic_partition_list_destroy(assignment);
    return records;
  }
  rd_kafka_assign(rk, assignment);
  rd_kafka_topic_partition_list_destroy(assignment);
  while (!high.empty()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::Transient("kafka read of " + topic + ": timed out after " +
                               std::to_string(timeout_ms) + " ms with " +
                               std::to_string(records.size()) + " messages read");
    }
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk, 50);
    if (msg == nullptr) continue;
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_message_destroy(msg);
      continue;
    }
    KafkaReadRecord rec;
    rec.topic = rd_kafka_topic_name(msg->rkt);
    rec.partition = msg->partition;
    rec.offset = msg->offset;
    if (msg->key != nullptr) rec.key.assign(static_cast<const char*>(msg->key), msg->key_len);
    if (msg->payload != nullptr) {
      rec.value.assign(static_cast<const char*>(msg->payload), msg->len);
    }
    AppendKafkaHeaders(msg, &rec.headers);
    auto it = high.find(rec.partition);
    if (it != high.end() && rec.offset + 1 >= it->second) high.erase(it);
    rd_kafka_message_destroy(msg);
    records.push_back(std::move(rec));
  }
  return records;
}

Result<std::map<int32_t, int64_t>> CommittedOffsets(const std::string& bootstrap,
                                                    const std::string& group,
                                                    const std::string& topic, int timeout_ms) {
  auto client = NewClient(RD_KAFKA_CONSUMER, bootstrap,
                          {{"group.id", group}, {"enable.auto.commit", "false"}});
  if (!client.ok()) return client.status();
  ClientGuard guard{client.value(), false};
  auto partitions = PartitionCount(guard.rk, topic, timeout_ms);
  if (!partitions.ok()) return partitions.status();
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(*partitions);
  for (int32_t p = 0; p < *partitions; ++p)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  rd_kafka_resp_err_t err = rd_kafka_committed(guard.rk, list, timeout_ms);
  std::map<int32_t, int64_t> out;
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
  }
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return FromErr(err, "kafka committed offsets of " + group + " on " + topic);
  }
  return out;
}

}  // namespace ingestlab
