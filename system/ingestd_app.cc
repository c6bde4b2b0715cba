// IngestdApp and RunIngestd: wiring, start/stop order, signals. See ingestd_app.h.
// Thread-safety: see ingestd_app.h. Signals are blocked in every thread and taken with sigwait
// on the main thread, so no work happens inside a signal handler.
#include "system/ingestd_app.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include "common/log.h"
#include "common/redact.h"
#include "common/rng.h"
#include "common/version.h"
#include "system/context_api.h"
#include "system/dead_letter_outbox.h"
#include "system/pg/pg_connection.h"
#include "system/pipeline.h"
#include "system/schema.h"
#include "system/sql_connection.h"
#include "system/store.h"

namespace ingestlab {
namespace {

std::string Join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

// Writes `content` to `path` atomically (temp file + rename), so a reader never sees half.
Status WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return Status::Io("cannot write " + tmp);
    out << content;
    if (!out.flush()) return Status::Io("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::Io("cannot rename to " + path);
  return Status::Ok();
}

}  // namespace

struct IngestdApp::Impl {
  IngestdConfig config;
  SourceFactories factories;
  Clock* clock;
  Metrics metrics;
  int64_t started_mono_ns = 0;

  std::unique_ptr<Store> store;
  std::unique_ptr<SchemaRegistry> schemas;
  std::unique_ptr<Pipeline> pipeline;
  std::unique_ptr<DeadLetterOutbox> outbox;
  std::unique_ptr<Downstreams> downstreams;
  std::unique_ptr<ContextApi> context;  // before http: its handlers stop first
  HttpServer http;
  bool http_started = false;
  std::unique_ptr<Source> nats;
  std::unique_ptr<Source> kafka;
  bool stopped = false;

  // A connection of our own for the health check (the Store belongs to the writer).
  std::mutex db_mu;
  std::unique_ptr<SqlConnection> db_reader;

  bool CheckDb(std::string* error) {
    std::lock_guard<std::mutex> lock(db_mu);
    if (!IsPostgresUrl(config.db_path) && ::access(config.db_path.c_str(), R_OK | W_OK) != 0) {
      *error = "cannot access " + config.db_path;
      return false;
    }
    if (db_reader == nullptr) {
      auto opened = OpenSideConnection(config.db_path, 1000);
      if (!opened.ok()) {
        *error = opened.status().message();
        return false;
      }
      db_reader = std::move(*opened);
    }
    Status st = db_reader->Query(
        "SELECT COUNT(*) FROM events WHERE event_id = ''", [](const std::vector<std::string>&) {},
        [](const std::vector<SqlValue>&) {});
    if (!st.ok()) {
      *error = st.message();
      db_reader.reset();
      return false;
    }
    return true;
  }

  PipelineOptions MakePipelineOptions() const {
    PipelineOptions o;
    o.max_queue_messages = static_cast<size_t>(config.queue_messages);
    o.max_queue_bytes = static_cast<size_t>(config.queue_bytes);
    o.max_batch_messages = static_cast<size_t>(config.max_txn_messages);
    o.max_attempts = config.max_attempts;
    o.dependency_wait_ms = config.dependency_wait_ms;
    o.retry_base_ms = config.retry_base_ms;
    o.retry_max_ms = std::max(config.retry_max_ms, config.retry_base_ms);
    o.max_payload_bytes = static_cast<size_t>(config.max_payload_bytes);
    o.jitter_seed = Rng(0).Fork(config.name).NextU64();
    o.instance_name = config.name;
    return o;
  }

  JetStreamOptions MakeJetStreamOptions() const {
    JetStreamOptions o;
    o.urls = config.nats_urls;
    o.security = config.nats_security;
    o.durable_prefix = config.durable;
    o.streams = config.streams;
    o.fetch_batch = config.batch_size;
    o.fetch_wait_ms = config.batch_wait_ms;
    o.ack_wait_ms = config.ack_wait_ms;
    return o;
  }

  KafkaOptions MakeKafkaOptions() const {
    KafkaOptions o;
    o.bootstrap = config.kafka_bootstrap;
    o.group_id = config.group_id;
    o.topics = config.topics;
    o.batch_max_messages = config.batch_size;
    o.batch_wait_ms = config.batch_wait_ms;
    o.properties = config.kafka_properties;
    return o;
  }
};

IngestdApp::IngestdApp(IngestdConfig config, SourceFactories factories, Clock* clock)
    : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  impl_->factories = std::move(factories);
  impl_->clock = clock != nullptr ? clock : &Clock::System();
}

IngestdApp::~IngestdApp() { Stop(); }

