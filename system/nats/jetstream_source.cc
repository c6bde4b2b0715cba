// JetStreamSource: streams, durable pull consumers, fetch threads, settlement acks and the
// DLQ publisher over one cnats connection. See jetstream_source.h for the promises.
//
// Threads: one fetch thread per consumed stream (pull request -> messages on a private inbox ->
// InboundBatch -> sink->Submit), a monitor thread refreshing consumer lag once a second, and,
// when the broker is not reachable at Start, a setup thread that creates streams and consumers
// once it is. Acks are sent from the sink's writer thread inside on_settled as plain publishes
// to each message's reply subject ("+ACK", "-NAK {delay}"), buffered and flushed in bulk by
// cnats: no per-message round trip. Every natsMsg stays alive until its settlement is sent.
#include "system/nats/jetstream_source.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <nats/nats.h>

#include "common/log.h"
#include "common/redact.h"
#include "system/mutant.h"
#include "system/nats/nats_util.h"
#include "system/sha256.h"

namespace ingestlab {

using nats_util::ToStatus;

const std::vector<StreamSpec>& DefaultStreams() {
  static const std::vector<StreamSpec> kStreams = {
      {"BILLING", {"billing.>"}}, {"SUPPORT", {"support.>"}},
      {"AUTH", {"auth.>"}},       {"LEARNING", {"learning.>", "homework.>", "recommendation.>"}},
      {"FOCUS", {"focus.>"}},     {"CUSTOMER", {"customer.events.>"}},
      {"DLQ", {"dlq.>"}},
  };
  return kStreams;
}

namespace {

constexpr int64_t kNanosPerMilli = 1'000'000;
constexpr int64_t kDuplicateWindowNanos = 2 * 60 * 1'000'000'000LL;
constexpr int64_t kApiWaitMs = 5'000;
constexpr const char* kDeadLetterStream = "DLQ";

std::string JoinSubjects(const std::vector<std::string>& subjects) {
  std::string out = "[";
  for (size_t i = 0; i < subjects.size(); ++i) out += (i ? ", " : "") + subjects[i];
  return out + "]";
}

// Server URLs as they may be shown: "[nats://ingest:***@host:4222, ...]".
std::string JoinUrls(const std::vector<std::string>& urls) {
  std::vector<std::string> shown;
  for (const std::string& u : urls) shown.push_back(RedactUrlList(u));
  return JoinSubjects(shown);
}

// The URL cnats is connected to, credentials redacted (cnats reports the URL as configured,
// user and password included).
std::string ConnectedUrl(natsConnection* nc) {
  char url[2048] = {0};
  if (natsConnection_GetConnectedUrl(nc, url, sizeof(url)) != NATS_OK) return "(unknown URL)";
  return RedactUrl(url);
}

// The reply (ack) subjects of one submitted batch, in message order; "" = none. The natsMsg
// objects themselves are destroyed as soon as their bytes are copied into the batch, so a message
// is held once, not twice, while it waits in the pipeline.
// One submitted batch's reply subjects, kept until it is settled. While unsettled it is listed
// in JetStreamSourceImpl::unsettled_, and the keep-alive thread sends it in-progress acks.
struct FetchedMessages {
  std::vector<std::string> replies;
  int64_t last_progress_ms = 0;  // monotonic ms of its fetch or of the last in-progress ack
  std::list<std::shared_ptr<FetchedMessages>>::iterator listed;
};

class JetStreamSourceImpl;

class JetStreamDeadLetterSink final : public DeadLetterSink {
 public:
  explicit JetStreamDeadLetterSink(JetStreamSourceImpl* source) : source_(source) {}
  Status Publish(const RawMessage& original, const DeadLetterRecord& record) override;

 private:
  JetStreamSourceImpl* source_;
};

class JetStreamSourceImpl final : public JetStreamSource {
 public:
  JetStreamSourceImpl(JetStreamOptions options, BatchSink* sink, Metrics* metrics, Clock* clock)
      : options_(std::move(options)),
        sink_(sink),
        metrics_(metrics),
        clock_(clock),
        dead_letter_sink_(this) {
    reconnects_counter_ =
        metrics_->counter("ingest_reconnects_total", "Reconnections to a broker after a disconnect",
                          {{"transport", "nats"}});
    fetched_counter_ = metrics_->counter(
        "ingest_source_messages_total", "Messages received from a broker", {{"transport", "nats"}});
    in_progress_counter_ = metrics_->counter(
        "ingest_nats_in_progress_acks_total",
        "In-progress acks (+WPI) sent for messages waiting in the pipeline longer than AckWait/3");
    if (options_.streams.empty()) {
      for (const StreamSpec& s : DefaultStreams()) {
        if (s.name != kDeadLetterStream) options_.streams.push_back(s.name);
      }
    }
  }

  ~JetStreamSourceImpl() override {
    Stop();
    for (Consumer& c : consumers_) {
      if (c.sub) natsSubscription_Destroy(c.sub);
    }
    if (js_) jsCtx_Destroy(js_);
    if (nc_) natsConnection_Destroy(nc_);
  }

  Status Start() override;
  void Stop() override;
  DeadLetterSink* dead_letter_sink() override { return &dead_letter_sink_; }
  SourceHealth Health() const override;

  Status PublishDeadLetter(const RawMessage& original, const DeadLetterRecord& record);

 private:
  struct Consumer {
    std::string stream;
    std::string durable;
    std::string inbox;  // where the server sends this consumer's messages
    natsSubscription* sub = nullptr;
  };

