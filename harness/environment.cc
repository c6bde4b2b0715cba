// Environment: start order NATS → proxies → Kafka → ingestd; teardown in reverse.
#include "harness/environment.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include <sstream>
#include "common/clock.h"

#include "common/log.h"
#include "common/redact.h"
#include "harness/infra/ports.h"
#include "system/nats/jetstream_source.h"

namespace ingestlab {
namespace fs = std::filesystem;

Result<std::unique_ptr<Environment>> Environment::Start(const EnvironmentOptions& options) {
  std::unique_ptr<Environment> env(new Environment(options));
  std::error_code ec;
  fs::create_directories(options.dir + "/logs", ec);
  fs::create_directories(options.dir + "/nats", ec);
  if (ec) return Status::Io("cannot create " + options.dir + ": " + ec.message());

  NatsClusterOptions nats;
  nats.nodes = options.nats_nodes;
  nats.dir = options.dir + "/nats";
  nats.ready_timeout_ms = options.ready_timeout_ms;
  if (options.secure) {
    nats.tls = true;
    nats.auth = NatsAuth::kUser;
  }
  auto cluster = NatsCluster::Start(nats);
  if (!cluster.ok()) return cluster.status().Annotate("nats-server failed to start");
  env->nats_ = std::move(cluster.value());
  if (options.secure) {
    env->credentials_path_ = fs::absolute(nats.dir + "/credentials", ec).string();
    INGEST_RETURN_IF_ERROR(
        WriteNatsCredentialsFile(env->credentials_path_, env->nats_->client_security()));
  }
  // nats-server writes its logs under nats/; link them into logs/ so one folder has them all.
  for (int i = 0; i < env->nats_->size(); ++i) {
    fs::create_symlink(fs::absolute(env->nats_->log_path(i), ec),
                       options.dir + "/logs/nats-" + std::to_string(i) + ".log", ec);
  }

  for (int i = 0; i < env->nats_->size() && options.proxies; ++i) {
    auto proxy = TcpProxy::Start("127.0.0.1", env->nats_->client_port(i), 0,
                                 options.seed + static_cast<uint64_t>(i));
    if (!proxy.ok()) return proxy.status().Annotate("proxy for nats-" + std::to_string(i));
    env->proxies_.push_back(std::move(proxy.value()));
  }

  if (options.kafka_brokers > 0) {
    KafkaClusterOptions kafka;
    kafka.brokers = options.kafka_brokers;
    auto k = KafkaMockCluster::Start(kafka);
    if (!k.ok()) return k.status().Annotate("Kafka mock cluster failed to start");
    env->kafka_ = std::move(k.value());
  }

  if (options.postgres_store) {
    PostgresOptions pg;
    pg.log_path = options.dir + "/logs/postgres.log";
    pg.ready_timeout_ms = options.ready_timeout_ms;
    auto server = PostgresServer::Start(pg);
    if (!server.ok()) return server.status().Annotate("PostgreSQL failed to start");
    env->postgres_ = std::move(server.value());
  }

  if (options.downstreams) {
    auto set = sim::DownstreamSet::Start(options.seed);
    if (!set.ok()) return set.status().Annotate("downstream services failed to start");
    env->downstreams_ = std::move(set).value();
  }
  if (!options.api_tokens.empty()) {
    env->context_config_ = fs::absolute(options.dir + "/context.conf", ec).string();
    std::ostringstream conf;
    conf << "# The context API's bearer tokens for this run, by organisation.\n";
    for (const auto& [org, token] : options.api_tokens) {
      conf << "api-token." << org << " = " << token << "\n";
    }
    INGEST_RETURN_IF_ERROR(WritePrivateFile(env->context_config_, conf.str()));
  }

  INGEST_RETURN_IF_ERROR(env->StartSystem());
  return env;
}

std::string Environment::DownstreamUrl(const std::string& name) const {
  const sim::DownstreamService* service = downstreams_ ? downstreams_->Find(name) : nullptr;
  return service ? service->url() : "";
}

Status Environment::StartSystem() {
  if (options_.system) {
    system_ = *options_.system;
  } else {
    TopologySpec topology;
    topology.kafka_brokers = options_.kafka_brokers;
    topology.ingestd_count = options_.ingestd_count;
    topology.ingestd_settings = options_.ingestd_settings;
    topology.context = downstreams_ != nullptr && !context_config_.empty();
    system_ = IngestdSystem(topology);
    system_.ready_timeout_s = options_.ready_timeout_ms / 1000.0;
  }
  if (postgres_ != nullptr) {  // ingestd's store is the server's database, not a file
    const std::string file = system_.state_ingestd;
    for (std::string& arg : system_.command) {
      if (arg == file) arg = postgres_->url();
    }
    system_.state_ingestd = postgres_->url();
  }
  const SystemSpec& spec = system_;
  if (spec.create_streams) {
    // The contract's streams, which ingestd creates itself: the simulators publish through
    // JetStream and need a stream to acknowledge them.
    std::vector<std::pair<std::string, std::vector<std::string>>> streams;
    for (const StreamSpec& stream : DefaultStreams()) {
      streams.emplace_back(stream.name, stream.subjects);
    }
    INGEST_RETURN_IF_ERROR(nats_->CreateStreams(streams));
  }
  std::error_code ec;
  const std::string dir = fs::absolute(options_.dir, ec).string();
  for (int i = 0; i < spec.instances; ++i) {
    auto port = FreeLoopbackPort();
    if (!port.ok()) return port.status();
    const std::string name = instance_prefix() + std::to_string(i);
    const std::map<std::string, std::string> values = {
        {"nats_urls", proxied_nats_urls()}, {"kafka_bootstrap", kafka_bootstrap()},
        {"dir", dir},                       {"port", std::to_string(*port)},
        {"name", name},                     {"index", std::to_string(i)},
        {"scenario_dir", options_.scenario_dir.empty() ? "." : options_.scenario_dir},
        {"ingestd", FindIngestdBinary()},
        {"nats_credentials", credentials_path_},
        {"nats_tls_ca", nats_->client_security().tls_ca},
        {"downstream_crm", DownstreamUrl("crm")},
        {"downstream_scheduling", DownstreamUrl("scheduling")},
        {"downstream_email", DownstreamUrl("email")},
        {"context_config", context_config_}};
    auto fill = [&](const std::string& text) { return ExpandPlaceholders(text, values); };
    SystemProcessOptions o;
    o.name = name;
    for (const std::string& arg : spec.command) {
      auto v = fill(arg);
      if (!v.ok()) return v.status().Annotate("system command");
      o.command.push_back(*v);
    }
    if (!credentials_path_.empty()) {
      o.env.emplace_back("INGEST_NATS_CREDENTIALS", credentials_path_);
    }
    for (const auto& [key, value] : spec.env) {
      auto v = fill(value);
      if (!v.ok()) return v.status().Annotate("system env " + key);
      o.env.emplace_back(key, *v);
    }
    auto ready = fill(spec.ready_http);
    auto metrics = fill(spec.metrics_http);
    auto state_url = fill(spec.state_http);
    auto state_db = fill(spec.state_ingestd.empty() ? spec.state_sqlite : spec.state_ingestd);
    for (auto* r : {&ready, &metrics, &state_url, &state_db}) {
      if (!r->ok()) return r->status().Annotate("system");
    }
    o.port = *port;
    o.ready_http = *ready;
    o.metrics_http = *metrics;
    o.ready_timeout_ms = static_cast<int64_t>(spec.ready_timeout_s * 1000);
    o.stop_signal = SignalNumber(spec.stop_signal);
    o.stop_grace_ms = static_cast<int64_t>(spec.stop_timeout_s * 1000);
    o.log_path = logs_dir() + "/" + name + ".log";
    state_urls_.push_back(*state_url);
    if (i == 0) db_path_ = *state_db;  // one database for every instance
    auto p = SystemProcess::Start(std::move(o));
    if (!p.ok()) return p.status().Annotate(spec.name + " failed to start");
    instances_.push_back(std::move(p).value());
  }
  LOG(kInfo, "harness") << "environment up in " << options_.dir << ": " << nats_->size()
                        << " nats node(s), " << options_.kafka_brokers << " Kafka broker(s), "
                        << spec.instances << " " << spec.name << " instance(s)";
  return Status::Ok();
}

Result<SystemState> Environment::ProbeSystemState(int64_t timeout_ms) {
  SystemState state;
  if (!system_.state_sqlite.empty()) {  // one database for every instance
    auto rows = ProbeSqlite(db_path_, system_.state_query);
    if (!rows.ok()) return rows.status();
    MergeProbed("sql", std::move(rows).value(), &state);
    return state;
  }
  if (system_.state_http.empty()) {
    return Status::InvalidArgument(system_.name + " has no state probe (state: http or sql)");
  }
  for (size_t i = 0; i < instances_.size(); ++i) {
    if (!instances_[i]->running()) {
      state.skipped.push_back(instances_[i]->name());
      continue;
    }
    auto events = ProbeHttp(state_urls_[i], timeout_ms);
    if (!events.ok()) return events.status().Annotate(instances_[i]->name());
    MergeProbed(instances_[i]->name(), std::move(events).value(), &state);
  }
  return state;
}

Environment::~Environment() {
  StopSystem();
  instances_.clear();
  kafka_.reset();
  proxies_.clear();
  nats_.reset();
}

std::vector<std::string> Environment::StopSystem() {
  std::vector<std::string> out;
  for (int i = 0; i < instance_count(); ++i) {
    SystemProcess& p = instance(i);
    if (!p.running()) continue;
    auto r = p.Terminate();
    out.push_back(p.name() + ": " + (r.ok() ? r->ToString() : r.status().message()));
  }
  return out;
}

Status Environment::WaitForIngestReady(int64_t timeout_ms) {
  if (!has_ingestd_tables()) return Status::Ok();  // ready once its ready URL answered
  Clock& clock = Clock::System();
  const int64_t deadline = clock.NowMonoNanos() + timeout_ms * 1'000'000;
  std::string missing;
  while (true) {
    missing.clear();
    int64_t assigned = 0;
    for (auto& p : instances_) {
      if (!p->running()) continue;
      auto body = p->FetchHealth(1000);
      if (!body.ok()) {
        missing += p->name() + ": " + body.status().message() + "; ";
        continue;
      }
      auto j = nlohmann::json::parse(*body, nullptr, false);
      if (!j.is_object()) {
        missing += p->name() + ": /healthz is not JSON; ";
        continue;
      }
      if (j.value("status", "") != "ok")
        missing += p->name() + " status " + j.value("status", "?") + "; ";
      if (j.contains("kafka") && j["kafka"].is_object()) {
        const std::string detail = j["kafka"].value("detail", "");
        const auto pos = detail.find(" partitions assigned");
        if (pos != std::string::npos) {
          size_t start = detail.rfind(' ', pos - 1);
          start = start == std::string::npos ? 0 : start + 1;
          assigned += std::atoll(detail.substr(start, pos - start).c_str());
        } else {
          assigned += 1;  // no detail to go by: trust "connected"
        }
      }
    }
    if (kafka_ && !instances_.empty() && assigned == 0)
      missing += "no Kafka partitions assigned yet; ";
    if (missing.empty()) return Status::Ok();
    if (clock.NowMonoNanos() > deadline) {
      return Status::Transient("ingestd not ready after " + std::to_string(timeout_ms) +
                               " ms: " + missing);
    }
    clock.SleepFor(std::chrono::milliseconds(100));
  }
}

std::string Environment::nats_urls() const { return nats_ ? nats_->urls() : ""; }

std::vector<std::string> Environment::nats_url_list() const {
  return nats_ ? nats_->url_list() : std::vector<std::string>{};
}

std::string Environment::proxied_nats_urls() const {
  if (proxies_.empty()) return nats_urls();
  std::ostringstream out;
  for (size_t i = 0; i < proxies_.size(); ++i) {
    out << (i ? "," : "") << (options_.secure ? "tls://" : "nats://") << proxies_[i]->address();
  }
  return out.str();
}

}  // namespace ingestlab
