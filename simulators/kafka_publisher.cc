// KafkaPublisher over librdkafka: see kafka_publisher.h.
#include "simulators/kafka_publisher.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <librdkafka/rdkafka.h>

#include "common/log.h"

namespace ingestlab::sim {

struct KafkaPublisher::Impl {
  KafkaPublisherOptions options;
  rd_kafka_t* rk = nullptr;
  std::atomic<bool> stop{false};
  std::atomic<bool> closed{false};
  std::thread poller;
  // Produced messages whose delivery callback has not returned yet.
  std::mutex mu;
  std::condition_variable settled;
  int64_t outstanding = 0;

  // Delivery report: one per produced message, on the poll thread.
  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* done = static_cast<PublishDone*>(m->_private);
    if (!done) return;
    PublishOutcome outcome;
    outcome.acked = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!outcome.acked) outcome.error = rd_kafka_err2str(m->err);
    (*done)(outcome);
    delete done;
    auto* self = static_cast<Impl*>(opaque);
    {
      std::lock_guard<std::mutex> lock(self->mu);
      --self->outstanding;
    }
    self->settled.notify_all();
  }
};

KafkaPublisher::KafkaPublisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaPublisher::~KafkaPublisher() { Close(); }

Result<std::unique_ptr<KafkaPublisher>> KafkaPublisher::Create(
    const KafkaPublisherOptions& options) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::pair<const char*, std::string> settings[] = {
      {"bootstrap.servers", options.bootstrap},
      {"client.id", options.client_id},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", std::to_string(options.linger_ms)},
      {"message.timeout.ms", std::to_string(options.message_timeout_ms)},
      {"message.max.bytes", std::to_string(options.max_message_bytes)},
      {"queue.buffering.max.messages", "200000"},
  };
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument(std::string("kafka producer ") + name + ": " + err);
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, &Impl::OnDelivery);
  auto impl = std::make_unique<Impl>();
  rd_kafka_conf_set_opaque(conf, impl.get());
  impl->options = options;
  impl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!impl->rk) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("kafka producer: ") + err);
  }
  Impl* raw = impl.get();
  impl->poller = std::thread([raw] {
    while (!raw->stop.load()) rd_kafka_poll(raw->rk, 50);
  });
  LOG(kInfo, "simulate") << "kafka producer for " << options.bootstrap << " (idempotent, acks=all)";
  return std::unique_ptr<KafkaPublisher>(new KafkaPublisher(std::move(impl)));
}

Status KafkaPublisher::Publish(const std::string& topic, const std::string& key,
                               const MessageHeaders& headers, std::string_view payload,
                               PublishDone done) {
  Impl& d = *impl_;
  if (d.closed.load()) return Status::Io("kafka publisher is closed");
  rd_kafka_headers_t* hdrs = nullptr;
  if (!headers.empty()) {
    hdrs = rd_kafka_headers_new(headers.size());
    for (const auto& [name, value] : headers) {
      rd_kafka_header_add(hdrs, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
  }
  auto* opaque = new PublishDone(std::move(done));
  {
    std::lock_guard<std::mutex> lock(d.mu);
    ++d.outstanding;
  }
  while (true) {
    const rd_kafka_resp_err_t e =
        rd_kafka_producev(d.rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                          RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                          RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                          RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();  // headers now owned by librdkafka
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !d.closed.load()) {
      // Backpressure: wait for deliveries to drain the local queue.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (hdrs) rd_kafka_headers_destroy(hdrs);
    delete opaque;
    {
      std::lock_guard<std::mutex> lock(d.mu);
      --d.outstanding;
    }
    d.settled.notify_all();
    return Status::Io("kafka produce " + topic + ": " + rd_kafka_err2str(e));
  }
}

Status KafkaPublisher::Flush(std::chrono::milliseconds timeout) {
  // The poll thread serves delivery reports; done when every callback has returned.
  Impl& d = *impl_;
  std::unique_lock<std::mutex> lock(d.mu);
  if (d.settled.wait_for(lock, timeout, [&] { return d.outstanding == 0; })) return Status::Ok();
  return Status::Transient(std::to_string(d.outstanding) +
                           " kafka messages still undelivered after " +
                           std::to_string(timeout.count()) + " ms");
}

void KafkaPublisher::Close() {
  Impl& d = *impl_;
  if (d.closed.exchange(true)) return;
  // Undelivered messages fail now (purged; their delivery reports say so).
  rd_kafka_purge(d.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_flush(d.rk, 2000);
  d.stop.store(true);
  if (d.poller.joinable()) d.poller.join();
  rd_kafka_poll(d.rk, 0);
  rd_kafka_destroy(d.rk);
  d.rk = nullptr;
}

}  // namespace ingestlab::sim
