// IngestdConfig: ingestd's settings, gathered from the command line, INGEST_* environment
// variables and a `key = value` config file, in that order of precedence (flags win over env,
// env over file, file over the defaults here).
//
// Every setting has one name used three ways: `--batch-size 500` (or `--batch-size=500`),
// INGEST_BATCH_SIZE=500, and `batch-size = 500` (or `batch_size = 500`) in the file. The file also
// takes `kafka.<librdkafka property> = value` lines, the command line `--kafka-property k=v`.
// A bad value or an unknown key is an InvalidArgument Status whose message is one line naming it:
//   --batch-size: expected a positive integer, got "abc"
// CLI11 tokenizes the command line (--key value, --key=value, --help, --version); the values,
// the environment and the file are read and checked by config.cc's settings table, so an
// injected EnvLookup stands in for the process environment in tests.
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "system/nats/nats_security.h"
#include "system/pipeline.h"

namespace ingestlab {

struct IngestdConfig {
  // Endpoints.
  std::vector<std::string> nats_urls;   // --nats, comma-separated
  NatsSecurity nats_security;           // --nats-user, --nats-tls-ca, ... (nats_security.h)
  std::string kafka_bootstrap;          // --kafka
  std::string db_path = "ingest.db";    // --db
  std::string http = "127.0.0.1:8080";  // --http HOST:PORT; port 0 picks a free port
  std::string http_port_file;           // --http-port-file: the bound port is written here
  std::string config_file;              // --config

  // Processing.
  int batch_size = 1000;            // most messages per broker fetch / poll
  int batch_wait_ms = 5;            // longest wait to fill a fetch
  // The pipeline's settings default to PipelineOptions' own values: one source of truth.
  int max_txn_messages = static_cast<int>(PipelineOptions().max_batch_messages);  // per SQLite txn
  int queue_messages = static_cast<int>(PipelineOptions().max_queue_messages);  // backpressure
  int queue_bytes = static_cast<int>(PipelineOptions().max_queue_bytes);        // backpressure
  int max_attempts = PipelineOptions().max_attempts;  // own failures (or crashes) before dead-letter
  int dependency_wait_ms = static_cast<int>(PipelineOptions().dependency_wait_ms);
  int ack_wait_ms = 10'000;         // JetStream AckWait: unacked messages come back after this
  int retry_base_ms = static_cast<int>(PipelineOptions().retry_base_ms);  // base * 2^(n-1), ±20%
  int retry_max_ms = static_cast<int>(PipelineOptions().retry_max_ms);    // backoff cap
  int max_payload_bytes = 1 << 20;  // larger messages are dead-lettered "parse"
  int dlq_max_payload_bytes = 512 << 10;  // dead letters reach the DLQ cut to this many bytes
  int busy_timeout_ms = 200;        // SQLite wait for the write lock
  std::string synchronous = "full";  // SQLite synchronous: full (fsync per commit) | normal
  int summary_threshold = 500;      // descriptions longer than this get a summary
  bool auto_create_customers = true;

  // Transports.
  std::string group_id = "ingestd";  // Kafka consumer group
  std::string durable = "ingestd";   // JetStream durable consumer prefix
  std::vector<std::string> streams;  // JetStream streams to consume; empty = all but DLQ
  std::vector<std::string> topics;   // Kafka topics; empty = the default four
  std::map<std::string, std::string> kafka_properties;  // librdkafka pass-through
  std::map<std::string, std::string> api_tokens;  // context API: bearer token -> organisation
  std::string downstream_crm;  // context API sources (empty: not used)
  std::string downstream_scheduling;
  std::string downstream_email;
  int downstream_timeout_ms = 200;  // per call
  int breaker_failures = 5;         // within breaker_window_ms open the breaker
  int breaker_window_ms = 10'000;
  int breaker_open_ms = 5'000;  // then one probe
  int context_cache_ttl_ms = 30'000;

  // Misc.
  std::string schemas_dir;         // empty = schemas compiled into the binary
  std::string log_level = "info";  // debug | info | warn | error
  std::string name = "ingestd";    // log prefix; owner of the store's in-flight record

  bool operator==(const IngestdConfig&) const = default;
};

enum class ConfigAction { kRun, kHelp, kVersion };

struct ParsedConfig {
  ConfigAction action = ConfigAction::kRun;
  IngestdConfig config;
};

// Looks up an environment variable; returns nullptr when unset. The default reads the process
// environment (std::getenv).
using EnvLookup = std::function<const char*(const char* name)>;

// Parses argv (argv[0] is skipped), then the environment, then the config file (named by
// --config or INGEST_CONFIG). With kRun, at least one of nats_urls / kafka_bootstrap is set.
Result<ParsedConfig> ParseIngestdConfig(int argc, const char* const* argv,
                                        const EnvLookup& env = nullptr);

// The --help text.
std::string IngestdUsage();

// Splits "a,b , c" into {"a","b","c"} (empty items dropped).
std::vector<std::string> SplitList(const std::string& s);

// Splits "host:port" ("[::1]:8080" too). port 0 is allowed. Error names the value.
Status ParseHostPort(const std::string& s, std::string* host, int* port);

}  // namespace ingestlab