  Status Connect();
  // With credentials or TLS: one attempt, so that a refusal is an error, not a retry loop.
  Status ProbeCredentials(const std::vector<std::string>& urls);
  // The options both connections share: the servers, the client name, a 2 s connect timeout
  // and the security settings. The caller destroys them (natsOptions_Destroy).
  Result<natsOptions*> BaseOptions(const std::vector<std::string>& urls) const;
  Status Setup();  // streams, consumers, subscriptions; idempotent
  // `replicas` may be lowered (and stays lowered for the next streams) when the server has
  // fewer peers.
  Status EnsureStream(const StreamSpec& spec, int& replicas);
  Status EnsureConsumer(Consumer& consumer);
  // After the broker lost the stream or consumer (e.g. a fresh store): creates them again.
  Status Recreate(Consumer& consumer);
  int ClusterSize();
  void StartFetchThreads();
  void FetchLoop(size_t index);
  void MonitorLoop();
  // Every so often, an in-progress ack (+WPI) for each message submitted but not yet settled,
  // so that AckWait does not expire while it waits in the pipeline (a store stalled by a held
  // lock, a full disk): the server would redeliver a message that is still being worked on.
  void KeepAliveLoop();
  void SetupLoop();
  bool SleepUnlessStopping(int64_t ms);
  void Settle(FetchedMessages& fetched, const std::vector<Settlement>& settlements);
  // Hands `pending` to the sink as one batch (leaving it empty); false if the sink is stopping.
  bool SubmitBatch(const std::string& origin_prefix, std::vector<natsMsg*>& pending);
  // options_.fetch_max_bytes, raised so that the server's largest message fits.
  int64_t FetchMaxBytes() const {
    return std::max<int64_t>(options_.fetch_max_bytes,
                             natsConnection_GetMaxPayload(nc_) + 64 * 1024);
  }
  void ReleaseUnsubmitted(Consumer& consumer, std::vector<natsMsg*>& pending);
  bool connected() const { return nc_ && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED; }

  static void OnConnected(natsConnection* nc, void* closure);
  static void OnDisconnected(natsConnection* nc, void* closure);
  static void OnReconnected(natsConnection* nc, void* closure);
  static void OnClosed(natsConnection* nc, void* closure);
  static void OnError(natsConnection* nc, natsSubscription* sub, natsStatus err, void* closure);

  JetStreamOptions options_;
  BatchSink* sink_;
  Metrics* metrics_;
  Clock* clock_;
  JetStreamDeadLetterSink dead_letter_sink_;
  Counter* reconnects_counter_;
  Counter* fetched_counter_;

  // Set by Start() while other threads may already read them: ingestd serves /healthz
  // (Health) before it starts its sources, and the pipeline may dead-letter (PublishDeadLetter).
  std::atomic<natsConnection*> nc_{nullptr};
  std::atomic<jsCtx*> js_{nullptr};
  std::vector<Consumer> consumers_;
  std::vector<std::thread> threads_;
  std::thread setup_thread_;
  bool started_ = false;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> ready_{false};  // streams and consumers set up
  std::atomic<int64_t> reconnects_{0};
  std::atomic<int64_t> in_flight_{0};

  std::mutex unsettled_mu_;  // guards unsettled_ and the replies of the batches listed there
  std::list<std::shared_ptr<FetchedMessages>> unsettled_;
  Counter* in_progress_counter_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // stop requests, in_flight_ reaching zero
  std::map<std::string, int64_t> lag_;
  std::string setup_error_;
  bool closed_ = false;  // the connection's closed callback has run
  // Why cnats gave the connection up for good ("Authorization Violation", a TLS handshake
  // error), redacted; "" while it is open or when it was closed by Stop().
  std::string closed_reason_;
};

Status JetStreamDeadLetterSink::Publish(const RawMessage& original,
                                        const DeadLetterRecord& record) {
  return source_->PublishDeadLetter(original, record);
}

// ---- connection -----------------------------------------------------------------------------

void JetStreamSourceImpl::OnConnected(natsConnection* nc, void*) {
  LOG(kInfo, "nats") << "connected to " << ConnectedUrl(nc);
}

void JetStreamSourceImpl::OnDisconnected(natsConnection*, void* closure) {
  auto* self = static_cast<JetStreamSourceImpl*>(closure);
  if (self->stopping_) return;
  LOG(kWarn, "nats") << "disconnected; reconnecting";
}

void JetStreamSourceImpl::OnReconnected(natsConnection* nc, void* closure) {
  auto* self = static_cast<JetStreamSourceImpl*>(closure);
  self->reconnects_.fetch_add(1);
  self->reconnects_counter_->Inc();
  LOG(kInfo, "nats") << "reconnected to " << ConnectedUrl(nc) << " (reconnect #"
                     << self->reconnects_.load() << ")";
}

void JetStreamSourceImpl::OnClosed(natsConnection* nc, void* closure) {
  auto* self = static_cast<JetStreamSourceImpl*>(closure);
  std::string reason;
  if (self->stopping_) {
    LOG(kInfo, "nats") << "connection closed";
  } else {
    // cnats closes for good on what retrying cannot fix: refused credentials, a server
    // certificate that is not trusted. Say which.
    const char* text = nullptr;
    const natsStatus last = natsConnection_GetLastError(nc, &text);
    reason = RedactText(text != nullptr && *text != '\0' ? text : natsStatus_GetText(last));
    LOG(kError, "nats") << "connection closed unexpectedly: " << reason;
  }
  // The last callback cnats makes: Stop() waits for it before the object may go away.
  std::lock_guard<std::mutex> lock(self->mu_);
  self->closed_ = true;
  self->closed_reason_ = reason;
  self->cv_.notify_all();
}

void JetStreamSourceImpl::OnError(natsConnection*, natsSubscription*, natsStatus err, void*) {
  LOG(kWarn, "nats") << "asynchronous error: " << natsStatus_GetText(err);
}

Result<natsOptions*> JetStreamSourceImpl::BaseOptions(const std::vector<std::string>& urls) const {
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s != NATS_OK) return ToStatus(s, "creating options");
  std::vector<const char*> servers;
  for (const std::string& u : urls) servers.push_back(u.c_str());
  s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts, "ingestd");
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 2'000);
  if (s != NATS_OK) {
    natsOptions_Destroy(opts);
    return ToStatus(s, "setting options");
  }
  if (Status st = ApplyNatsSecurity(opts, options_.security); !st.ok()) {
    natsOptions_Destroy(opts);
    return st;
  }
  return opts;
}

