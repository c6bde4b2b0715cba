// NatsPublisher over cnats: see nats_publisher.h.
#include "simulators/nats_publisher.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nats/nats.h>

#include "common/log.h"
#include "common/redact.h"

namespace ingestlab::sim {
namespace {

std::string NatsError(natsStatus s) {
  std::string text = natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last && *last && text != last) text += std::string(": ") + last;
  return text;
}

int64_t MonoMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct NatsPublisher::Impl {
  NatsPublisherOptions options;
  natsOptions* nats_options = nullptr;
  natsConnection* conn = nullptr;
  jsCtx* js = nullptr;

  std::mutex mu;
  std::condition_variable changed;
  struct Entry {
    PublishDone done;
    int attempts = 1;
  };
  std::unordered_map<natsMsg*, Entry> in_flight;  // JetStream: not yet acked or failed
  std::multimap<int64_t, natsMsg*> retries;       // due (mono ms) → message we own again
  std::vector<PublishDone> unflushed;             // core NATS: published, not yet flushed
  int callbacks_running = 0;  // done callbacks out of in_flight but not yet returned
  bool closing = false;
  std::thread retry_thread;

  void Complete(natsMsg* msg, const PublishOutcome& outcome_in) {
    PublishDone done;
    PublishOutcome outcome = outcome_in;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = in_flight.find(msg);
      if (it == in_flight.end()) return;
      done = std::move(it->second.done);
      outcome.attempts = it->second.attempts;
      in_flight.erase(it);
      ++callbacks_running;
    }
    if (done) done(outcome);
    {
      std::lock_guard<std::mutex> lock(mu);
      --callbacks_running;
    }
    changed.notify_all();
  }

  // Called by cnats for every async publish: PubAck (pa) or failure (pae).
  static void OnAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* self = static_cast<Impl*>(closure);
    if (pa) {
      self->Complete(msg, PublishOutcome{true, "", 1});
      natsMsg_Destroy(msg);
      return;
    }
    const natsStatus err = pae ? pae->Err : NATS_ERR;
    const int api_code = pae ? static_cast<int>(pae->ErrCode) : 0;
    std::string text = natsStatus_GetText(err);
    if (pae && pae->ErrText) text += std::string(": ") + pae->ErrText;
    // A JetStream API error (e.g. message too large) is final; transport trouble is retried,
    // and so is "no responders" (503): the stream has no leader while a cluster elects one.
    const bool no_responders = err == NATS_NO_RESPONDERS || api_code == 503;
    const bool retryable =
        no_responders ||
        (api_code == 0 && (err == NATS_TIMEOUT || err == NATS_CONNECTION_CLOSED ||
                           err == NATS_CONNECTION_DISCONNECTED || err == NATS_ERR));
    {
      std::lock_guard<std::mutex> lock(self->mu);
      auto it = self->in_flight.find(msg);
      if (retryable && !self->closing && it != self->in_flight.end() &&
          it->second.attempts < self->options.max_attempts) {
        const int64_t backoff =
            std::min<int64_t>(2000, self->options.backoff_ms << (it->second.attempts - 1));
        ++it->second.attempts;
        self->retries.emplace(MonoMillis() + backoff, msg);  // we own msg again
        self->changed.notify_all();
        return;
      }
    }
    self->Complete(msg, PublishOutcome{false, text, 1});
    natsMsg_Destroy(msg);
  }

  // Sends one message the library will own on success. Waits while the async window is full.
  natsStatus SendAsync(natsMsg** msg) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = options.ack_wait_ms;
    while (true) {
      const natsStatus s = js_PublishMsgAsync(js, msg, &po);
      if (s != NATS_TIMEOUT) return s;  // NATS_TIMEOUT here = stalled on MaxPending
      std::lock_guard<std::mutex> lock(mu);
      if (closing) return s;
    }
  }

  void RetryLoop() {
    std::unique_lock<std::mutex> lock(mu);
    while (!closing) {
      if (retries.empty()) {
        changed.wait(lock);
        continue;
      }
      const int64_t now = MonoMillis();
      auto first = retries.begin();
      if (first->first > now) {
        changed.wait_for(lock, std::chrono::milliseconds(first->first - now));
        continue;
      }
      natsMsg* msg = first->second;
      retries.erase(first);
      lock.unlock();
      natsMsg* owned = msg;
      const natsStatus s = SendAsync(&owned);
      lock.lock();
      if (s != NATS_OK) {
        auto it = in_flight.find(msg);
        if (it != in_flight.end() && it->second.attempts < options.max_attempts && !closing) {
          const int64_t backoff =
              std::min<int64_t>(2000, options.backoff_ms << (it->second.attempts - 1));
          ++it->second.attempts;
          retries.emplace(MonoMillis() + backoff, msg);
          continue;
        }
        lock.unlock();
        Complete(msg, PublishOutcome{false, "republish: " + NatsError(s), 1});
        natsMsg_Destroy(msg);
        lock.lock();
      }
    }
  }

  Status FlushCore(int64_t timeout_ms) {
    std::vector<PublishDone> batch;
    {
      std::lock_guard<std::mutex> lock(mu);
      batch.swap(unflushed);
    }
    if (batch.empty()) return Status::Ok();
    const natsStatus s = natsConnection_FlushTimeout(conn, timeout_ms);
    const PublishOutcome outcome{s == NATS_OK, s == NATS_OK ? "" : "flush: " + NatsError(s), 1};
    for (auto& done : batch) done(outcome);
    return s == NATS_OK ? Status::Ok() : Status::Transient("nats flush: " + NatsError(s));
  }
};

