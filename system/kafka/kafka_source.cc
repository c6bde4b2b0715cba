// KafkaSource implementation (librdkafka high-level consumer) and its DeadLetterSink (an
// idempotent producer). See kafka_source.h for the promises.
//
// Threads:
//   poll thread   — the only caller of rd_kafka_consumer_poll, so rebalance, commit, error and
//                   statistics callbacks all run here; builds batches, submits them, pauses,
//                   seeks, resumes and commits.
//   writer thread — the pipeline's; runs on_settled, which only updates per-partition state under
//                   mu_ and never calls into librdkafka.
// Per partition (PartitionState, guarded by mu_) an OffsetTracker (offset_tracker.h) keeps the
// offsets submitted in order with a settled flag and says what may be committed. A kRetry bumps
// the partition's epoch, forgets the submissions at and after the retried offset (their late
// settlements are ignored) and asks the poll thread to pause the partition and seek it back
// there once the retry delay has passed. A failed seek keeps the partition paused and is tried
// again after a backoff; the partition resumes only once the seek succeeded.
// Broker health (statistics JSON, transport errors) is read by a BrokerTracker (kafka_stats.h).
#include "system/kafka/kafka_source.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "common/log.h"
#include "common/redact.h"
#include "system/kafka/kafka_headers.h"
#include "system/kafka/kafka_stats.h"
#include "system/kafka/offset_tracker.h"

namespace ingestlab {

const std::vector<std::string>& DefaultTopics() {
  static const std::vector<std::string> topics = {"billing.events", "crm.leads", "crm.contacts",
                                                  "crm.opportunities"};
  return topics;
}

namespace {

constexpr const char* kComponent = "kafka";
constexpr int kIdlePollMs = 20;            // poll timeout while no batch is being built
constexpr int64_t kSettleWaitMs = 60'000;  // revoke/stop wait for in-flight batches
constexpr int kSyncCommitTimeoutMs = 10'000;
constexpr int64_t kLagRefreshNs = 1'000'000'000;
constexpr int kDlqMessageTimeoutMs = 15'000;

void RouteLibrdkafkaLog(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  const char* name = rk != nullptr ? rd_kafka_name(rk) : "";
  // librdkafka's text may echo a broker address or a property as configured.
  const std::string text = RedactText(buf != nullptr ? buf : "");
  // Connection failures also reach the error callback, which logs them once.
  if (level <= 3 && std::strcmp(fac, "FAIL") != 0) {
    LOG(kWarn, kComponent) << name << " " << fac << ": " << text;
  } else if (level <= 5) {
    LOG(kInfo, kComponent) << name << " " << fac << ": " << text;
  } else {
    LOG(kDebug, kComponent) << name << " " << fac << ": " << text;
  }
}

// Applies key=value pairs to a conf, quoting librdkafka's complaint on the first bad one.
Status ApplyProperties(rd_kafka_conf_t* conf,
                       const std::vector<std::pair<std::string, std::string>>& properties) {
  char errstr[512];
  for (const auto& [key, value] : properties) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      // librdkafka's complaint may quote the value: a secret one is scrubbed from it.
      std::string complaint = errstr;
      if (IsSecretProperty(key) && !value.empty()) {
        for (size_t p = complaint.find(value); p != std::string::npos;
             p = complaint.find(value, p + kRedactedMask.size())) {
          complaint.replace(p, value.size(), kRedactedMask);
        }
      }
      return Status::InvalidArgument("kafka property " + RedactProperty(key, value) + ": " +
                                     RedactText(complaint));
    }
  }
  return Status::Ok();
}

// "kafka.security.protocol" → "security.protocol"; other keys pass as is.
std::string StripKafkaPrefix(const std::string& key) {
  constexpr std::string_view kPrefix = "kafka.";
  if (key.compare(0, kPrefix.size(), kPrefix) == 0) return key.substr(kPrefix.size());
  return key;
}

struct PartitionState {
  PartitionState(std::string t, int32_t p)
      : topic(std::move(t)),
        partition(p),
        label(topic + "/" + std::to_string(p)),
        origin_prefix("kafka:" + topic + ":" + std::to_string(p) + ":") {}

  const std::string topic;
  const int32_t partition;
  const std::string label;          // "crm.leads/2"
  const std::string origin_prefix;  // "kafka:crm.leads:2:"

  // Guarded by KafkaSourceImpl::mu_.
  OffsetTracker offsets;
};

// What a submitted batch needs to settle: per message, its partition and offset.
struct BatchRefs {
  struct Ref {
    uint32_t part;  // index into parts
    uint32_t epoch;
    int64_t offset;
  };
  std::vector<std::shared_ptr<PartitionState>> parts;
  std::vector<Ref> refs;
};

// One message consumed but not yet registered.
struct Consumed {
  PartitionState* state;
  int64_t offset;
};

// Removes the entries i of the parallel vectors `msgs` and `refs` for which drop(i), keeping the
// others in order; returns how many are left. drop(i) may look at refs[i].
template <typename Ref, typename Pred>
size_t EraseMarked(std::vector<RawMessage>& msgs, std::vector<Ref>& refs, Pred drop) {
  size_t kept = 0;
  for (size_t i = 0; i < refs.size(); ++i) {
    if (drop(i)) continue;
    if (kept != i) {
      msgs[kept] = std::move(msgs[i]);
      refs[kept] = refs[i];
    }
    kept++;
  }
  msgs.resize(kept);
  refs.resize(kept);
  return kept;
}