Status JetStreamSourceImpl::ProbeCredentials(const std::vector<std::string>& urls) {
  // A connection that retries in the background would take a refused password or an untrusted
  // certificate as "no server yet", and cnats then closes it for good: one plain attempt first
  // tells a configuration error (reported now, as one line) from a server that is not up yet.
  auto base = BaseOptions(urls);
  if (!base.ok()) return base.status();
  natsOptions* opts = *base;
  natsStatus s = natsOptions_SetMaxReconnect(opts, 0);
  if (s != NATS_OK) {
    natsOptions_Destroy(opts);
    return ToStatus(s, "setting options");
  }
  natsConnection* nc = nullptr;
  s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (nc != nullptr) natsConnection_Destroy(nc);
  switch (s) {
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_SSL_ERROR:
    case NATS_SECURE_CONNECTION_WANTED:
    case NATS_SECURE_CONNECTION_REQUIRED:
    case NATS_NOT_PERMITTED:
      return ToStatus(s, "refused by " + JoinUrls(urls));
    default:
      return Status::Ok();  // connected, or not up yet: the real connection takes it from here
  }
}

Status JetStreamSourceImpl::Connect() {
  const std::vector<std::string> urls = nats_util::SplitUrls(options_.urls);
  if (urls.empty()) return Status::InvalidArgument("nats: no server URLs given");
  auto base = BaseOptions(urls);
  if (!base.ok()) return base.status();
  natsOptions* opts = *base;
  natsStatus s = natsOptions_SetMaxReconnect(opts, -1);  // forever
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
  if (s == NATS_OK) s = natsOptions_SetReconnectJitter(opts, 250, 1000);
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, 2'000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, 3);
  // Acks sent while disconnected wait here; unacked ones are redelivered anyway.
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, 32 << 20);
  if (s == NATS_OK) s = natsOptions_SetIOBufSize(opts, 256 << 10);
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts, true, OnConnected, this);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, OnDisconnected, this);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, OnReconnected, this);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, OnClosed, this);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts, OnError, this);
  if (s != NATS_OK) {
    natsOptions_Destroy(opts);
    return ToStatus(s, "setting options");
  }
  if (!options_.security.empty()) {
    LOG(kInfo, "nats") << "security: " << DescribeNatsSecurity(options_.security);
    if (Status refused = ProbeCredentials(urls); !refused.ok()) {
      natsOptions_Destroy(opts);
      return refused;
    }
  }
  natsConnection* nc = nullptr;
  s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  nc_ = nc;
  if (s == NATS_NOT_YET_CONNECTED) {
    LOG(kWarn, "nats") << "no server reachable at " << JoinUrls(urls)
                       << " yet; retrying in the background";
  } else if (s != NATS_OK) {
    return ToStatus(s, "connecting to " + JoinUrls(urls));
  } else {
    LOG(kInfo, "nats") << "connected to " << ConnectedUrl(nc_);
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = kApiWaitMs;
  jsCtx* js = nullptr;
  s = natsConnection_JetStream(&js, nc, &jo);
  if (s != NATS_OK) return ToStatus(s, "creating JetStream context");
  js_ = js;
  return Status::Ok();
}

int JetStreamSourceImpl::ClusterSize() {
  char** servers = nullptr;
  int count = 0;
  if (natsConnection_GetServers(nc_, &servers, &count) != NATS_OK) return 1;
  std::set<std::string> unique;
  for (int i = 0; i < count; ++i) {
    std::string u = servers[i];
    const size_t scheme = u.find("://");
    if (scheme != std::string::npos) u = u.substr(scheme + 3);
    if (u.rfind("localhost:", 0) == 0) u = "127.0.0.1:" + u.substr(10);
    unique.insert(u);
    free(servers[i]);
  }
  free(servers);
  return std::max<int>(1, static_cast<int>(unique.size()));
}

// ---- streams and consumers ------------------------------------------------------------------

Status JetStreamSourceImpl::EnsureStream(const StreamSpec& spec, int& replicas) {
  std::vector<std::string> wanted = spec.subjects;
  std::sort(wanted.begin(), wanted.end());
  for (int attempt = 0; attempt < 4; ++attempt) {
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js_, spec.name.c_str(), nullptr, &jerr);
    if (s == NATS_OK) {
      std::vector<std::string> have;
      for (int i = 0; i < si->Config->SubjectsLen; ++i) have.push_back(si->Config->Subjects[i]);
      jsStreamInfo_Destroy(si);
      std::vector<std::string> have_sorted = have;
      std::sort(have_sorted.begin(), have_sorted.end());
      if (have_sorted != wanted) {
        return Status::InvalidArgument("nats: stream " + spec.name + " exists with subjects " +
                                       JoinSubjects(have) + " but ingestd needs " +
                                       JoinSubjects(spec.subjects) +
                                       "; not changing it (fix or delete the stream)");
      }
      return Status::Ok();
    }
    if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
      return ToStatus(s, "looking up stream " + spec.name, jerr);
    }
    if (!options_.create_streams) {
      return Status::NotFound("nats: stream " + spec.name +
                              " does not exist (and creating "
                              "streams is disabled)");
    }
    std::vector<const char*> subjects;
    for (const std::string& subj : spec.subjects) subjects.push_back(subj.c_str());
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = spec.name.c_str();
    cfg.Subjects = subjects.data();
    cfg.SubjectsLen = static_cast<int>(subjects.size());
    cfg.Storage = js_FileStorage;
    cfg.Duplicates = kDuplicateWindowNanos;
    cfg.Replicas = replicas;
    jerr = static_cast<jsErrCode>(0);
    s = js_AddStream(&si, js_, &cfg, nullptr, &jerr);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(si);
      LOG(kInfo, "nats") << "created stream " << spec.name << " " << JoinSubjects(spec.subjects)
                         << " replicas " << replicas;
      return Status::Ok();
    }
    if (jerr == JSStreamReplicasNotSupportedErr && replicas > 1) {
      LOG(kInfo, "nats") << "server is not clustered: streams get 1 replica";
      replicas = 1;
      continue;
    }
    if ((jerr == JSClusterNoPeersErr || jerr == JSInsufficientResourcesErr) && replicas > 1 &&
        options_.replicas == 0 && ClusterSize() < replicas) {
      // Fewer servers than replicas (e.g. a 2-node cluster): as many as there are.
      replicas = std::max(1, ClusterSize());
      LOG(kWarn, "nats") << "not enough servers for more replicas; creating " << spec.name
                         << " with " << replicas;
      continue;
    }
    if (jerr == JSStreamNameExistErr) continue;  // created concurrently: check its subjects
    return ToStatus(s, "creating stream " + spec.name + " " + JoinSubjects(spec.subjects), jerr);
  }
  return Status::Internal("nats: stream " + spec.name + " could not be created or read");
}

