// Pieces of the result.json files the report tests write as samples (format 1, docs/reports.md).
// Numbers are taken as json so that a sample keeps 25 an integer and 12.5 a double, as written.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace ingestlab::testing {

// One entry of a load result's "thresholds".
inline nlohmann::json LoadThreshold(const std::string& name, const std::string& op,
                                    const nlohmann::json& threshold, const nlohmann::json& measured,
                                    bool passed, const std::string& unit) {
  return {{"name", name},         {"op", op},         {"threshold", threshold},
          {"measured", measured}, {"passed", passed}, {"unit", unit}};
}

// The "versions" a sample run reports: those of the tools the harness runs against.
inline nlohmann::json RunVersions(const std::string& git_commit) {
  return {{"ingestlab", "0.1.0"},
          {"git_commit", git_commit},
          {"nats_server", "2.9.10"},
          {"librdkafka", "2.0.2"}};
}

// One entry of a run's "assertions".
inline nlohmann::json RunAssertion(const std::string& name, const std::string& kind, bool passed,
                                   const nlohmann::json& measured, const nlohmann::json& threshold,
                                   const std::string& op, const std::string& unit,
                                   const std::string& detail) {
  return {{"name", name},           {"kind", kind}, {"passed", passed}, {"measured", measured},
          {"threshold", threshold}, {"op", op},     {"unit", unit},     {"detail", detail}};
}

// A run's "metrics": what was published and acked (none failed, none fell short), applied and
// counted by ingestd, dead letters by reason (none for max_deliveries), the latency percentiles
// and the per-service and per-type objects (of ServiceMetrics and TypeMetrics).
struct RunMetrics {
  nlohmann::json published, acked, applied, duplicates, redeliveries;
  nlohmann::json parse_dead_letters, schema_dead_letters;
  nlohmann::json p50_ms, p95_ms, p99_ms, max_ms;
  nlohmann::json throughput_eps, retries, reconnects;
  nlohmann::json per_service, per_type;
};

inline nlohmann::json RunMetricsJson(const RunMetrics& m) {
  return {
      {"published", m.published},
      {"acked", m.acked},
      {"publish_failed", 0},
      {"shortfall", 0},
      {"applied", m.applied},
      {"duplicates", m.duplicates},
      {"redeliveries", m.redeliveries},
      {"dead_letters",
       {{"parse", m.parse_dead_letters}, {"schema", m.schema_dead_letters}, {"max_deliveries", 0}}},
      {"latency_ms", {{"p50", m.p50_ms}, {"p95", m.p95_ms}, {"p99", m.p99_ms}, {"max", m.max_ms}}},
      {"throughput_eps", m.throughput_eps},
      {"retries", m.retries},
      {"reconnects", m.reconnects},
      {"per_service", m.per_service},
      {"per_type", m.per_type}};
}

// One service of a run's "metrics"."per_service".
inline nlohmann::json ServiceMetrics(const nlohmann::json& published, const nlohmann::json& applied,
                                     const nlohmann::json& dead_letters,
                                     const nlohmann::json& p99_ms) {
  return {{"published", published},
          {"applied", applied},
          {"dead_letters", dead_letters},
          {"p99_ms", p99_ms}};
}

// One event type of a run's "metrics"."per_type".
inline nlohmann::json TypeMetrics(const nlohmann::json& applied, const nlohmann::json& p50_ms,
                                  const nlohmann::json& p99_ms) {
  return {{"applied", applied}, {"p50_ms", p50_ms}, {"p99_ms", p99_ms}};
}

// One fault of a run's "timeline"; a null until_s leaves it out (a fault with no duration).
inline nlohmann::json RunFault(double at_s, const nlohmann::json& until_s,
                               const std::string& action, const std::string& target,
                               const nlohmann::json& params) {
  nlohmann::json f = {{"at_s", at_s}};
  if (!until_s.is_null()) f["until_s"] = until_s;
  f["action"] = action;
  f["target"] = target;
  f["params"] = params;
  return f;
}

}  // namespace ingestlab::testing