Status IngestdApp::Start() {
  Impl& d = *impl_;
  const IngestdConfig& c = d.config;
  d.started_mono_ns = d.clock->NowMonoNanos();

  StoreOptions store_options;
  store_options.path = c.db_path;
  store_options.busy_timeout_ms = c.busy_timeout_ms;
  store_options.auto_create_customers = c.auto_create_customers;
  store_options.synchronous_full = c.synchronous == "full";
  store_options.summary_threshold = static_cast<size_t>(c.summary_threshold);
  store_options.clock = d.clock;
  auto store = Store::Open(store_options);
  if (!store.ok()) return store.status();  // names the path
  d.store = std::move(store.value());
  LOG(kInfo, "ingestd") << "store " << RedactPostgresUrl(c.db_path)
                        << " (synchronous=" << d.store->Synchronous()
                        << (c.synchronous == "full" ? ": each commit is fsynced)"
                                                    : ": a power loss can undo the last commits)");

  auto schemas = c.schemas_dir.empty() ? SchemaRegistry::LoadEmbedded()
                                       : SchemaRegistry::LoadDirectory(c.schemas_dir);
  if (!schemas.ok()) return schemas.status().Annotate("schemas");
  d.schemas = std::move(schemas.value());
  LOG(kInfo, "ingestd") << "loaded " << d.schemas->List().size() << " event schemas"
                        << (c.schemas_dir.empty() ? " (built in)" : " from " + c.schemas_dir);

  d.pipeline = std::make_unique<Pipeline>(d.MakePipelineOptions(), d.store.get(), d.schemas.get(),
                                          &d.metrics, d.clock);
  OutboxOptions outbox_options;
  outbox_options.db_path = c.db_path;
  outbox_options.max_payload_bytes = static_cast<size_t>(c.dlq_max_payload_bytes);
  outbox_options.retry_base_ms = c.retry_base_ms;
  outbox_options.retry_max_ms = std::max(c.retry_max_ms, c.retry_base_ms);
  auto outbox = DeadLetterOutbox::Open(outbox_options, &d.metrics, d.clock);
  if (!outbox.ok()) return outbox.status();
  d.outbox = std::move(outbox.value());
  d.pipeline->SetDeadLetterListener([outbox = d.outbox.get()] { outbox->Wake(); });

  ContextApiOptions context_options;
  context_options.db_path = c.db_path;
  context_options.busy_timeout_ms = c.busy_timeout_ms;
  context_options.tokens = c.api_tokens;
  DownstreamOptions downstream_options;
  const std::pair<const char*, std::string> services[] = {{"crm", c.downstream_crm},
                                                          {"scheduling", c.downstream_scheduling},
                                                          {"email", c.downstream_email}};
  for (const auto& [name, url] : services) {
    if (!url.empty()) downstream_options.services.emplace_back(name, url);
  }
  downstream_options.timeout_ms = c.downstream_timeout_ms;
  downstream_options.breaker = {c.breaker_failures, c.breaker_window_ms, c.breaker_open_ms};
  downstream_options.cache_ttl_ms = c.context_cache_ttl_ms;
  d.downstreams = std::make_unique<Downstreams>(std::move(downstream_options), &d.metrics, d.clock);
  context_options.downstreams = d.downstreams.get();
  d.context = std::make_unique<ContextApi>(std::move(context_options));
  d.context->Register(d.http);
  if (c.api_tokens.empty()) {
    LOG(kInfo, "ingestd") << "context API: no api-token configured, every request is refused";
  }
  d.http.Handle("/healthz", [this] { return RenderHealthz(Health()); });
  d.http.Handle("/metrics", [this] {
    HttpReply reply;
    reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
    reply.body = impl_->metrics.RenderPrometheus() + RenderSourceMetrics(Health());
    return reply;
  });

  // Sources are created before the pipeline starts so their dead-letter sinks are registered
  // first; nothing reaches the pipeline until they are started.
  if (!c.nats_urls.empty()) {
    if (!d.factories.jetstream) return Status::Internal("no JetStream support in this build");
    auto src =
        d.factories.jetstream(d.MakeJetStreamOptions(), d.pipeline.get(), &d.metrics, d.clock);
    if (!src.ok()) return src.status().Annotate("nats");
    d.nats = std::move(src.value());
    d.outbox->SetSink(Transport::kJetStream, d.nats->dead_letter_sink());
  }
  if (!c.kafka_bootstrap.empty()) {
    if (!d.factories.kafka) return Status::Internal("no Kafka support in this build");
    auto src = d.factories.kafka(d.MakeKafkaOptions(), d.pipeline.get(), &d.metrics, d.clock);
    if (!src.ok()) return src.status().Annotate("kafka");
    d.kafka = std::move(src.value());
    d.outbox->SetSink(Transport::kKafka, d.kafka->dead_letter_sink());
  }
  d.pipeline->Start();
  d.outbox->Start();  // dead letters an earlier run left unpublished go out first

  std::string host;
  int port = 0;
  INGEST_RETURN_IF_ERROR(ParseHostPort(c.http, &host, &port).Annotate("--http"));
  INGEST_RETURN_IF_ERROR(d.http.Start(host, port));
  d.http_started = true;
  const std::string http_address = host + ":" + std::to_string(d.http.port());
  LOG(kInfo, "ingestd") << "http listening on http://" << http_address;
  if (!c.http_port_file.empty()) {
    INGEST_RETURN_IF_ERROR(
        WriteFileAtomically(c.http_port_file, std::to_string(d.http.port()) + "\n")
            .Annotate("--http-port-file"));
  }

  if (d.nats) INGEST_RETURN_IF_ERROR(d.nats->Start().Annotate("nats"));
  if (d.kafka) INGEST_RETURN_IF_ERROR(d.kafka->Start().Annotate("kafka"));

  std::ostringstream ready;
  ready << "ready: version=" << kVersion << " db=" << RedactPostgresUrl(c.db_path)
        << " http=http://" << http_address;
  if (d.nats) ready << " nats=" << RedactUrlList(Join(c.nats_urls, ","));
  if (d.kafka) ready << " kafka=" << RedactUrlList(c.kafka_bootstrap);
  LOG(kInfo, "ingestd") << ready.str();
  return Status::Ok();
}