Status JetStreamSourceImpl::EnsureConsumer(Consumer& consumer) {
  // The server replaces AckWait with BackOff[0] and times every later redelivery of an unacked
  // message by BackOff. Create() refused any step shorter than ack_wait_ms, so the steps are
  // used as given; explicit retries use NAK-with-delay instead.
  std::vector<int64_t> backoff_ns;
  for (int64_t ms : options_.backoff_ms) backoff_ns.push_back(ms * kNanosPerMilli);
  jsConsumerConfig cfg;
  jsConsumerConfig_Init(&cfg);
  cfg.Durable = consumer.durable.c_str();
  cfg.AckPolicy = js_AckExplicit;
  cfg.AckWait = static_cast<int64_t>(options_.ack_wait_ms) * kNanosPerMilli;
  cfg.MaxDeliver = options_.server_max_deliver;
  if (!backoff_ns.empty()) {
    cfg.BackOff = backoff_ns.data();
    cfg.BackOffLen = static_cast<int>(backoff_ns.size());
  }
  cfg.DeliverPolicy = js_DeliverAll;
  // Enough unacked messages for several fetch batches to be in the pipeline at once.
  cfg.MaxAckPending = std::max<int64_t>(20'000, 4LL * options_.fetch_batch);

  jsConsumerInfo* ci = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetConsumerInfo(&ci, js_, consumer.stream.c_str(), consumer.durable.c_str(),
                                    nullptr, &jerr);
  if (s == NATS_OK) {
    jsConsumerInfo_Destroy(ci);
    ci = nullptr;
    s = js_UpdateConsumer(&ci, js_, consumer.stream.c_str(), &cfg, nullptr, &jerr);
    if (s != NATS_OK) {
      // Keep using the consumer as it is: its position matters more than its settings.
      LOG(kWarn, "nats") << "consumer " << consumer.stream << "/" << consumer.durable
                         << " settings not updated: " << ToStatus(s, "update", jerr).message();
    }
  } else if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) {
    jerr = static_cast<jsErrCode>(0);
    s = js_AddConsumer(&ci, js_, consumer.stream.c_str(), &cfg, nullptr, &jerr);
    if (s != NATS_OK) {
      return ToStatus(s, "creating consumer " + consumer.stream + "/" + consumer.durable, jerr);
    }
    LOG(kInfo, "nats") << "created durable consumer " << consumer.stream << "/" << consumer.durable;
  } else {
    return ToStatus(s, "looking up consumer " + consumer.stream + "/" + consumer.durable, jerr);
  }
  if (ci) jsConsumerInfo_Destroy(ci);

  if (consumer.sub == nullptr) {
    // Pull requests go to $JS.API.CONSUMER.MSG.NEXT.<stream>.<durable> with replies to a
    // private inbox: we keep one request outstanding and batch what arrives ourselves (see
    // FetchLoop), instead of cnats's Fetch, which writes past its array when messages of an
    // earlier request are still queued (cnats 3.4).
    natsInbox* inbox = nullptr;
    s = natsInbox_Create(&inbox);
    if (s != NATS_OK) return ToStatus(s, "creating an inbox");
    consumer.inbox = inbox;
    natsInbox_Destroy(inbox);
    s = natsConnection_SubscribeSync(&consumer.sub, nc_, consumer.inbox.c_str());
    if (s != NATS_OK) {
      consumer.sub = nullptr;
      return ToStatus(s, "subscribing to " + consumer.inbox);
    }
    // Bounded by the outstanding pull request's max_bytes; the byte limit is a safety net
    // (beyond it cnats drops messages, which the server redelivers after AckWait).
    natsSubscription_SetPendingLimits(consumer.sub, -1, static_cast<int>(std::min<int64_t>(
                                                        4 * FetchMaxBytes(), INT32_MAX)));
  }
  return Status::Ok();
}

Status JetStreamSourceImpl::Recreate(Consumer& consumer) {
  int replicas = options_.replicas > 0 ? options_.replicas : 3;
  for (const StreamSpec& spec : DefaultStreams()) {
    if (spec.name == consumer.stream) INGEST_RETURN_IF_ERROR(EnsureStream(spec, replicas));
  }
  // The DLQ stream too: dead letters have nowhere to go without it.
  for (const StreamSpec& spec : DefaultStreams()) {
    if (spec.name == kDeadLetterStream) INGEST_RETURN_IF_ERROR(EnsureStream(spec, replicas));
  }
  return EnsureConsumer(consumer);
}

Status JetStreamSourceImpl::Setup() {
  // min(3, cluster size). The size the client learns from the server's INFO may lag a
  // cluster that just formed, so start from 3 and let EnsureStream step down when the server
  // says it is not clustered (or has too few peers).
  int replicas = options_.replicas > 0 ? options_.replicas : 3;
  std::set<std::string> known;
  for (const StreamSpec& spec : DefaultStreams()) {
    known.insert(spec.name);
    const bool consumed = std::find(options_.streams.begin(), options_.streams.end(), spec.name) !=
                          options_.streams.end();
    if (!consumed && spec.name != kDeadLetterStream) continue;
    INGEST_RETURN_IF_ERROR(EnsureStream(spec, replicas));
  }
  for (Consumer& c : consumers_) {
    if (!known.count(c.stream)) {
      // Not one of ours: it must exist already; we only read it.
      jsStreamInfo* si = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      natsStatus s = js_GetStreamInfo(&si, js_, c.stream.c_str(), nullptr, &jerr);
      if (s != NATS_OK) return ToStatus(s, "looking up stream " + c.stream, jerr);
      jsStreamInfo_Destroy(si);
    }
    INGEST_RETURN_IF_ERROR(EnsureConsumer(c));
  }
  return Status::Ok();
}