// A produce error that no retry can cure: the broker (or librdkafka) refuses the message itself.
bool IsPermanentProduceError(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
      return true;
    default:
      return false;
  }
}

Status ProduceErrorStatus(rd_kafka_resp_err_t err, std::string message) {
  return IsPermanentProduceError(err) ? Status::InvalidArgument(std::move(message))
                                      : Status::Transient(std::move(message));
}

class KafkaDeadLetterSink final : public DeadLetterSink {
 public:
  explicit KafkaDeadLetterSink(rd_kafka_t* producer) : producer_(producer) {}
  ~KafkaDeadLetterSink() override {
    if (producer_ != nullptr) {
      rd_kafka_flush(producer_, 5'000);
      rd_kafka_destroy(producer_);
    }
  }

  struct Delivery {
    std::mutex mu;
    bool done = false;
    Status status;
  };

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
    auto* holder = static_cast<std::shared_ptr<Delivery>*>(msg->_private);
    if (holder == nullptr) return;
    {
      std::lock_guard<std::mutex> lock((*holder)->mu);
      (*holder)->done = true;
      if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        (*holder)->status = ProduceErrorStatus(
            msg->err, std::string("kafka dlq: delivery to ") + rd_kafka_topic_name(msg->rkt) +
                          " failed: " + rd_kafka_err2str(msg->err));
      }
    }
    delete holder;
  }

  Status Publish(const RawMessage& original, const DeadLetterRecord& record) override {
    // origin "kafka:<topic>:<partition>:<offset>"; topic names cannot contain ':'.
    std::string topic = original.subject, partition, offset;
    const std::string& origin = original.origin.empty() ? record.origin : original.origin;
    const size_t last = origin.rfind(':');
    const size_t mid =
        last == std::string::npos || last == 0 ? std::string::npos : origin.rfind(':', last - 1);
    if (mid != std::string::npos) {
      offset = origin.substr(last + 1);
      partition = origin.substr(mid + 1, last - mid - 1);
      const size_t first = origin.find(':');
      if (topic.empty() && first < mid) topic = origin.substr(first + 1, mid - first - 1);
    }
    if (topic.empty()) topic = record.subject;
    if (topic.empty()) return Status::InvalidArgument("kafka dlq: no topic for origin " + origin);
    const std::string dlq_topic = topic + ".dlq";

    rd_kafka_headers_t* headers = rd_kafka_headers_new(original.headers.size() + 7);
    auto add = [headers](const std::string& name, const std::string& value) {
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    };
    for (const auto& [name, value] : original.headers) add(name, value);
    add("reason", record.reason);
    add("error", record.error);
    add("attempts", std::to_string(record.attempts));
    add("topic", topic);
    add("partition", partition);
    add("offset", offset);
    add("origin", origin);

    auto delivery = std::make_shared<Delivery>();
    auto* holder = new std::shared_ptr<Delivery>(delivery);
    const std::string& payload = original.payload.empty() ? record.payload : original.payload;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_, RD_KAFKA_V_TOPIC(dlq_topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
        RD_KAFKA_V_KEY(original.key.data(), original.key.size()), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_OPAQUE(holder), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      delete holder;
      rd_kafka_headers_destroy(headers);
      return ProduceErrorStatus(
          err, "kafka dlq: produce to " + dlq_topic + ": " + rd_kafka_err2str(err));
    }
    // The delivery report arrives within message.timeout.ms; serve it here.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kDlqMessageTimeoutMs + 2'000);
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(delivery->mu);
        if (delivery->done) return delivery->status;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return Status::Transient("kafka dlq: no delivery report from " + dlq_topic + " for " +
                                 origin);
      }
      rd_kafka_poll(producer_, 10);
    }
  }

 private:
  rd_kafka_t* producer_;
};

class KafkaSourceImpl final : public KafkaSource {
 public:
  KafkaSourceImpl(KafkaOptions options, BatchSink* sink, Metrics* metrics, Clock* clock)
      : options_(std::move(options)), sink_(sink), metrics_(metrics), clock_(clock) {
    const Labels kafka = {{"transport", "kafka"}};
    reconnects_ = metrics_->counter("ingest_reconnects_total",
                                    "Broker connections lost and re-established", kafka);
    rebalances_ = metrics_->counter("ingest_kafka_rebalances_total",
                                    "Kafka consumer group assignments and revocations");
    commits_ok_ = metrics_->counter("ingest_kafka_offset_commits_total",
                                    "Kafka offset commits by result", {{"result", "ok"}});
    commits_failed_ = metrics_->counter("ingest_kafka_offset_commits_total",
                                        "Kafka offset commits by result", {{"result", "error"}});
    retries_ = metrics_->counter("ingest_kafka_partition_rewinds_total",
                                 "Kafka partitions sought back to redeliver a retried message");
    backpressure_ = metrics_->counter("ingest_kafka_backpressure_pauses_total",
                                      "Times every assigned partition was paused: sink full");
    skipped_offsets_ = metrics_->counter(
        "ingest_kafka_skipped_offsets_total",
        "Offsets librdkafka jumped over within a partition (an auto.offset.reset after the broker "
        "deleted data not yet consumed): possible loss");
    seek_failures_ = metrics_->counter(
        "ingest_kafka_seek_failures_total",
        "Seeks back to a retried offset that failed; the partition stays paused and is sought "
        "again");
  }

  ~KafkaSourceImpl() override {
    Stop();
    if (consumer_ != nullptr) rd_kafka_destroy(consumer_);
  }