void IngestdApp::Stop() {
  Impl& d = *impl_;
  if (d.stopped) return;
  d.stopped = true;
  // The outbox publishes through the sources' connections: it drains (for up to 2 s) while they
  // are up; dead letters committed after that wait in the table for the next start.
  if (d.outbox) d.outbox->Stop();
  // Then the sources: they stop fetching and wait until the pipeline settled what they submitted.
  if (d.nats) d.nats->Stop();
  if (d.kafka) d.kafka->Stop();
  if (d.pipeline) d.pipeline->Stop();
  if (d.http_started) d.http.Stop();
  // The outbox holds the sources' dead-letter sinks: it goes before them.
  d.outbox.reset();
  d.pipeline.reset();
  d.nats.reset();
  d.kafka.reset();
  d.store.reset();
}

int IngestdApp::http_port() const { return impl_->http.port(); }

Metrics& IngestdApp::metrics() { return impl_->metrics; }

HealthInputs IngestdApp::Health() {
  Impl& d = *impl_;
  HealthInputs h;
  if (d.nats) h.nats = d.nats->Health();
  if (d.kafka) h.kafka = d.kafka->Health();
  h.db_path = RedactPostgresUrl(d.config.db_path);
  if (d.downstreams && !d.downstreams->empty()) h.downstream_json = d.downstreams->HealthJson();
  h.db_ok = d.CheckDb(&h.db_error);
  if (d.pipeline) {
    h.last_commit_unix_ms = d.pipeline->last_commit_unix_ms();
    h.queue = d.pipeline->queued_messages();
    if (h.db_ok) {
      const std::string error = d.pipeline->last_transaction_error();
      if (!error.empty()) {
        h.db_ok = false;
        h.db_error = "last transaction failed: " + error;
      }
    }
  }
  h.uptime_s = (d.clock->NowMonoNanos() - d.started_mono_ns) / 1'000'000'000;
  return h;
}

int RunIngestd(int argc, char** argv, const SourceFactories& factories) {
  // Block the stop signals before any thread exists, so every thread inherits the mask and only
  // sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto parsed = ParseIngestdConfig(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "ingestd: " << RedactText(parsed.status().message()) << "\n";
    return 2;
  }
  if (parsed->action == ConfigAction::kHelp) {
    std::cout << IngestdUsage();
    return 0;
  }
  if (parsed->action == ConfigAction::kVersion) {
    std::cout << "ingestd " << kVersion << " (" << kGitCommit << ")\n";
    return 0;
  }
  const IngestdConfig& config = parsed->config;
  LogLevel level = LogLevel::kInfo;
  // Secrets this process knows are scrubbed from every log line and health detail from now
  // on, even when a library echoes one verbatim (common/redact.h).
  for (const std::string& urls : config.nats_urls) RegisterUrlSecrets(urls);
  RegisterPropertySecrets(config.kafka_properties);
  RegisterSecret(config.nats_security.password);
  RegisterSecret(config.nats_security.token);
  ParseLogLevel(config.log_level, &level);
  SetLogLevel(level);
  SetLogProcessName(config.name);

  IngestdApp app(config, factories);
  const Status st = app.Start();
  if (!st.ok()) {
    std::cerr << "ingestd: " << RedactText(st.message()) << "\n";
    app.Stop();
    return st.code() == Status::Code::kInvalidArgument ? 2 : 1;
  }

  int sig = 0;
  sigwait(&stop_signals, &sig);
  LOG(kInfo, "ingestd") << "received " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                        << ", stopping: finishing in-flight messages (signal again to exit now)";
  std::thread([stop_signals] {
    int again = 0;
    sigwait(&stop_signals, &again);
    LOG(kWarn, "ingestd") << "second signal: exiting immediately";
    _exit(1);
  }).detach();
  app.Stop();
  LOG(kInfo, "ingestd") << "stopped cleanly";
  return 0;
}

}  // namespace ingestlab