// ---- lifecycle ------------------------------------------------------------------------------

Status JetStreamSourceImpl::Start() {
  if (started_) return Status::Internal("nats: source started twice");
  started_ = true;
  for (const std::string& stream : options_.streams) {
    Consumer c;
    c.stream = stream;
    c.durable = options_.durable_prefix + "-" + stream;
    consumers_.push_back(std::move(c));
  }
  INGEST_RETURN_IF_ERROR(Connect());
  if (connected()) {
    Status st = Setup();
    if (!st.ok()) {
      if (!st.is_transient()) return st;
      // e.g. a cluster still electing leaders: keep trying in the background.
      LOG(kWarn, "nats") << "setup not finished yet: " << st.message() << "; retrying";
      setup_thread_ = std::thread([this] { SetupLoop(); });
      return Status::Ok();
    }
    ready_ = true;
    StartFetchThreads();
  } else {
    setup_thread_ = std::thread([this] { SetupLoop(); });
  }
  return Status::Ok();
}

void JetStreamSourceImpl::SetupLoop() {
  int64_t delay_ms = 100;
  while (!stopping_) {
    if (connected()) {
      Status st = Setup();
      if (st.ok()) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          setup_error_.clear();
        }
        ready_ = true;
        LOG(kInfo, "nats") << "streams and consumers ready";
        StartFetchThreads();
        return;
      }
      LogLine(st.is_transient() ? LogLevel::kWarn : LogLevel::kError, "nats",
              "setup failed: " + st.message());
      std::lock_guard<std::mutex> lock(mu_);
      setup_error_ = st.message();
    }
    if (!SleepUnlessStopping(delay_ms)) return;
    delay_ms = std::min<int64_t>(delay_ms * 2, 2'000);
  }
}

void JetStreamSourceImpl::StartFetchThreads() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  for (size_t i = 0; i < consumers_.size(); ++i) {
    threads_.emplace_back([this, i] { FetchLoop(i); });
  }
  threads_.emplace_back([this] { MonitorLoop(); });
  threads_.emplace_back([this] { KeepAliveLoop(); });
}

void JetStreamSourceImpl::KeepAliveLoop() {
  // A third of AckWait apart: two in-progress acks may be lost before the server gives up.
  const int64_t every_ms = std::max<int64_t>(options_.ack_wait_ms / 3, 10);
  static const char kInProgress[] = "+WPI";
  while (SleepUnlessStopping(std::min<int64_t>(every_ms, 1'000))) {
    if (!connected()) continue;
    const int64_t now_ms = clock_->NowMonoNanos() / 1'000'000;
    int64_t sent = 0;
    std::lock_guard<std::mutex> lock(unsettled_mu_);
    for (const auto& fetched : unsettled_) {
      if (now_ms - fetched->last_progress_ms < every_ms) continue;
      for (const std::string& reply : fetched->replies) {
        if (reply.empty()) continue;
        if (natsConnection_Publish(nc_, reply.c_str(), kInProgress, sizeof(kInProgress) - 1) ==
            NATS_OK) {
          ++sent;
        }
      }
      fetched->last_progress_ms = now_ms;
    }
    if (sent > 0) {
      in_progress_counter_->Inc(sent);
      LOG(kDebug, "nats") << "in-progress acks for " << sent << " unsettled messages";
    }
  }
}

bool JetStreamSourceImpl::SleepUnlessStopping(int64_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_.load(); });
  return !stopping_;
}

void JetStreamSourceImpl::Stop() {
  if (!started_ || stopping_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);  // no sleeper misses the wake-up
  }
  cv_.notify_all();
  if (setup_thread_.joinable()) setup_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();  // no more Submits after this
  {
    // Every submitted message is settled by the sink; wait for its acks to be sent.
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t deadline = clock_->NowMonoNanos() + 60'000 * kNanosPerMilli;
    while (in_flight_.load() > 0) {
      if (cv_.wait_for(lock, std::chrono::seconds(5)) == std::cv_status::timeout) {
        LOG(kWarn, "nats") << "stopping: " << in_flight_.load()
                           << " messages still being processed";
      }
      if (clock_->NowMonoNanos() > deadline) {
        LOG(kError, "nats") << "stopping with " << in_flight_.load()
                            << " unsettled messages; the broker will redeliver them";
        break;
      }
    }
  }
  if (nc_) {
    natsStatus s = natsConnection_FlushTimeout(nc_, 5'000);
    if (s != NATS_OK && connected()) {
      LOG(kWarn, "nats") << ToStatus(s, "flushing acks at stop").message();
    }
    for (Consumer& c : consumers_) {
      if (c.sub) {
        natsSubscription_Unsubscribe(c.sub);  // not Drain: the durable consumer stays
      }
    }
    natsConnection_Close(nc_);
    // Callbacks run on cnats's own thread: wait for the closed callback, the last one.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [this] { return closed_; });
  }
  LOG(kInfo, "nats") << "stopped";
}

// ---- delivery -------------------------------------------------------------------------------

