// Assertions: the end-of-run checks of a scenario, evaluated against what was observed — the
// recorded publishes (event log), the rows ingestd committed (events, dead_letters), its counters,
// the fault windows and a reference-model comparison of the final state.
//
// Every check yields an AssertionResult with the measured value, the threshold and the operator
// ("missing 3 events (threshold <= 0)"), and checks about individual events name the offending
// events (at most kMaxOffending of each problem).
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "harness/scenario.h"

namespace ingestlab {

// One publish the simulators made, as recorded in events.log.
struct PublishRecord {
  std::string event_id;       // de-duplication id; may be "" for bytes that carry none
  std::string service;        // billing, support, ...
  std::string type;           // canonical type
  std::string transport;      // nats | kafka
  std::string subject;        // NATS subject or Kafka topic
  int64_t publish_ms = 0;     // unix ms when it was sent
  int64_t event_time_ms = 0;  // the event's own time
  bool acked = false;         // the broker confirmed it
  // What ingestd should do with it: "applied", "duplicate" (a second copy of an id already
  // sent), "dead_letter" (with expect_reason parse | schema | max_deliveries).
  std::string expect = "applied";
  std::string expect_reason;
  std::string fault;                           // the fault injected into this event, "" for none
  std::string payload;                         // the bytes sent, when recorded
  std::map<std::string, std::string> headers;  // as sent (CloudEvents binary mode: ce_*)
};

struct AppliedRow {
  std::string event_id;
  std::string type;
  std::string source;
  std::string customer_id;
  int64_t event_time_ms = 0;
  int64_t received_at_ms = 0;
  int64_t committed_at_ms = 0;
  int attempts = 1;
};

struct DeadLetterRow {
  std::string origin;
  std::string subject;
  std::string reason;
  std::string error;
  int attempts = 0;
  std::string payload;
  std::string event_id;  // "id" found in the payload, if it parses
  int64_t dead_at_ms = 0;
  bool published = true;  // settled by the outbox (published_at set) by the end of the run
  std::string publish_error;  // set when the DLQ refused the copy for good: never on its DLQ
};

// A fault from the timeline as it was applied.
struct FaultWindow {
  std::string action;
  std::string target;
  std::map<std::string, std::string> params;  // as written (downstream_slow's latency, ...)
  double at_s = 0;          // seconds after the run started
  double recovered_s = -1;  // when the fault was undone (restore/restart/up), -1 if never
  bool disruptive = false;  // interrupts ingestion (kill, stop, cut, broker down, ...)
};

// ingestd's counters summed over instances (and over restarts, as far as they were scraped).
struct CounterTotals {
  double applied = 0;
  double duplicates = 0;
  double redeliveries = 0;
  double retries = 0;
  double reconnects = 0;
  std::map<std::string, double> dead_letters;  // by reason
  bool complete = true;  // false when an instance was killed: counts since its last scrape are lost
};

// One difference between the store's final state and the reference model.
struct StateMismatch {
  std::string what;  // "customers.lifetime_value"
  std::string key;   // "cust-1-7"
  std::string expected;
  std::string observed;
};

// The reference model's comparison of one table: rows in the model, rows in the store, keys
// compared (in either), how many differences, and the first few of them.
struct StateTableSummary {
  std::string table;
  size_t expected_rows = 0;
  size_t observed_rows = 0;
  size_t compared = 0;
  size_t mismatches = 0;
  std::vector<StateMismatch> first_differences;
};

// One read of the context API (GET /v1/customers/{id}/context) made during the run.
struct ContextRead {
  int64_t start_ms = 0;  // unix ms when the request was sent
  int64_t end_ms = 0;    // unix ms when its answer (or the error) came
  std::string instance;  // "ingestd-0"
  std::string customer_id;
  std::string customer_org;  // the organisation whose service pool holds the customer
  std::string token_org;     // the organisation of the bearer token sent
  int status = 0;            // HTTP status; 0 = no answer (error says why)
  std::string error;
  // From a 200 answer: its org_id, the profile's lifetime_value (when a number), partial and
  // the sources it names as missing.
  std::string response_org;
  bool has_lifetime_value = false;
  double lifetime_value = 0;
  bool partial = false;
  std::vector<std::string> missing_sources;
};

// One look at a downstream service's circuit breaker in an instance's /healthz.
struct BreakerSample {
  double t_s = 0;  // seconds after the run started
  std::string instance;
  std::string service;        // crm | scheduling | email
  std::string state;          // closed | open | half_open
  double opened_total = 0;    // times it opened since the instance started
};

struct RunObservations {
  int64_t start_ms = 0;      // unix ms when load started
  int64_t load_stop_ms = 0;  // unix ms when load stopped
  int64_t drained_ms = 0;    // unix ms when everything expected was settled; 0 = never
  std::vector<PublishRecord> publishes;
  std::vector<AppliedRow> applied;
  std::vector<DeadLetterRow> dead_letters;
  std::vector<FaultWindow> faults;
  CounterTotals counters;
  std::vector<StateMismatch> state_mismatches;
  // ingestd instances and, per instance name ("ingestd-0"), its ingest_applied_total as sampled
  // about once a second: {seconds after start, value}; the value restarts from 0 when the
  // instance restarts. reconnect_within judges a fault on one instance of several by it.
  int ingestd_instances = 1;
  std::map<std::string, std::vector<std::pair<double, double>>> instance_applied;
  // When the NATS latency probe ran (harness/latency_probe.h): event id -> unix ms it was
  // delivered to the probe, the broker's own share of the latency.
  std::unordered_map<std::string, int64_t> probe_delivered_ms;
  // A system of the user's own (a scenario's `system:`): `applied` comes from its state probe
  // (event ids and commit times only) and applied_counts says how often each id was applied.
  bool external_system = false;
  std::unordered_map<std::string, int64_t> applied_counts;
  std::vector<StateTableSummary> state_tables;  // per table, when the reference model ran
  bool state_checked = false;                   // the reference model ran
  std::string state_note;  // what the reference model compared, or why it could not
  // The context API reads (`context:`) and the breaker samples taken meanwhile, ingestd's
  // per-call downstream timeout, and whether it creates unknown customers (the reference model
  // needs it for context_consistent).
  std::vector<ContextRead> context_reads;
  std::vector<BreakerSample> breaker_samples;
  double downstream_timeout_ms = 200;
  bool auto_create_customers = true;
};

struct AssertionResult {
  std::string name;  // "latency p99"
  std::string kind;  // "latency"
  bool passed = false;
  double measured = 0;  // may be +inf ("never")
  double threshold = 0;
  std::string op;    // "<=", ">=", "=="
  std::string unit;  // "events", "ms", "s", "events/s"
  std::string detail;
  int line = 0;  // scenario line
};

struct OffendingEvent {
  std::string event_id;
  std::string problem;  // missing | applied and dead-lettered | unexpected dead letter | state mismatch | ...
  std::string expected;
  std::string observed;
  std::string service;
  std::string type;
  std::string subject;
  std::string payload;  // raw bytes (base64-encoded when written out)
};

struct LatencySummary {
  size_t count = 0;
  double p50 = 0, p95 = 0, p99 = 0, max = 0;
};

struct Evaluation {
  std::vector<AssertionResult> results;
  std::vector<OffendingEvent> offending;
  bool all_passed() const;
};

inline constexpr size_t kMaxOffending = 100;

// Latencies in ms (committed_at minus publish time, or event time when the publish time is not
// recorded) of the applied events published in [from_s, to_s) after start (to_s < 0: no end).
std::vector<double> EventLatenciesMs(const RunObservations& obs, double from_s = 0,
                                     double to_s = -1);
// What ingestd added (committed_at minus when the same message reached the latency probe) and,
// alongside, the broker's own share (probe delivery minus publish time), in ms, for the applied
// events published in [from_s, to_s) that the probe saw.
struct AddedLatencies {
  std::vector<double> added_ms;
  std::vector<double> broker_ms;
};
// True when a latency assertion gates what ingestd adds (added_p*_ms): the run needs the probe.
bool UsesLatencyProbe(const AssertionSpec& spec);
AddedLatencies EventAddedLatenciesMs(const RunObservations& obs, double from_s = 0,
                                     double to_s = -1);
// Nearest-rank percentiles. `values` is sorted in place.
LatencySummary SummarizeLatencies(std::vector<double>& values);
double Percentile(const std::vector<double>& sorted, double q);

// Ids of acked events that ingestd dead-lettered with reason max_deliveries because the entity
// they themselves depend on (the purchase a refund names, the lead a conversion names, the
// session an activity names, ...) was never stored: every publish that creates it was not acked
// by the broker, or was itself such a dead letter. That dead letter is the correct outcome. An
// event that merely shares an id with an unacked publish, or whose dependency was acked, is not
// excused.
std::unordered_set<std::string> ExcusedDeadLetterIds(const RunObservations& obs);

Evaluation EvaluateAssertions(const std::vector<AssertionSpec>& specs, const RunObservations& obs);

}  // namespace ingestlab
