// Environment: start order NATS → proxies → Kafka → ingestd; teardown in reverse.
#include "harness/environment.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include <sstream>
#include "common/clock.h"

#include "common/log.h"

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
  auto cluster = NatsCluster::Start(nats);
  if (!cluster.ok()) return cluster.status().Annotate("nats-server failed to start");
  env->nats_ = std::move(cluster.value());
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

  for (int i = 0; i < options.ingestd_count; ++i) {
    IngestdOptions o;
    o.name = "ingestd-" + std::to_string(i);
    o.nats_urls = env->proxied_nats_urls();
    o.kafka_bootstrap = env->kafka_bootstrap();
    o.db_path = env->db_path();
    o.log_path = env->logs_dir() + "/" + o.name + ".log";
    o.work_dir = env->logs_dir();
    o.settings = options.ingestd_settings;
    o.ready_timeout_ms = options.ready_timeout_ms;
    auto p = IngestdProcess::Start(o);
    if (!p.ok()) return p.status().Annotate("ingestd failed to start");
    env->ingestds_.push_back(std::move(p.value()));
  }
  LOG(kInfo, "harness") << "environment up in " << options.dir << ": " << env->nats_->size()
                        << " nats node(s), " << options.kafka_brokers << " Kafka broker(s), "
                        << options.ingestd_count << " ingestd";
  return env;
}

Environment::~Environment() {
  StopIngestds();
  ingestds_.clear();
  kafka_.reset();
  proxies_.clear();
  nats_.reset();
}

std::vector<std::string> Environment::StopIngestds() {
  std::vector<std::string> out;
  for (auto& p : ingestds_) {
    if (!p->running()) continue;
    auto r = p->Terminate();
    out.push_back(p->name() + ": " + (r.ok() ? r->ToString() : r.status().message()));
  }
  return out;
}

Status Environment::WaitForIngestReady(int64_t timeout_ms) {
  Clock& clock = Clock::System();
  const int64_t deadline = clock.NowMonoNanos() + timeout_ms * 1'000'000;
  std::string missing;
  while (true) {
    missing.clear();
    int64_t assigned = 0;
    for (auto& p : ingestds_) {
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
    if (kafka_ && !ingestds_.empty() && assigned == 0)
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
    out << (i ? "," : "") << "nats://" << proxies_[i]->address();
  }
  return out.str();
}

}  // namespace ingestlab