void JetStreamSourceImpl::FetchLoop(size_t index) {
  Consumer& consumer = consumers_[index];
  const std::string origin_prefix = "nats:" + consumer.stream + ":";
  const std::string next_subject =
      "$JS.API.CONSUMER.MSG.NEXT." + consumer.stream + "." + consumer.durable;
  // A pull request stays open this long on the server; messages are pushed as they arrive,
  // and we cut a batch after fetch_wait_ms without one.
  const int64_t expires_ms = std::max<int64_t>(500, 20LL * options_.fetch_wait_ms);
  // Bounded in bytes as well as messages: a batch of 1,000 messages of 1 MiB would be 1 GB.
  int64_t max_bytes = FetchMaxBytes();
  std::string request;
  int64_t pending_bytes = 0;  // payload and header bytes of `pending`
  int64_t remaining = 0;  // messages the outstanding request may still bring
  int64_t request_deadline_ns = 0;
  int64_t batch_deadline_ns = 0;  // when the batch being gathered must be submitted
  int no_responders = 0;          // consecutive 503 replies to our pull requests
  int64_t seen_reconnects = reconnects_.load();
  int64_t error_backoff_ms = 50;
  int consecutive_errors = 0;
  std::vector<natsMsg*> pending;
  pending.reserve(static_cast<size_t>(options_.fetch_batch));

  auto send_request = [&]() -> bool {
    max_bytes = FetchMaxBytes();  // the server's max_payload may differ after a reconnect
    request = "{\"batch\":" + std::to_string(options_.fetch_batch) +
              ",\"max_bytes\":" + std::to_string(max_bytes) +
              ",\"expires\":" + std::to_string(expires_ms * kNanosPerMilli) + "}";
    const natsStatus s =
        natsConnection_PublishRequest(nc_, next_subject.c_str(), consumer.inbox.c_str(),
                                      request.data(), static_cast<int>(request.size()));
    if (s != NATS_OK) return false;
    remaining = options_.fetch_batch;
    // Renew a little before the server expires it, so one request is always open there: the
    // server does not always announce an expiry (408), and waiting for one after an idle
    // spell would delay the next messages.
    request_deadline_ns = clock_->NowMonoNanos() + (expires_ms - 100) * kNanosPerMilli;
    return true;
  };

  while (!stopping_) {
    const int64_t reconnects = reconnects_.load();
    if (reconnects != seen_reconnects) {
      seen_reconnects = reconnects;
      remaining = 0;  // the server forgot our pull request with the old connection
    }
    if ((remaining <= 0 || clock_->NowMonoNanos() > request_deadline_ns) && connected()) {
      if (!send_request()) remaining = 0;
    }
    natsMsg* m = nullptr;
    // A batch is cut when it is full or its first message has waited fetch_wait_ms: at a
    // steady trickle (10k/s) waiting for a full batch would add 100 ms of latency.
    int64_t wait_ms = 100;
    if (!pending.empty()) {
      const int64_t left_ns = batch_deadline_ns - clock_->NowMonoNanos();
      if (left_ns <= 0) {
        if (!SubmitBatch(origin_prefix, pending)) break;
        continue;
      }
      wait_ms = std::max<int64_t>(1, left_ns / kNanosPerMilli);
    }
    natsStatus s = natsSubscription_NextMsg(&m, consumer.sub, wait_ms);
    if (s == NATS_TIMEOUT) {
      if (!pending.empty() && !SubmitBatch(origin_prefix, pending)) break;
      continue;
    }
    if (s != NATS_OK) {
      if (++consecutive_errors == 1 || consecutive_errors % 50 == 0) {
        LOG(kWarn, "nats") << ToStatus(s, "receiving from " + consumer.stream).message()
                           << "; retrying";
      }
      if (!SleepUnlessStopping(error_backoff_ms)) break;
      error_backoff_ms = std::min<int64_t>(error_backoff_ms * 2, 1'000);
      remaining = 0;
      continue;
    }
    consecutive_errors = 0;
    error_backoff_ms = 50;

    const char* status = nullptr;
    if (natsMsg_GetDataLength(m) == 0 && natsMsgHeader_Get(m, "Status", &status) == NATS_OK) {
      // 404 no messages / 408 request expired / 409 (leadership change, max waiting, consumer
      // deleted...): the request is over. Anything else (100 heartbeat) is ignored.
      const std::string code = status ? std::string(status).substr(0, 3) : "";
      if (code == "409") {
        const char* desc = nullptr;
        natsMsgHeader_Get(m, "Description", &desc);
        const std::string description = desc ? desc : "";
        // The request brought its max_bytes: routine, the next one is asked for at once.
        const bool full = description.find("MaxBytes") != std::string::npos;
        if (!full) {
          LOG(kWarn, "nats") << "pull request on " << consumer.stream << "/" << consumer.durable
                             << " ended: 409 " << description;
        }
        if (description.find("Deleted") != std::string::npos) {
          Status st = EnsureConsumer(consumer);
          if (!st.ok()) {
            LOG(kWarn, "nats") << "re-creating consumer: " << st.message();
          }
        }
      } else if (code == "503") {
        // Nobody serves the consumer: JetStream is starting, or the broker lost its data.
        if (++no_responders % 20 == 0 && connected()) {
          Status st = Recreate(consumer);
          if (!st.ok()) {
            LOG(kWarn, "nats") << "no responder for " << consumer.durable
                               << "; re-creating: " << st.message();
          }
        }
        SleepUnlessStopping(error_backoff_ms);
      }
      if (code != "503") no_responders = 0;
      if (code != "100") remaining = 0;
      natsMsg_Destroy(m);
      if (!pending.empty() && !SubmitBatch(origin_prefix, pending)) break;
      continue;
    }
    if (pending.empty()) {
      batch_deadline_ns = clock_->NowMonoNanos() + options_.fetch_wait_ms * kNanosPerMilli;
      pending_bytes = 0;
    }
    pending.push_back(m);
    pending_bytes += natsMsg_GetDataLength(m) + 256;  // headers and bookkeeping, near enough
    --remaining;
    if (static_cast<int>(pending.size()) >= options_.fetch_batch || pending_bytes >= max_bytes) {
      // Ask for the next batch before handing this one over, so the network overlaps the
      // pipeline's work.
      if (remaining <= 0 && connected() && !send_request()) remaining = 0;
      if (!SubmitBatch(origin_prefix, pending)) break;
    }
  }
  ReleaseUnsubmitted(consumer, pending);
}

void JetStreamSourceImpl::ReleaseUnsubmitted(Consumer& consumer, std::vector<natsMsg*>& pending) {
  // Messages received but never handed to the sink: NAK them so the next consumer instance
  // gets them at once instead of after AckWait. Catch what the last request still brings.
  natsMsg* m = nullptr;
  while (natsSubscription_NextMsg(&m, consumer.sub, 20) == NATS_OK) pending.push_back(m);
  int released = 0;
  for (natsMsg* left : pending) {
    const char* reply = natsMsg_GetReply(left);
    if (reply && natsMsg_GetDataLength(left) > 0) {
#ifdef INGESTD_MUTANTS
      // Mutant ack_unprocessed_on_stop: on SIGTERM the messages fetched but never handed to the
      // pipeline are acked instead of released for redelivery.
      if (Mutant("ack_unprocessed_on_stop")) {
        natsConnection_Publish(nc_, reply, "+ACK", 4);
        ++released;
        natsMsg_Destroy(left);
        continue;
      }
#endif
      natsConnection_Publish(nc_, reply, "-NAK", 4);
      ++released;
    }
    natsMsg_Destroy(left);
  }
  pending.clear();
  if (released > 0) {
    LOG(kInfo, "nats") << "released " << released << " unprocessed messages of " << consumer.stream
                       << " for redelivery";
  }
}

bool JetStreamSourceImpl::SubmitBatch(const std::string& origin_prefix,
                                      std::vector<natsMsg*>& pending) {
  auto fetched = std::make_shared<FetchedMessages>();
  fetched->replies.resize(pending.size());

  InboundBatch batch;
  batch.messages.resize(pending.size());
  const int64_t now_ms = clock_->NowUnixMillis();
  for (size_t i = 0; i < pending.size(); ++i) {
    natsMsg* m = pending[i];
    RawMessage& raw = batch.messages[i];
    raw.transport = Transport::kJetStream;
    raw.payload.assign(natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m)));
    raw.subject = natsMsg_GetSubject(m);
    raw.received_at_ms = now_ms;
    uint64_t stream_seq = 0;
    int64_t delivered = 1;
    const char* reply = natsMsg_GetReply(m);
    if (reply) {
      nats_util::ParseAckReply(reply, &stream_seq, &delivered);
      fetched->replies[i] = reply;
    }
    raw.origin = origin_prefix + std::to_string(stream_seq);
    raw.attempts = static_cast<int>(std::max<int64_t>(1, delivered));
    const char** keys = nullptr;
    int key_count = 0;
    if (natsMsgHeader_Keys(m, &keys, &key_count) == NATS_OK) {
      for (int k = 0; k < key_count; ++k) {
        const char** values = nullptr;
        int value_count = 0;
        if (natsMsgHeader_Values(m, keys[k], &values, &value_count) == NATS_OK) {
          for (int v = 0; v < value_count; ++v) raw.headers.emplace_back(keys[k], values[v]);
          free(values);
        }
      }
      free(keys);
    }
    natsMsg_Destroy(m);
  }
  pending.clear();