  Status Init() {
    if (options_.batch_max_messages < 1) {
      return Status::InvalidArgument("kafka: batch_max_messages must be >= 1");
    }
    if (options_.topics.empty()) options_.topics = DefaultTopics();
    std::vector<std::pair<std::string, std::string>> user;
    for (const auto& [key, value] : options_.properties)
      user.emplace_back(StripKafkaPrefix(key), value);
    auto has_user = [&user](const std::string& key) {
      return std::any_of(user.begin(), user.end(), [&](const auto& kv) { return kv.first == key; });
    };
    if (options_.bootstrap.empty() && !has_user("bootstrap.servers") &&
        !has_user("test.mock.num.brokers")) {
      return Status::InvalidArgument("kafka: no bootstrap servers given");
    }
    if (!options_.bootstrap.empty() && !has_user("bootstrap.servers")) {
      user.insert(user.begin(), {"bootstrap.servers", options_.bootstrap});
    }
    // Consumer: our defaults first, the user's properties override them.
    std::vector<std::pair<std::string, std::string>> consumer_props = {
        {"group.id", options_.group_id},
        {"client.id", "ingestd"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"enable.partition.eof", "false"},
        {"fetch.wait.max.ms", "10"},
        // A killed member's partitions move after 6 s instead of librdkafka's 45 s.
        {"session.timeout.ms", "6000"},
        {"heartbeat.interval.ms", "500"},
        {"statistics.interval.ms", "1000"},
        {"log.connection.close", "false"},
        // Memory: librdkafka prefetches up to 64 MiB (queue) + 50 MiB (one fetch) by default.
        // A quarter of that keeps the mock and a real cluster at full speed on small events.
        {"queued.max.messages.kbytes", "16384"},
        {"fetch.max.bytes", "16777216"},
    };
    consumer_props.insert(consumer_props.end(), user.begin(), user.end());

    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    Status st = ApplyProperties(conf, consumer_props);
    if (!st.ok()) {
      rd_kafka_conf_destroy(conf);
      return st;
    }
    // The rebalance protocol follows from the assignment strategy (librdkafka refuses to mix
    // eager and cooperative ones), so it is read here, once: rd_kafka_rebalance_protocol()
    // called from the rebalance callback that rd_kafka_consumer_close() runs can block forever
    // (librdkafka issue 4041), and the callback runs at every shutdown.
    char strategy[256];
    size_t strategy_size = sizeof(strategy);
    cooperative_ = rd_kafka_conf_get(conf, "partition.assignment.strategy", strategy,
                                     &strategy_size) == RD_KAFKA_CONF_OK &&
                   std::strstr(strategy, "cooperative") != nullptr;
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_log_cb(conf, RouteLibrdkafkaLog);
    rd_kafka_conf_set_rebalance_cb(conf, &KafkaSourceImpl::OnRebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, &KafkaSourceImpl::OnOffsetCommit);
    rd_kafka_conf_set_error_cb(conf, &KafkaSourceImpl::OnError);
    rd_kafka_conf_set_stats_cb(conf, &KafkaSourceImpl::OnStats);
    char errstr[512];
    consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (consumer_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument("kafka consumer: " + RedactText(errstr));
    }
    rd_kafka_poll_set_consumer(consumer_);

    // Dead-letter producer: idempotent, acks=all; consumer-only user properties are ignored by
    // librdkafka with a warning.
    std::vector<std::pair<std::string, std::string>> producer_props = {
        {"client.id", "ingestd-dlq"},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "1"},
        {"message.timeout.ms", std::to_string(kDlqMessageTimeoutMs)},
        {"log.connection.close", "false"},
    };
    for (const auto& kv : user) {
      if (kv.first != "group.id" && kv.first != "enable.auto.commit" &&
          kv.first != "enable.auto.offset.store" && kv.first != "auto.offset.reset" &&
          kv.first != "fetch.wait.max.ms" && kv.first != "session.timeout.ms" &&
          kv.first != "heartbeat.interval.ms" && kv.first != "enable.partition.eof" &&
          kv.first != "max.poll.interval.ms" && kv.first != "partition.assignment.strategy" &&
          kv.first != "group.instance.id") {
        producer_props.push_back(kv);
      }
    }
    rd_kafka_conf_t* pconf = rd_kafka_conf_new();
    st = ApplyProperties(pconf, producer_props);
    if (!st.ok()) {
      rd_kafka_conf_destroy(pconf);
      return st.Annotate("kafka dlq producer");
    }
    rd_kafka_conf_set_log_cb(pconf, RouteLibrdkafkaLog);
    rd_kafka_conf_set_dr_msg_cb(pconf, &KafkaDeadLetterSink::OnDelivery);
    rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof(errstr));
    if (producer == nullptr) {
      rd_kafka_conf_destroy(pconf);
      return Status::InvalidArgument("kafka dlq producer: " + RedactText(errstr));
    }
    dlq_ = std::make_unique<KafkaDeadLetterSink>(producer);
    return Status::Ok();
  }

  Status Start() override {
    if (started_) return Status::Ok();
    rd_kafka_topic_partition_list_t* topics =
        rd_kafka_topic_partition_list_new(static_cast<int>(options_.topics.size()));
    for (const auto& t : options_.topics) {
      rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
    }
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::Io(std::string("kafka: subscribe: ") + rd_kafka_err2str(err));
    }
    started_ = true;
    std::string joined;
    for (const auto& t : options_.topics) joined += (joined.empty() ? "" : ",") + t;
    LOG(kInfo, kComponent) << "consumer group " << options_.group_id << " subscribed to " << joined
                           << " at " << RedactUrlList(options_.bootstrap);
    poll_thread_ = std::thread([this] { PollLoop(); });
    return Status::Ok();
  }

  void Stop() override {
    if (!started_ || stopped_) return;
    stopped_ = true;
    stop_requested_.store(true);
    if (poll_thread_.joinable()) poll_thread_.join();
  }

  DeadLetterSink* dead_letter_sink() override { return dlq_.get(); }

  SourceHealth Health() const override {
    SourceHealth h;
    {
      std::lock_guard<std::mutex> lock(health_mu_);
      h.connected = connected_;
      h.lag = lag_;
      h.detail = (connected_ ? "connected to " : "connecting to ") +
                 RedactUrlList(options_.bootstrap) + " as group " + options_.group_id + ", " +
                 std::to_string(assigned_count_) + " partitions assigned";
    }
    h.reconnects = reconnects_->value();
    h.in_flight = total_in_flight_.load(std::memory_order_relaxed);
    return h;
  }

 private:
  using PartitionKey = std::pair<std::string, int32_t>;

  // --- poll thread ---

  void PollLoop() {
    while (!stop_requested_.load()) {
      RunControl();
      if (held_) {
        RetryHeld();
        continue;
      }
      BuildBatch();
      if (!building_msgs_.empty()) SubmitBuilt();
    }
    Shutdown();
  }

  // Polls until the batch is full, batch_wait_ms after its first message, or idle.
  void BuildBatch() {
    // building_ may already hold messages that arrived while the sink was full.
    int64_t deadline_ns = clock_->NowMonoNanos() + int64_t{options_.batch_wait_ms} * 1'000'000;
    size_t bytes = 0;
    for (const RawMessage& m : building_msgs_) bytes += m.payload.size();
    while (static_cast<int>(building_msgs_.size()) < options_.batch_max_messages &&
           bytes < options_.batch_max_bytes) {
      int timeout_ms = kIdlePollMs;
      if (!building_msgs_.empty()) {
        const int64_t left_ns = deadline_ns - clock_->NowMonoNanos();
        if (left_ns <= 0) break;
        timeout_ms = static_cast<int>((left_ns + 999'999) / 1'000'000);
      }
      rd_kafka_message_t* msg = rd_kafka_consumer_poll(consumer_, timeout_ms);
      if (msg == nullptr) {
        if (building_msgs_.empty() || stop_requested_.load()) break;
        continue;
      }
      const bool first = building_msgs_.empty();
      bytes += msg->len;
      Accept(msg);
      rd_kafka_message_destroy(msg);
      if (first && !building_msgs_.empty()) {
        deadline_ns = clock_->NowMonoNanos() + int64_t{options_.batch_wait_ms} * 1'000'000;
      }
    }
  }

  PartitionState* Lookup(rd_kafka_topic_t* rkt, int32_t partition) {
    if (rkt == cache_rkt_ && partition == cache_partition_ && cache_state_ != nullptr) {
      return cache_state_;
    }
    auto it = states_.find(PartitionKey(rd_kafka_topic_name(rkt), partition));
    if (it == states_.end()) return nullptr;
    cache_rkt_ = rkt;
    cache_partition_ = partition;
    cache_state_ = it->second.get();
    return cache_state_;
  }

  void Accept(rd_kafka_message_t* msg) {
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        LOG(kWarn, kComponent) << "consume error"
                               << (msg->rkt ? std::string(" on ") + rd_kafka_topic_name(msg->rkt)
                                            : std::string())
                               << ": " << rd_kafka_message_errstr(msg);
      }
      return;
    }
    PartitionState* state = Lookup(msg->rkt, msg->partition);
    if (state == nullptr) return;  // not (or no longer) assigned to us
    RawMessage raw;
    raw.transport = Transport::kKafka;
    if (msg->payload != nullptr)
      raw.payload.assign(static_cast<const char*>(msg->payload), msg->len);
    if (msg->key != nullptr) raw.key.assign(static_cast<const char*>(msg->key), msg->key_len);
    raw.subject = state->topic;
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), msg->offset);
    (void)ec;
    raw.origin.reserve(state->origin_prefix.size() + static_cast<size_t>(end - digits));
    raw.origin.append(state->origin_prefix).append(digits, end);
    AppendKafkaHeaders(msg, &raw.headers);
    raw.received_at_ms = clock_->NowUnixMillis();
    building_msgs_.push_back(std::move(raw));
    building_refs_.push_back({state, msg->offset});
  }

  // Registers the built messages (dropping any whose partition is revoked, rewinding or already
  // past them) and submits them as one batch.
  void SubmitBuilt() {
    auto refs = std::make_shared<BatchRefs>();
    std::vector<RawMessage> messages;
    messages.reserve(building_msgs_.size());
    refs->refs.reserve(building_msgs_.size());
    {
      std::lock_guard<std::mutex> lock(mu_);
      PartitionState* last = nullptr;
      uint32_t last_index = 0;
      for (size_t i = 0; i < building_msgs_.size(); ++i) {
        PartitionState* ps = building_refs_[i].state;
        const int64_t offset = building_refs_[i].offset;
        const OffsetTracker::Received got = ps->offsets.Receive(offset);
        if (got.result == OffsetTracker::Outcome::kPastRetry) {
          LOG(kWarn, kComponent) << ps->label << ": offset " << offset
                                 << " arrived before the retried offset it follows; "
                                    "seeking back again";
          continue;
        }
        if (got.result != OffsetTracker::Outcome::kAccepted) continue;
        if (got.skipped > 0) {
          // The consumer skipped offsets it never delivered: with auto.offset.reset=earliest this
          // is how librdkafka recovers from OFFSET_OUT_OF_RANGE, i.e. the broker deleted them
          // (retention) before they were consumed. The commit will pass them; say so loudly.
          skipped_offsets_->Inc(got.skipped);
          LOG(kWarn, kComponent) << ps->label << ": offsets " << offset - got.skipped << ".."
                                 << offset - 1 << " were never delivered (" << got.skipped
                                 << " skipped; deleted by the broker before they were consumed?)"
                                 << "; possible loss";
        }
        if (ps != last) {
          auto it = std::find_if(refs->parts.begin(), refs->parts.end(),
                                 [ps](const auto& p) { return p.get() == ps; });
          if (it == refs->parts.end()) {
            refs->parts.push_back(states_.at(PartitionKey(ps->topic, ps->partition)));
            it = refs->parts.end() - 1;
          }
          last = ps;
          last_index = static_cast<uint32_t>(it - refs->parts.begin());
        }
        RawMessage& raw = building_msgs_[i];
        raw.attempts = got.attempts;
        refs->refs.push_back({last_index, got.epoch, offset});
        messages.push_back(std::move(raw));
      }
      total_in_flight_.fetch_add(static_cast<int64_t>(messages.size()));
    }
    building_msgs_.clear();
    building_refs_.clear();
    if (messages.empty()) return;
    InboundBatch batch;
    batch.messages = std::move(messages);
    batch.on_settled = [this, refs](std::vector<Settlement>&& settlements) {
      OnSettled(*refs, settlements);
    };
    if (sink_->TrySubmit(batch)) return;
    held_ = std::make_unique<Held>(Held{std::move(batch), std::move(refs)});
    PauseForBackpressure();
  }

  struct Held {
    InboundBatch batch;
    std::shared_ptr<BatchRefs> refs;
  };

  void PauseForBackpressure() {
    if (backpressure_paused_) return;
    backpressure_paused_ = true;
    backpressure_->Inc();
    rd_kafka_topic_partition_list_t* assignment = nullptr;
    if (rd_kafka_assignment(consumer_, &assignment) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_pause_partitions(consumer_, assignment);
      rd_kafka_topic_partition_list_destroy(assignment);
    }
    LOG(kDebug, kComponent) << "sink full: paused every assigned partition";
  }

  void ResumeAfterBackpressure() {
    if (!backpressure_paused_) return;
    backpressure_paused_ = false;
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(8);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [key, ps] : states_) {
        if (!ps->offsets.held_for_retry()) {
          rd_kafka_topic_partition_list_add(list, key.first.c_str(), key.second);
        }
      }
    }
    if (list->cnt > 0) rd_kafka_resume_partitions(consumer_, list);
    rd_kafka_topic_partition_list_destroy(list);
    LOG(kDebug, kComponent) << "sink has room: resumed partitions";
  }

  // Drops messages of the held batch matching `drop` (under mu_), undoing their registration.
  template <typename Pred>
  void DropFromHeld(Pred drop) {
    if (!held_) return;
    std::vector<RawMessage>& msgs = held_->batch.messages;
    auto& refs = held_->refs->refs;
    int64_t dropped = 0;
    // Undo from the back so each partition's submitted deque pops its newest entries first.
    for (size_t i = refs.size(); i-- > 0;) {
      PartitionState* ps = held_->refs->parts[refs[i].part].get();
      if (!drop(*ps, refs[i])) continue;
      ps->offsets.Unregister(refs[i].epoch, refs[i].offset);
      dropped++;
      refs[i].offset = -1;  // mark
    }
    if (dropped == 0) return;
    const size_t kept = EraseMarked(msgs, refs, [&](size_t i) { return refs[i].offset == -1; });
    total_in_flight_.fetch_sub(dropped);
    if (kept == 0) held_.reset();
  }

  void RetryHeld() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Partitions rewound since registration get these messages again from the broker.
      DropFromHeld([](const PartitionState& ps, const BatchRefs::Ref& ref) {
        return ps.offsets.revoked() || ref.epoch != ps.offsets.epoch();
      });
    }
    if (!held_) {
      ResumeAfterBackpressure();
      return;
    }
    if (sink_->TrySubmit(held_->batch)) {
      held_.reset();
      ResumeAfterBackpressure();
      return;
    }
    // Keep serving rebalances and heartbeats while paused. A message that still arrives (fetched
    // before the pause took effect) waits for the next batch: dropping it would skip it.
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(consumer_, 2);
    if (msg != nullptr) {
      Accept(msg);
      rd_kafka_message_destroy(msg);
    }
  }

  // Rewinds, resumes, commits, lag. Called every loop iteration on the poll thread.
  void RunControl() {
    const int64_t now = clock_->NowMonoNanos();
    rd_kafka_topic_partition_list_t* to_pause = nullptr;
    rd_kafka_topic_partition_list_t* to_seek = nullptr;
    rd_kafka_topic_partition_list_t* to_commit = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [key, ps] : states_) {
        if (ps->offsets.TakePauseRequest()) {
          if (!to_pause) to_pause = rd_kafka_topic_partition_list_new(4);
          rd_kafka_topic_partition_list_add(to_pause, key.first.c_str(), key.second);
        } else if (auto seek_to = ps->offsets.SeekDue(now)) {
          if (!to_seek) to_seek = rd_kafka_topic_partition_list_new(4);
          rd_kafka_topic_partition_list_add(to_seek, key.first.c_str(), key.second)->offset =
              *seek_to;
        }
        if (auto commit = ps->offsets.TakeCommit()) {
          if (!to_commit) to_commit = rd_kafka_topic_partition_list_new(8);
          rd_kafka_topic_partition_list_add(to_commit, key.first.c_str(), key.second)->offset =
              *commit;
        }
      }
    }
    if (to_pause) {
      rd_kafka_pause_partitions(consumer_, to_pause);
      rd_kafka_topic_partition_list_destroy(to_pause);
    }
    if (to_seek) {
      SeekBackAndResume(to_seek);
      rd_kafka_topic_partition_list_destroy(to_seek);
    }
    if (to_commit) {
      rd_kafka_commit(consumer_, to_commit, /*async=*/1);
      rd_kafka_topic_partition_list_destroy(to_commit);
    }
    if (now - last_lag_refresh_ns_ >= kLagRefreshNs) {
      last_lag_refresh_ns_ = now;
      RefreshLag();
    }
  }

  // Seeks paused partitions back to their retried offsets. Only a partition whose seek succeeded
  // is resumed; one whose seek failed stays paused and is sought again after a backoff, so the
  // consumer never goes on past a message that was not stored.
  void SeekBackAndResume(rd_kafka_topic_partition_list_t* to_seek) {
    std::vector<int64_t> offsets(static_cast<size_t>(to_seek->cnt));
    for (int i = 0; i < to_seek->cnt; ++i)
      offsets[static_cast<size_t>(i)] = to_seek->elems[i].offset;
    rd_kafka_error_t* error = rd_kafka_seek_partitions(consumer_, to_seek, 5'000);
    if (error != nullptr) {
      LOG(kWarn, kComponent) << "seek for redelivery failed: " << rd_kafka_error_string(error)
                             << "; the partitions stay paused and will be sought again";
      rd_kafka_error_destroy(error);
    }
    const int64_t now = clock_->NowMonoNanos();
    rd_kafka_topic_partition_list_t* to_resume = rd_kafka_topic_partition_list_new(to_seek->cnt);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int i = 0; i < to_seek->cnt; ++i) {
        const rd_kafka_topic_partition_t& tp = to_seek->elems[i];
        auto it = states_.find(PartitionKey(tp.topic, tp.partition));
        if (it == states_.end()) continue;
        OffsetTracker& tracker = it->second->offsets;
        if (error != nullptr || tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            LOG(kWarn, kComponent)
                << "seek " << tp.topic << "/" << tp.partition << " to "
                << offsets[static_cast<size_t>(i)] << ": " << rd_kafka_err2str(tp.err)
                << "; the partition stays paused and will be sought again";
          }
          tracker.SeekFailed(now);
          seek_failures_->Inc();
          continue;
        }
        if (tracker.SeekSucceeded(offsets[static_cast<size_t>(i)])) {
          rd_kafka_topic_partition_list_add(to_resume, tp.topic, tp.partition);
        }
      }
    }
    if (to_resume->cnt > 0 && !backpressure_paused_) {
      rd_kafka_resume_partitions(consumer_, to_resume);
    }
    rd_kafka_topic_partition_list_destroy(to_resume);
  }

  // High watermark (cached by librdkafka from fetch responses) minus our position.
  void RefreshLag() {
    std::map<std::string, int64_t> lag;
    if (!states_.empty()) {
      rd_kafka_topic_partition_list_t* list =
          rd_kafka_topic_partition_list_new(static_cast<int>(states_.size()));
      for (const auto& [key, ps] : states_) {
        rd_kafka_topic_partition_list_add(list, key.first.c_str(), key.second);
      }
      rd_kafka_position(consumer_, list);
      for (int i = 0; i < list->cnt; ++i) {
        const auto& tp = list->elems[i];
        int64_t lo = -1, hi = -1;
        rd_kafka_get_watermark_offsets(consumer_, tp.topic, tp.partition, &lo, &hi);
        if (hi < 0) continue;
        // No position yet (nothing fetched since the assignment, e.g. the committed offset is
        // the end): what this instance settled, else unknown. The low watermark would count
        // every message ever committed as lag, forever, on a partition that gets no new one.
        int64_t position = tp.offset;
        if (position < 0) {
          std::lock_guard<std::mutex> lock(mu_);
          auto it = states_.find(PartitionKey(tp.topic, tp.partition));
          if (it != states_.end()) position = it->second->offsets.commit_target();
        }
        if (position < 0) continue;
        lag[std::string(tp.topic) + "/" + std::to_string(tp.partition)] =
            std::max<int64_t>(0, hi - position);
      }
      rd_kafka_topic_partition_list_destroy(list);
    }
    std::lock_guard<std::mutex> lock(health_mu_);
    lag_ = std::move(lag);
    assigned_count_ = static_cast<int>(states_.size());
  }

  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      DropFromHeld([](const PartitionState&, const BatchRefs::Ref&) { return true; });
    }
    building_msgs_.clear();
    building_refs_.clear();
    WaitSettled([](const PartitionState&) { return true; });
    CommitSync([](const PartitionState&) { return true; });
    LOG(kInfo, kComponent) << "closing consumer (group " << options_.group_id << ")";
    rd_kafka_consumer_close(consumer_);  // runs the revoke callback
    std::lock_guard<std::mutex> lock(health_mu_);
    connected_ = false;
  }

  // Waits (bounded) until every selected partition has nothing in flight.
  template <typename Pred>
  void WaitSettled(Pred selected) {
    std::unique_lock<std::mutex> lock(mu_);
    const bool done = settled_cv_.wait_for(lock, std::chrono::milliseconds(kSettleWaitMs), [&] {
      for (const auto& [key, ps] : states_) {
        if (selected(*ps) && ps->offsets.in_flight() > 0) return false;
      }
      return true;
    });
    if (!done) {
      LOG(kWarn, kComponent) << "in-flight batches did not settle within " << kSettleWaitMs
                             << " ms; committing what settled";
    }
  }

  template <typename Pred>
  void CommitSync(Pred selected) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(8);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [key, ps] : states_) {
        if (selected(*ps) && ps->offsets.commit_target() >= 0) {
          rd_kafka_topic_partition_list_add(list, key.first.c_str(), key.second)->offset =
              ps->offsets.commit_target();
          ps->offsets.TakeCommit();
        }
      }
    }
    if (list->cnt > 0) {
      rd_kafka_resp_err_t err = rd_kafka_commit(consumer_, list, /*async=*/0);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        commits_ok_->Inc();
      } else {
        commits_failed_->Inc();
        LOG(kWarn, kComponent) << "synchronous offset commit failed: " << rd_kafka_err2str(err);
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    (void)kSyncCommitTimeoutMs;
  }

  // --- callbacks (poll thread) ---

  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    static_cast<KafkaSourceImpl*>(opaque)->HandleRebalance(rk, err, partitions);
  }

  void HandleRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t* partitions) {
    const bool cooperative = cooperative_;
    rebalances_->Inc();
    cache_state_ = nullptr;
    cache_rkt_ = nullptr;
    std::string names;
    for (int i = 0; i < partitions->cnt; ++i) {
      names += (i ? "," : "") + std::string(partitions->elems[i].topic) + "/" +
               std::to_string(partitions->elems[i].partition);
    }
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      LOG(kInfo, kComponent) << "assigned " << partitions->cnt << " partitions: " << names;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (int i = 0; i < partitions->cnt; ++i) {
          PartitionKey key(partitions->elems[i].topic, partitions->elems[i].partition);
          auto& state = states_[key];
          // A partition assigned again without a revoke in between keeps its state: unsent
          // messages may still point at it.
          if (!state || state->offsets.revoked()) {
            state = std::make_shared<PartitionState>(key.first, key.second);
          }
        }
      }
      if (cooperative) {
        rd_kafka_error_t* error = rd_kafka_incremental_assign(rk, partitions);
        if (error) {
          LOG(kWarn, kComponent) << "incremental assign: " << rd_kafka_error_string(error);
          rd_kafka_error_destroy(error);
        }
      } else {
        rd_kafka_assign(rk, partitions);
      }
      if (backpressure_paused_) rd_kafka_pause_partitions(rk, partitions);
      std::lock_guard<std::mutex> lock(health_mu_);
      connected_ = true;
      assigned_count_ = static_cast<int>(states_.size());
      return;
    }
    // Revoked (or lost): stop submitting, let in-flight batches settle, commit, let go.
    const bool lost = err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || rd_kafka_assignment_lost(rk);
    LOG(kInfo, kComponent) << (lost ? "lost " : "revoked ") << partitions->cnt
                           << " partitions: " << names;
    std::vector<std::shared_ptr<PartitionState>> revoked;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int i = 0; i < partitions->cnt; ++i) {
        auto it =
            states_.find(PartitionKey(partitions->elems[i].topic, partitions->elems[i].partition));
        if (it == states_.end()) continue;
        it->second->offsets.Revoke();
        revoked.push_back(it->second);
      }
      DropFromHeld(
          [](const PartitionState& ps, const BatchRefs::Ref&) { return ps.offsets.revoked(); });
    }
    // Unsent messages of those partitions are redelivered to whoever gets them next.
    EraseMarked(building_msgs_, building_refs_,
                [this](size_t i) { return building_refs_[i].state->offsets.revoked(); });
    WaitSettled([](const PartitionState& ps) { return ps.offsets.revoked(); });
    if (!lost) CommitSync([](const PartitionState& ps) { return ps.offsets.revoked(); });
    if (cooperative) {
      rd_kafka_error_t* error = rd_kafka_incremental_unassign(rk, partitions);
      if (error) rd_kafka_error_destroy(error);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& ps : revoked) states_.erase(PartitionKey(ps->topic, ps->partition));
    }
    std::lock_guard<std::mutex> lock(health_mu_);
    assigned_count_ = static_cast<int>(states_.size());
  }

  static void OnOffsetCommit(rd_kafka_t*, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t* offsets, void* opaque) {
    auto* self = static_cast<KafkaSourceImpl*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      bool all_ok = true;
      for (int i = 0; offsets && i < offsets->cnt; ++i) {
        if (offsets->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) all_ok = false;
      }
      if (all_ok) {
        self->commits_ok_->Inc();
        return;
      }
    }
    self->commits_failed_->Inc();
    // At most one line a second: a broker refusing commits would otherwise flood the log.
    const int64_t now = self->clock_->NowMonoNanos();
    if (now - self->last_commit_warning_ns_ >= 1'000'000'000) {
      LOG(kWarn, kComponent) << "offset commit failed: " << rd_kafka_err2str(err)
                             << "; will commit again (" << self->commits_failed_->value()
                             << " failed commits so far)";
      self->last_commit_warning_ns_ = now;
    }
    // Sent targets are re-sent on the next control step.
    std::lock_guard<std::mutex> lock(self->mu_);
    for (int i = 0; offsets && i < offsets->cnt; ++i) {
      auto it =
          self->states_.find(PartitionKey(offsets->elems[i].topic, offsets->elems[i].partition));
      if (it != self->states_.end()) it->second->offsets.CommitFailed(offsets->elems[i].offset);
    }
  }

  static void OnError(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaSourceImpl*>(opaque);
    const auto code = static_cast<rd_kafka_resp_err_t>(err);
    if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
      std::lock_guard<std::mutex> lock(self->health_mu_);
      self->connected_ = false;
    }
    if (code == RD_KAFKA_RESP_ERR__TRANSPORT) {
      const std::string node = BrokerNodeFromTransportError(reason);
      if (!node.empty()) self->brokers_.MarkDown(node);
    }
    // The reason names the broker as configured, with whatever credentials were written there.
    LOG(kWarn, kComponent) << rd_kafka_err2name(code) << ": "
                           << RedactText(reason != nullptr ? reason : "");
  }

  // Statistics (every statistics.interval.ms): broker states → connected, down/up transitions.
  static int OnStats(rd_kafka_t*, char* json, size_t json_len, void* opaque) {
    static_cast<KafkaSourceImpl*>(opaque)->HandleStats(std::string_view(json, json_len));
    return 0;  // librdkafka frees json
  }

  void HandleStats(std::string_view json) {
    const std::optional<BrokerStats> nodes = ParseBrokerStats(json);
    if (!nodes) return;
    const BrokerTracker::Update update = brokers_.Apply(*nodes);
    for (const BrokerTracker::Change& change : update.changes) {
      if (change.reconnected) {
        LOG(kInfo, kComponent) << "broker " << change.name << " reconnected";
      } else {
        LOG(kWarn, kComponent) << "broker " << change.name << " down";
      }
    }
    if (update.reconnects > 0) reconnects_->Inc(update.reconnects);
    std::lock_guard<std::mutex> lock(health_mu_);
    connected_ = update.any_up;
  }

  // --- writer thread ---

  void OnSettled(BatchRefs& refs, const std::vector<Settlement>& settlements) {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = clock_->NowMonoNanos();
    const size_t n = std::min(settlements.size(), refs.refs.size());
    for (size_t i = 0; i < refs.refs.size(); ++i) {
      const BatchRefs::Ref& ref = refs.refs[i];
      // A missing settlement (never expected) is treated as a retry: never commit past it.
      const bool retry = i >= n || settlements[i].verdict == Verdict::kRetry;
      refs.parts[ref.part]->offsets.Settle(ref.epoch, ref.offset, retry,
                                           i < n ? settlements[i].retry_delay_ms : 0);
    }
    total_in_flight_.fetch_sub(static_cast<int64_t>(refs.refs.size()));
    for (const auto& part : refs.parts) {
      if (part->offsets.FinishSettlements(now)) retries_->Inc();
    }
    settled_cv_.notify_all();
  }

  KafkaOptions options_;
  BatchSink* sink_;
  Metrics* metrics_;
  Clock* clock_;
  rd_kafka_t* consumer_ = nullptr;
  std::unique_ptr<KafkaDeadLetterSink> dlq_;
  std::thread poll_thread_;
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<bool> stop_requested_{false};

  Counter* reconnects_;
  Counter* rebalances_;
  Counter* commits_ok_;
  Counter* commits_failed_;
  Counter* retries_;
  Counter* backpressure_;
  Counter* skipped_offsets_;
  Counter* seek_failures_;

  // Partition states: the map itself is changed only on the poll thread (rebalance callback);
  // PartitionState fields marked "guarded" and the map's reads off the poll thread use mu_.
  mutable std::mutex mu_;
  std::condition_variable settled_cv_;
  std::map<PartitionKey, std::shared_ptr<PartitionState>> states_;
  std::atomic<int64_t> total_in_flight_{0};

  // Poll thread only.
  std::vector<RawMessage> building_msgs_;
  std::vector<Consumed> building_refs_;
  std::unique_ptr<Held> held_;
  bool backpressure_paused_ = false;
  bool cooperative_ = false;  // the group's rebalance protocol is COOPERATIVE (set by Init)
  rd_kafka_topic_t* cache_rkt_ = nullptr;
  int32_t cache_partition_ = -1;
  PartitionState* cache_state_ = nullptr;
  int64_t last_lag_refresh_ns_ = 0;
  int64_t last_commit_warning_ns_ = INT64_MIN / 2;
  BrokerTracker brokers_;  // statistics and error callbacks

  mutable std::mutex health_mu_;
  bool connected_ = false;
  int assigned_count_ = 0;
  std::map<std::string, int64_t> lag_;
};

}  // namespace

Result<std::unique_ptr<KafkaSource>> KafkaSource::Create(KafkaOptions options, BatchSink* sink,
                                                         Metrics* metrics, Clock* clock) {
  if (sink == nullptr || metrics == nullptr) {
    return Status::InvalidArgument("kafka: sink and metrics are required");
  }
  if (clock == nullptr) clock = &Clock::System();
  auto source = std::make_unique<KafkaSourceImpl>(std::move(options), sink, metrics, clock);
  Status st = source->Init();
  if (!st.ok()) return st;
  return std::unique_ptr<KafkaSource>(std::move(source));
}

}  // namespace ingestlab
