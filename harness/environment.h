// Environment: the embedded infrastructure of one run or of `ingestlab up` — nats-server
// node(s), a TCP proxy in front of each node (ingestd connects through them, so network faults
// hit only the ingestd↔NATS path; simulators publish directly), the librdkafka mock Kafka
// cluster, and N ingestd processes sharing one database in the run directory.
//
// Start brings everything up in dependency order and waits for each piece to be ready; an error
// names what failed to start and quotes its log. The destructor tears everything down (ingestd
// first, with SIGTERM so it drains), and every child dies with the harness anyway
// (process groups + PDEATHSIG).
// Thread-safety: one controlling thread for Start and the fault methods; the getters and
// ingestd(i)->Fetch* may be used from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "harness/infra/ingestd_process.h"
#include "harness/infra/kafka_cluster.h"
#include "harness/infra/nats_cluster.h"
#include "harness/infra/system_process.h"
#include "harness/infra/tcp_proxy.h"
#include "harness/scenario.h"
#include "harness/system_probe.h"

namespace ingestlab {

struct EnvironmentOptions {
  int nats_nodes = 1;
  int kafka_brokers = 1;  // 0 = no Kafka
  int ingestd_count = 1;
  std::string dir;  // run directory: ingest.db, logs/, nats/ go here (created)
  std::vector<std::pair<std::string, std::string>> ingestd_settings;
  uint64_t seed = 1;
  // Put a fault proxy in front of each NATS node for ingestd. Only needed for net_* faults;
  // without it ingestd connects directly (one hop less).
  bool proxies = true;
  int64_t ready_timeout_ms = 30'000;
  // A system under test of the user's own instead of ingestd (ingestd_count and
  // ingestd_settings are then ignored): its instances system-0.. are started with the
  // placeholders filled, after the contract's JetStream streams are created for it.
  std::optional<SystemSpec> system;
  std::string scenario_dir;  // {scenario_dir}
};

class Environment {
 public:
  static Result<std::unique_ptr<Environment>> Start(const EnvironmentOptions& options);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  const EnvironmentOptions& options() const { return options_; }
  // Direct NATS URLs (what publishers and users connect to).
  std::string nats_urls() const;
  std::vector<std::string> nats_url_list() const;
  // The URLs ingestd connects to: the proxies, or the servers when there are none.
  std::string proxied_nats_urls() const;
  std::string kafka_bootstrap() const { return kafka_ ? kafka_->bootstrap() : ""; }
  std::string db_path() const { return options_.dir + "/ingest.db"; }
  std::string logs_dir() const { return options_.dir + "/logs"; }

  NatsCluster& nats() { return *nats_; }
  KafkaMockCluster* kafka() { return kafka_.get(); }
  TcpProxy& proxy(int node) { return *proxies_.at(static_cast<size_t>(node)); }
  int proxy_count() const { return static_cast<int>(proxies_.size()); }
  IngestdProcess& ingestd(int i) { return *ingestds_.at(static_cast<size_t>(i)); }
  int ingestd_count() const { return static_cast<int>(ingestds_.size()); }

  // The system under test's instances, ingestd or the scenario's own, as the fault timeline
  // drives them; their names start with instance_prefix() ("ingestd-" or "system-").
  int instance_count() const;
  SystemInstance& instance(int i);
  std::string instance_prefix() const { return options_.system ? "system-" : "ingestd-"; }
  bool external_system() const { return options_.system.has_value(); }

  // Asks every running instance of a system of the user's own what it applied (its state
  // probe) and merges the answers. A probe that answers garbage is an error; an instance that
  // is not running is skipped and named in `SystemState::skipped`.
  Result<SystemState> ProbeSystemState(int64_t timeout_ms);

  // Waits until every running ingestd reports its transports connected (/healthz status "ok")
  // and, with Kafka, partitions assigned to the group (the mock delays a group's first join by
  // ~3 s). Returns what is still missing on timeout.
  Status WaitForIngestReady(int64_t timeout_ms);

  // Stops every running instance (ingestd: SIGTERM, they drain; a system of the user's own:
  // its stop signal) and returns the exit descriptions ("ingestd-0: exit 0").
  std::vector<std::string> StopIngestds();

 private:
  explicit Environment(EnvironmentOptions options) : options_(std::move(options)) {}
  Status StartSystem();  // the instances of options_.system, once NATS and Kafka are up

  EnvironmentOptions options_;
  std::unique_ptr<NatsCluster> nats_;
  std::vector<std::unique_ptr<TcpProxy>> proxies_;
  std::unique_ptr<KafkaMockCluster> kafka_;
  std::vector<std::unique_ptr<IngestdProcess>> ingestds_;
  std::vector<std::unique_ptr<SystemProcess>> systems_;
  std::vector<std::string> state_urls_;  // per system instance, placeholders filled
  std::string state_sqlite_, state_query_;
};

}  // namespace ingestlab