#ifdef INGESTD_MUTANTS
  // Mutant ack_before_commit: every message is acked as soon as it is fetched, before the
  // transaction holding its effects commits; its settlement later sends nothing.
  if (Mutant("ack_before_commit")) {
    for (std::string& reply : fetched->replies) {
      if (!reply.empty()) natsConnection_Publish(nc_, reply.c_str(), "+ACK", 4);
      reply.clear();
    }
  }
#endif
  const int64_t count = static_cast<int64_t>(fetched->replies.size());
  fetched_counter_->Inc(count);
  in_flight_.fetch_add(count);
  fetched->last_progress_ms = clock_->NowMonoNanos() / 1'000'000;
  {
    std::lock_guard<std::mutex> lock(unsettled_mu_);
    fetched->listed = unsettled_.insert(unsettled_.end(), fetched);
  }
  batch.on_settled = [this, fetched](std::vector<Settlement>&& settlements) {
    Settle(*fetched, settlements);
  };
  if (!sink_->Submit(std::move(batch))) {
    // The sink is stopping: leave the messages unacked; the broker redelivers them.
    {
      std::lock_guard<std::mutex> lock(unsettled_mu_);
      unsettled_.erase(fetched->listed);
    }
    in_flight_.fetch_sub(count);
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
    return false;
  }
  return true;
}

void JetStreamSourceImpl::Settle(FetchedMessages& fetched,
                                 const std::vector<Settlement>& settlements) {
  // Acks are plain publishes to each message's reply subject: buffered by cnats and flushed
  // in bulk, with no round trip per message.
  static const char kAck[] = "+ACK";
  {
    std::lock_guard<std::mutex> lock(unsettled_mu_);
    unsettled_.erase(fetched.listed);  // from here on this thread owns fetched.replies
  }
  const size_t n = fetched.replies.size();
  std::string nak;
  for (size_t i = 0; i < n; ++i) {
    const char* reply = fetched.replies[i].c_str();
    if (*reply == '\0') continue;
    natsStatus s;
    if (i < settlements.size() && settlements[i].verdict == Verdict::kRetry) {
      const int64_t delay_ns = std::max<int64_t>(0, settlements[i].retry_delay_ms) * kNanosPerMilli;
      nak = "-NAK {\"delay\":" + std::to_string(delay_ns) + "}";
#ifdef INGESTD_MUTANTS
      // Mutant term_instead_of_nak: a message to retry is terminated (+TERM): the server never
      // redelivers it.
      if (Mutant("term_instead_of_nak")) nak = "+TERM";
#endif
      s = natsConnection_Publish(nc_, reply, nak.data(), static_cast<int>(nak.size()));
    } else if (i < settlements.size()) {
      s = natsConnection_Publish(nc_, reply, kAck, sizeof(kAck) - 1);
    } else {
      // The sink promised one settlement per message; redelivery is the safe fallback.
      s = natsConnection_Publish(nc_, reply, "-NAK", 4);
    }
    if (s != NATS_OK && !stopping_) {
      // Unacked messages are redelivered after AckWait and de-duplicated by the store.
      LOG(kDebug, "nats") << ToStatus(s, "settling " + fetched.replies[i]).message();
    }
  }
  fetched.replies.clear();
  if (in_flight_.fetch_sub(static_cast<int64_t>(n)) == static_cast<int64_t>(n)) {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }
}

