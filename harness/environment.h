// Environment: the embedded infrastructure of one run or of `ingestlab up` — nats-server
// node(s), a TCP proxy in front of each node (the system under test connects through them, so
// network faults hit only its path to NATS; simulators publish directly), the librdkafka mock
// Kafka cluster, and the system under test: N instances of ingestd sharing one database in the
// run directory (IngestdSystem), or of the scenario's own `system:`. Both start through the
// same code (StartSystem).
//
// Start brings everything up in dependency order and waits for each piece to be ready; an error
// names what failed to start and quotes its log. The destructor tears everything down (the
// system first, with its stop signal so it drains), and every child dies with the harness anyway
// (process groups + PDEATHSIG).
// Thread-safety: one controlling thread for Start and the fault methods; the getters and
// instance(i).Fetch* may be used from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "harness/infra/kafka_cluster.h"
#include "harness/infra/nats_cluster.h"
#include "harness/infra/postgres_server.h"
#include "harness/infra/system_process.h"
#include "harness/infra/tcp_proxy.h"
#include "harness/scenario.h"
#include "harness/system_probe.h"
#include "simulators/downstream_services.h"

namespace ingestlab {

struct EnvironmentOptions {
  int nats_nodes = 1;
  int kafka_brokers = 1;  // 0 = no Kafka
  int ingestd_count = 1;
  std::string dir;  // run directory: ingest.db, logs/, nats/ go here (created)
  std::vector<std::pair<std::string, std::string>> ingestd_settings;
  uint64_t seed = 1;
  // Put a fault proxy in front of each NATS node for the system under test. Only needed for
  // net_* faults; without it the system connects directly (one hop less).
  bool proxies = true;
  int64_t ready_timeout_ms = 30'000;  // ingestd's; a `system:` section says its own
  // The system under test; unset = IngestdSystem(ingestd_count, ingestd_settings, Kafka when
  // kafka_brokers > 0). Its instances are started with the placeholders filled, after the
  // contract's JetStream streams when it says create_streams.
  std::optional<SystemSpec> system;
  std::string scenario_dir;  // {scenario_dir}
  // ingestd's store on a PostgreSQL server started for the environment (logs/postgres.log,
  // data in a private temporary directory) instead of {dir}/ingest.db; db_path() is its URL.
  bool postgres_store = false;
  // nats-server with TLS (a CA and certificates generated into {dir}/nats/tls) and
  // authorization (user "ingestlab" with a generated password); the credentials file a client
  // needs is {dir}/nats/credentials (nats_security.h). The system under test gets it as
  // INGEST_NATS_CREDENTIALS (and the {nats_credentials}, {nats_tls_ca} placeholders).
  bool secure = false;
  // The context API's downstream services (simulators/downstream_services.h), seeded with
  // `seed`, and the bearer tokens ingestd accepts, by organisation: written to
  // {dir}/context.conf (mode 0600) as api-token.ORG = TOKEN. The placeholders
  // {downstream_crm}, {downstream_scheduling}, {downstream_email} and {context_config} name them.
  bool downstreams = false;
  std::map<std::string, std::string> api_tokens;
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
  // What the harness's own NATS clients need with `secure` (empty otherwise), and the
  // credentials file holding it ("" when not secure).
  const NatsSecurity& nats_security() const { return nats_->client_security(); }
  const std::string& nats_credentials_path() const { return credentials_path_; }
  std::string kafka_bootstrap() const { return kafka_ ? kafka_->bootstrap() : ""; }
  // The system's SQLite database (state: ingestd or sql), "" when it names none.
  const std::string& db_path() const { return db_path_; }
  // The PostgreSQL server of a `store: postgres` environment (kill_store, restart_store); else
  // nullptr.
  PostgresServer* postgres() const { return postgres_.get(); }
  // The downstream services of `downstreams` (downstream_* faults); else nullptr.
  sim::DownstreamSet* downstreams() const { return downstreams_.get(); }
  // The API tokens' file of `api_tokens` ({context_config}); "" without tokens.
  const std::string& context_config_path() const { return context_config_; }
  std::string logs_dir() const { return options_.dir + "/logs"; }

  NatsCluster& nats() { return *nats_; }
  KafkaMockCluster* kafka() { return kafka_.get(); }
  TcpProxy& proxy(int node) { return *proxies_.at(static_cast<size_t>(node)); }
  int proxy_count() const { return static_cast<int>(proxies_.size()); }
  // The system under test and its instances; their names start with instance_prefix()
  // ("ingestd-" or "system-").
  const SystemSpec& system() const { return system_; }
  int instance_count() const { return static_cast<int>(instances_.size()); }
  SystemProcess& instance(int i) { return *instances_.at(static_cast<size_t>(i)); }
  std::string instance_prefix() const { return system_.name + "-"; }
  // The system keeps ingestd's tables (state: ingestd): the harness reads them directly and
  // its /healthz has ingestd's format. Otherwise its state probe says what it applied.
  bool has_ingestd_tables() const { return !system_.state_ingestd.empty(); }

  // Asks the system what it applied, through its state probe (state: http, one instance at a
  // time, or sql) and merges the answers. A probe that answers garbage is an error; an
  // instance that is not running is skipped and named in `SystemState::skipped`.
  Result<SystemState> ProbeSystemState(int64_t timeout_ms);

  // With ingestd's tables (and so its /healthz): waits until every running instance reports
  // its transports connected (status "ok") and, with Kafka, partitions assigned to the group
  // (the mock delays a group's first join by ~3 s). Returns what is still missing on timeout.
  // Any other system is ready once its ready URL answers.
  Status WaitForIngestReady(int64_t timeout_ms);

  // Stops every running instance with its stop signal (ingestd: SIGTERM, it drains) and
  // returns the exit descriptions ("ingestd-0: exit 0").
  std::vector<std::string> StopSystem();

 private:
  explicit Environment(EnvironmentOptions options) : options_(std::move(options)) {}
  Status StartSystem();  // the instances of system_, once NATS and Kafka are up
  std::string DownstreamUrl(const std::string& name) const;  // "" without downstreams

  EnvironmentOptions options_;
  std::unique_ptr<PostgresServer> postgres_;  // outlives the instances (declared before them)
  std::unique_ptr<NatsCluster> nats_;
  std::vector<std::unique_ptr<TcpProxy>> proxies_;
  std::unique_ptr<KafkaMockCluster> kafka_;
  std::unique_ptr<sim::DownstreamSet> downstreams_;
  std::string context_config_;  // {context_config}: the API tokens
  SystemSpec system_;
  std::vector<std::unique_ptr<SystemProcess>> instances_;
  std::vector<std::string> state_urls_;  // per instance, placeholders filled
  std::string db_path_;                  // state: ingestd or sql, filled
  std::string credentials_path_;         // secure: {dir}/nats/credentials
};

}  // namespace ingestlab