NatsPublisher::NatsPublisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NatsPublisher::~NatsPublisher() { Close(); }

TransportKind NatsPublisher::transport() const {
  return impl_->options.jetstream ? TransportKind::kJetStream : TransportKind::kNats;
}

Result<std::unique_ptr<NatsPublisher>> NatsPublisher::Connect(const NatsPublisherOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  natsStatus s = natsOptions_Create(&impl->nats_options);
  // A comma-separated list goes in as a server list (SetURL takes one URL).
  std::vector<std::string> urls;
  for (size_t pos = 0; pos <= options.urls.size();) {
    size_t comma = options.urls.find(',', pos);
    if (comma == std::string::npos) comma = options.urls.size();
    std::string url = options.urls.substr(pos, comma - pos);
    while (!url.empty() && url.front() == ' ') url.erase(url.begin());
    while (!url.empty() && url.back() == ' ') url.pop_back();
    if (!url.empty()) urls.push_back(std::move(url));
    pos = comma + 1;
  }
  if (urls.empty()) {
    if (impl->nats_options) natsOptions_Destroy(impl->nats_options);
    return Status::InvalidArgument("nats: no server URL given");
  }
  std::vector<const char*> url_ptrs;
  for (const auto& u : urls) url_ptrs.push_back(u.c_str());
  if (s == NATS_OK) {
    s = natsOptions_SetServers(impl->nats_options, url_ptrs.data(),
                               static_cast<int>(url_ptrs.size()));
  }
  if (s == NATS_OK) s = natsOptions_SetName(impl->nats_options, options.name.c_str());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(impl->nats_options, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(impl->nats_options, 100);
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(impl->nats_options, 64 << 20);
  if (s == NATS_OK) s = natsOptions_SetTimeout(impl->nats_options, 2000);
  if (s == NATS_OK) {
    if (Status st = ApplyNatsSecurity(impl->nats_options, options.security); !st.ok()) {
      natsOptions_Destroy(impl->nats_options);
      return st;
    }
  }
  if (s == NATS_OK) s = natsConnection_Connect(&impl->conn, impl->nats_options);
  if (s != NATS_OK) {
    const std::string error = NatsError(s);
    if (impl->nats_options) natsOptions_Destroy(impl->nats_options);
    return Status::Io("nats connect " + RedactUrlList(options.urls) + ": " + RedactText(error));
  }
  if (options.jetstream) {
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = options.max_in_flight;
    jo.PublishAsync.AckHandler = &Impl::OnAck;
    jo.PublishAsync.AckHandlerClosure = impl.get();
    jo.PublishAsync.StallWait = 200;
    s = natsConnection_JetStream(&impl->js, impl->conn, &jo);
    if (s != NATS_OK) {
      const std::string error = NatsError(s);
      natsConnection_Destroy(impl->conn);
      natsOptions_Destroy(impl->nats_options);
      return Status::Io("jetstream context: " + error);
    }
    Impl* raw = impl.get();
    impl->retry_thread = std::thread([raw] { raw->RetryLoop(); });
  }
  LOG(kInfo, "simulate") << "connected to nats " << RedactUrlList(options.urls)
                         << (options.jetstream ? " (jetstream)" : " (core)");
  return std::unique_ptr<NatsPublisher>(new NatsPublisher(std::move(impl)));
}

Status NatsPublisher::Publish(const std::string& subject, const std::string&,
                              const MessageHeaders& headers, std::string_view payload,
                              PublishDone done) {
  Impl& d = *impl_;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (d.closing) return Status::Io("nats publisher is closed");
  }
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(),
                                static_cast<int>(payload.size()));
  for (const auto& [name, value] : headers) {
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, name.c_str(), value.c_str());
  }
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    return Status::InvalidArgument("nats message for " + subject + ": " + NatsError(s));
  }
  if (!d.options.jetstream) {
    s = natsConnection_PublishMsg(d.conn, msg);
    natsMsg_Destroy(msg);
    if (s != NATS_OK) return Status::Io("nats publish " + subject + ": " + NatsError(s));
    bool flush = false;
    {
      std::lock_guard<std::mutex> lock(d.mu);
      d.unflushed.push_back(std::move(done));
      flush = d.unflushed.size() >= 512;
    }
    if (flush) d.FlushCore(d.options.ack_wait_ms);
    return Status::Ok();
  }
  natsMsg* key = msg;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    d.in_flight[key] = Impl::Entry{std::move(done), 1};
  }
  s = d.SendAsync(&msg);
  if (s != NATS_OK) {
    {
      std::lock_guard<std::mutex> lock(d.mu);
      d.in_flight.erase(key);
    }
    d.changed.notify_all();
    natsMsg_Destroy(msg);
    return Status::Io("jetstream publish " + subject + ": " + NatsError(s));
  }
  return Status::Ok();
}