void JetStreamSourceImpl::MonitorLoop() {
  while (SleepUnlessStopping(1'000)) {
    if (!connected()) continue;
    for (Consumer& c : consumers_) {
      if (stopping_) return;
      jsConsumerInfo* ci = nullptr;
      jsOptions jo;
      jsOptions_Init(&jo);
      jo.Wait = 500;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      const natsStatus s =
          js_GetConsumerInfo(&ci, js_, c.stream.c_str(), c.durable.c_str(), &jo, &jerr);
      if (s != NATS_OK) {
        if (jerr == JSStreamNotFoundErr || jerr == JSConsumerNotFoundErr) {
          // The broker lost them (e.g. restarted with a fresh store): pull requests to a
          // missing consumer just go unanswered, so this is where we notice.
          LOG(kWarn, "nats") << "stream " << c.stream << " or consumer " << c.durable
                             << " missing on the broker; re-creating";
          Status st = Recreate(c);
          if (!st.ok()) {
            LOG(kWarn, "nats") << "re-creating: " << st.message();
          }
        } else {
          LOG(kDebug, "nats") << ToStatus(s, "consumer info " + c.durable, jerr).message();
        }
        continue;
      }
      const int64_t pending = static_cast<int64_t>(ci->NumPending);
      jsConsumerInfo_Destroy(ci);
      std::lock_guard<std::mutex> lock(mu_);
      lag_[c.stream] = pending;
    }
  }
}

SourceHealth JetStreamSourceImpl::Health() const {
  SourceHealth h;
  h.connected = connected() && ready_;
  h.reconnects = reconnects_.load();
  h.in_flight = in_flight_.load();
  const std::string url = nc_ && connected() ? ConnectedUrl(nc_) : std::string();
  std::lock_guard<std::mutex> lock(mu_);
  h.lag = lag_;
  if (!setup_error_.empty()) {
    h.detail = "setting up streams: " + setup_error_;
  } else if (connected()) {
    h.detail = std::string(ready_ ? "connected to " : "setting up streams on ") + url;
  } else if (stopping_) {
    h.detail = "stopped";
  } else if (closed_ && !closed_reason_.empty()) {
    h.detail = "connection closed: " + closed_reason_;
  } else {
    h.detail = "not connected; reconnecting to " + JoinUrls(options_.urls);
  }
  return h;
}

// ---- dead letters ---------------------------------------------------------------------------

Status JetStreamSourceImpl::PublishDeadLetter(const RawMessage& original,
                                              const DeadLetterRecord& record) {
  if (!js_) return Status::Transient("nats: dead letter: not connected yet");
  const std::string& subject_in = record.subject.empty() ? original.subject : record.subject;
  const std::string subject = "dlq." + subject_in;
  const std::string& origin = record.origin.empty() ? original.origin : record.origin;
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, original.payload.data(),
                                static_cast<int>(original.payload.size()));
  if (s != NATS_OK) return ToStatus(s, "dead letter to " + subject);
  const std::string attempts = std::to_string(record.attempts);
  // JetStream drops a repeat of this id within the stream's duplicate window: the outbox's
  // at-least-once repeats, but not another message at the same origin (a recreated stream
  // restarts its sequence numbers), which has other bytes.
  const std::string msg_id = "dlq:" + origin + ":" + Sha256Hex(original.payload).substr(0, 16);
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Ingest-Reason", record.reason.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Ingest-Error", record.error.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Ingest-Attempts", attempts.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Ingest-Origin", origin.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Nats-Msg-Id", msg_id.c_str());
  // The pipeline truncated an oversized payload (pipeline_types.h): say so, with the full size.
  if (const std::string* full_size = FindHeader(original.headers, kPayloadTruncatedHeader);
      s == NATS_OK && full_size != nullptr) {
    s = natsMsgHeader_Set(msg, kNatsPayloadTruncatedHeader, full_size->c_str());
  }
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    return ToStatus(s, "dead letter headers for " + subject);
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = kApiWaitMs;
  po.ExpectStream = kDeadLetterStream;
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  s = js_PublishMsg(&ack, js_, msg, &po, &jerr);
  natsMsg_Destroy(msg);
  if (s != NATS_OK) {
    Status st = ToStatus(s, "publishing dead letter to " + subject, jerr);
    // The server refuses a message over its max_payload however often it is sent.
    if (s == NATS_MAX_PAYLOAD) return Status::InvalidArgument(st.message());
    // Anything else the caller may retry: the message id makes it idempotent.
    return Status::Transient(st.message());
  }
  jsPubAck_Destroy(ack);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<JetStreamSource>> JetStreamSource::Create(JetStreamOptions options,
                                                                 BatchSink* sink, Metrics* metrics,
                                                                 Clock* clock) {
  if (!sink || !metrics || !clock) {
    return Status::InvalidArgument("nats: JetStreamSource needs a sink, metrics and a clock");
  }
  if (options.fetch_batch <= 0 || options.fetch_wait_ms <= 0 || options.ack_wait_ms <= 0) {
    return Status::InvalidArgument(
        "nats: fetch_batch, fetch_wait_ms and ack_wait_ms must be "
        "positive");
  }
  // The server refuses a BackOff with an unlimited MaxDeliver, or one with as many steps.
  if (!options.backoff_ms.empty() &&
      (options.server_max_deliver == -1 ||
       options.server_max_deliver <= static_cast<int>(options.backoff_ms.size()))) {
    return Status::InvalidArgument("nats: server_max_deliver (" +
                                   std::to_string(options.server_max_deliver) +
                                   ") must exceed the number of backoff steps (" +
                                   std::to_string(options.backoff_ms.size()) + ")");
  }
  // A message may legitimately sit in the pipeline for up to ack_wait_ms (in-progress acks keep
  // it alive at ack_wait_ms/3), so a shorter step would redeliver messages still being worked on.
  for (int64_t ms : options.backoff_ms) {
    if (ms < options.ack_wait_ms) {
      return Status::InvalidArgument(
          "nats: backoff step " + std::to_string(ms) + " ms is shorter than ack_wait_ms (" +
          std::to_string(options.ack_wait_ms) + " ms); every step must be at least the AckWait");
    }
  }
  if (nats_util::SplitUrls(options.urls).empty()) {
    return Status::InvalidArgument("nats: no server URLs given");
  }
  for (const std::string& stream : options.streams) {
    if (stream.empty() || stream.find_first_of(". *>") != std::string::npos) {
      return Status::InvalidArgument("nats: bad stream name '" + stream + "'");
    }
  }
  return std::unique_ptr<JetStreamSource>(
      new JetStreamSourceImpl(std::move(options), sink, metrics, clock));
}

}  // namespace ingestlab
