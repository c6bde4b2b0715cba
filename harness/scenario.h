// Scenario: a test as data (FoundationDB's tests-as-toml, in YAML). A scenario names the
// topology to start, the simulated services and their load and fault shares, a timeline of
// infrastructure faults, and the assertions that must hold at the end.
//
// Parsing is strict: an unknown key or a bad value is an InvalidArgument Status whose message
// starts with "<file>:<line>: " and names the key, e.g.
//   "scenarios/x.yaml:12: unknown key 'durration' in scenario".
// Thread-safety: parsing is a pure function; a Scenario is a value.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ingestlab {

// "250ms", "10s", "1.5s", "2m", "1h", "1m30s", or a bare number of seconds. Negative durations,
// durations longer than a year and trailing garbage are errors (the message quotes the text).
Result<double> ParseDurationSeconds(const std::string& text);

// Formats seconds the way scenario files write them: "10s", "1.5s", "250ms", "2m".
std::string FormatDurationSeconds(double seconds);

struct TopologySpec {
  int nats_nodes = 1;     // 1 or 3
  int kafka_brokers = 1;  // 0 = no Kafka at all
  int ingestd_count = 1;
  // Passed to every ingestd as --key value (e.g. busy-timeout-ms: 50 → --busy-timeout-ms 50).
  std::vector<std::pair<std::string, std::string>> ingestd_settings;
  // `store: postgres`: ingestd's store on a PostgreSQL server the harness starts, instead of a
  // SQLite file in the run directory (ingestd only; a `system:` section has its own state).
  bool postgres_store = false;
  // `secure: true` (or `run --secure`): nats-server with TLS and authorization; ingestd, the
  // simulators and the harness's own clients connect with the generated credentials and CA.
  bool secure = false;
  // Set by a scenario's `context:` section: the harness starts the simulated downstream
  // services (CRM, scheduling, email) and gives ingestd their URLs and the API tokens.
  bool context = false;
};

// The system under test (docs/sut.md): how to start it, when it is ready, how to stop it, and
// how the checkers learn what it applied. A scenario's `system:` section writes one; without
// it, the run tests ingestd as IngestdSystem describes it, through the same code. Strings may
// hold placeholders the harness fills per instance (see ExpandPlaceholders).
struct SystemSpec {
  std::string name = "system";       // instances are <name>-0, <name>-1, ...
  std::vector<std::string> command;  // program, then its arguments
  int instances = 1;
  std::vector<std::pair<std::string, std::string>> env;
  std::string ready_http;  // GET answers 2xx once the instance is ready; "" = once started
  double ready_timeout_s = 30;
  std::string stop_signal = "TERM";  // TERM | INT | QUIT | HUP | KILL
  double stop_timeout_s = 10;        // then SIGKILL
  // How the checkers learn what it applied, exactly one of:
  // - state_http: a state probe per instance (system_probe.h);
  // - state_sqlite + state_query: one SQLite database and a query;
  // - state_ingestd: the SQLite database of ingestd's tables (events, dead_letters, customers,
  //   ...), which also enables the reference model, the dead_letters table and the state digest.
  std::string state_http;
  std::string state_sqlite;
  std::string state_query;
  std::string state_ingestd;
  std::string metrics_http;         // Prometheus text with ingestd's counter names; "" = none
  std::string dead_letter_subject;  // NATS subject (pattern) it dead-letters to; "" = none
  std::string dead_letter_query;    // or a query on state_sqlite: (payload, reason[, error])
  bool create_streams = true;       // the harness creates the contract's JetStream streams
  int line = 0;
};

// The placeholders of a `system:` section, filled per instance.
inline constexpr const char* kSystemPlaceholders[] = {
    "nats_urls", "kafka_bootstrap", "dir", "port", "name", "index", "scenario_dir", "ingestd",
    "nats_credentials", "nats_tls_ca", "downstream_crm", "downstream_scheduling",
    "downstream_email", "context_config"};

// Replaces each {key} of `text` by values[key]; "{{" and "}}" stand for literal braces. An
// unknown key or an unclosed brace is an error naming it.
Result<std::string> ExpandPlaceholders(const std::string& text,
                                       const std::map<std::string, std::string>& values);

// ingestd as a system under test: `count` instances of {ingestd} sharing {dir}/ingest.db, each
// with `settings` as --key value flags, Kafka only when `kafka` (docs/sut.md shows it as YAML).
SystemSpec IngestdSystem(const TopologySpec& topology);

struct ServiceSpec {
  std::string name;                // billing | support | auth | learning | crm | all
  std::string transport;           // nats | kafka
  double rate = 100;               // events per second (mean)
  std::string shape = "constant";  // constant | poisson | ramp:FROM:TO[:D] | spike:PEAK:AT:LEN
  // fault name -> share of events (0..1): the simulators' message faults (duplicate, malformed,
  // poison, out_of_order, schema_mix, oversized, unknown_customer) and the harness's own
  // "orphan" (events whose dependency never arrives: dead-lettered max_deliveries).
  std::map<std::string, double> faults;
  std::map<std::string, double> dialects;  // cloudevents | service | customer -> share
  int customers = 0;  // size of the service's customer pool; 0 = the generator's default (200)
  // The organisation its events belong to. Services of another organisation than kDefaultOrg
  // draw their customers (and event ids) from a pool of their own, so no customer is in two.
  std::string org = "org-1";
  int line = 0;
};