Status NatsPublisher::Flush(std::chrono::milliseconds timeout) {
  Impl& d = *impl_;
  if (!d.options.jetstream) return d.FlushCore(timeout.count());
  std::unique_lock<std::mutex> lock(d.mu);
  // Done when nothing is in flight and every callback has returned.
  const bool done = d.changed.wait_for(
      lock, timeout, [&] { return d.in_flight.empty() && d.callbacks_running == 0; });
  if (done) return Status::Ok();
  return Status::Transient(std::to_string(d.in_flight.size()) +
                           " jetstream publishes still unacknowledged after " +
                           std::to_string(timeout.count()) + " ms");
}

void NatsPublisher::Close() {
  Impl& d = *impl_;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (d.closing) return;
    d.closing = true;
  }
  d.changed.notify_all();
  if (d.retry_thread.joinable()) d.retry_thread.join();
  if (!d.options.jetstream && d.conn) d.FlushCore(d.options.ack_wait_ms);
  // Whatever is still waiting fails now: messages queued for retry, then those cnats holds.
  std::vector<natsMsg*> orphans;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    for (auto& [due, msg] : d.retries) orphans.push_back(msg);
    d.retries.clear();
  }
  for (natsMsg* msg : orphans) {
    d.Complete(msg, PublishOutcome{false, "publisher closed before the publish was acked", 1});
    natsMsg_Destroy(msg);
  }
  if (d.js) {
    natsMsgList pending;
    if (js_PublishAsyncGetPendingList(&pending, d.js) == NATS_OK) {
      for (int i = 0; i < pending.Count; ++i) {
        d.Complete(pending.Msgs[i],
                   PublishOutcome{false, "publisher closed before the publish was acked", 1});
      }
      natsMsgList_Destroy(&pending);
    }
  }
  // Anything left (a callback racing with close) fails too.
  std::vector<PublishDone> left;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    for (auto& [msg, entry] : d.in_flight) left.push_back(std::move(entry.done));
    d.in_flight.clear();
  }
  for (auto& done : left) {
    if (done) done(PublishOutcome{false, "publisher closed before the publish was acked", 1});
  }
  if (d.js) jsCtx_Destroy(d.js);
  d.js = nullptr;
  if (d.conn) {
    natsConnection_Close(d.conn);
    natsConnection_Destroy(d.conn);
  }
  d.conn = nullptr;
  if (d.nats_options) natsOptions_Destroy(d.nats_options);
  d.nats_options = nullptr;
}

}  // namespace ingestlab::sim