inline constexpr const char* kDefaultOrg = "org-1";

// The seed a service's stream is generated with: the scenario's for kDefaultOrg, another one
// per organisation otherwise (customer ids "cust-<seed>-NNNN" and event ids carry it).
uint64_t ServiceSeed(uint64_t scenario_seed, const ServiceSpec& service);
// The customer ids a service draws from (its pool; customers: N, default 200).
std::vector<std::string> ServiceCustomerIds(uint64_t scenario_seed, const ServiceSpec& service);

// Reads of the context API (`context:`) alongside the event load, from the load's start until
// the run has drained: `rate` reads per second over ingestd's instances in turn, each for a
// customer of one of the services' organisations with that organisation's bearer token, and a
// `cross_tenant` share with another organisation's token (which must answer 404).
struct ContextLoadSpec {
  double rate = 20;
  double cross_tenant = 0.1;
  // The services whose customers the readers ask for: the scenario's, kept here also when a
  // replay drops the services (its load comes from the event log).
  std::vector<ServiceSpec> services;
  int line = 0;
};

struct TimelineStep {
  double at_s = 0;
  std::optional<double> for_s;  // when set, the fault is undone at at_s + for_s
  std::string action;
  std::string target;  // "ingestd-0", "nats-1", "broker-2", "all", a service name; may be empty
  std::map<std::string, std::string> params;  // scalar values as written
  int line = 0;

  // The numeric param `key`, or `fallback` when absent. REQUIRES: validated by the parser.
  double NumberParam(const std::string& key, double fallback) const;
};

struct AssertionSpec {
  // no_loss | exactly_once | dead_letters | latency | throughput | reconnect_within |
  // lag_drained_within | context_latency | breaker_opened_within | breaker_closed_within |
  // context_consistent
  std::string kind;
  // latency: p50_ms, p95_ms, p99_ms, max_ms; throughput: min_eps; reconnect_within and
  // lag_drained_within: seconds; dead_letters: max (when not "expected"),
  // window_from_s / window_to_s for latency windows; context_latency: p50_ms, p95_ms, p99_ms,
  // max_ms; breaker_opened_within / breaker_closed_within: seconds; context_consistent:
  // slack_ms.
  std::map<std::string, double> numbers;
  // dead_letters: expected reasons counts, when written as {reasons: {parse: 3}}.
  std::map<std::string, double> reasons;
  bool expected = false;  // dead_letters: expected
  int line = 0;
};

// A load workload (`ingestlab load`): a scenario file with a `load:` section. Its services'
// `rate`s are then relative weights: the load's total rate is split among them in proportion.
// Exactly one of rate, ramp, steps and find_max is set (mode names which); `duration` is the
// fixed-rate or ramp duration. Assertions of kind latency and throughput are its thresholds.
struct LoadSpec {
  std::string mode = "fixed";  // fixed | ramp | steps | find_max
  double rate = 0;             // fixed: events/s over all services
  double ramp_from = 0, ramp_to = 0;
  std::vector<double> steps;  // steps: events/s of each step, in order
  double step_s = 10;         // steps and find_max: length of each step
  double p99_target_ms = 25;  // find_max: the p99 a step must hold
  double start_rate = 1000;   // find_max: first step; doubles until a step fails, then bisects
  double max_rate = 200'000;  // find_max: never offered above this
  double precision = 0.1;     // find_max: stop bisecting when (fail - pass) / pass <= this
  int publishers = 1;         // publisher threads (own connection each) per service
  double settle_s = 10;       // after each step: how long its events may take to commit
  double warmup_s = 2;        // load at the first step's rate before measuring (connections,
                              // producer ids, the store's caches); not counted
  int line = 0;
};

struct Scenario {
  std::string name;
  std::string description;
  uint64_t seed = 1;
  double duration_s = 0;
  double drain_timeout_s = 30;  // how long to wait for lag to drain after load stops
  TopologySpec topology;
  std::vector<ServiceSpec> services;
  std::vector<TimelineStep> timeline;  // sorted by at_s
  std::vector<AssertionSpec> assertions;
  std::optional<LoadSpec> load;  // set for a load workload
  std::optional<ContextLoadSpec> context;  // context API reads; sets topology.context
  // The scenario's `system:` section, when it tests a system of its own instead of ingestd;
  // topology.ingestd_count then holds its number of instances.
  std::optional<SystemSpec> system;
  // What the run starts: `system`, or IngestdSystem(topology).
  SystemSpec SystemUnderTest() const;

  std::string path;  // file it came from ("" for text)
  // The folder `{scenario_dir}` names (absolute): the scenario file's, or for a replay the
  // original run's, as its event log recorded it. "" = the working directory.
  std::string scenario_dir;
  std::string text;  // the YAML as written
};

// The actions a timeline step may name, and whether each takes a target.
const std::vector<std::string>& KnownTimelineActions();
const std::vector<std::string>& KnownFaultNames();

// Parses scenario YAML. `path` is used in error messages and as the default name.
Result<Scenario> ParseScenario(const std::string& text, const std::string& path);
// Reads and parses a file.
Result<Scenario> LoadScenarioFile(const std::string& path);

// Expands command-line PATHs into scenario files: files as given, folders as their *.yaml
// directly inside (sorted; subfolders such as long/ are skipped). Errors name the path.
Result<std::vector<std::string>> ExpandScenarioPaths(const std::vector<std::string>& paths);

}  // namespace ingestlab
