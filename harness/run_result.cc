// The check and output phases of a run (see run_result.h).
#include "harness/run_result.h"


#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "harness/runner.h"
#include "simulators/encoding.h"
#include "system/metrics.h"

namespace ingestlab {
namespace {

nlohmann::json NumberOrNull(double v) {
  if (!std::isfinite(v)) return nullptr;
  return RoundTo(v);
}

// A JSON array of element(item) for each of `items`, in order.
template <typename T, typename Element>
nlohmann::json ArrayOf(const std::vector<T>& items, Element element) {
  nlohmann::json out = nlohmann::json::array();
  for (const T& item : items) out.push_back(element(item));
  return out;
}

nlohmann::json EmptySeries() {
  nlohmann::json s = nlohmann::json::object();
  for (const char* key :
       {"t_s", "publish_rate", "ingest_rate", "lag", "latency_p50_ms", "latency_p95_ms",
        "latency_p99_ms", "retries", "dead_letters", "reconnects"}) {
    s[key] = nlohmann::json::array();
  }
  return s;
}

// Acked event id -> its first publish, for events expected to apply.
std::unordered_map<std::string, const PublishRecord*> FirstPublishes(const RunObservations& obs) {
  std::unordered_map<std::string, const PublishRecord*> first;
  for (const auto& p : obs.publishes) {
    if (p.acked && !p.event_id.empty() && p.expect != "dead_letter") first.emplace(p.event_id, &p);
  }
  return first;
}

double LatencyMs(const AppliedRow& r, const PublishRecord& p) {
  return static_cast<double>(std::max<int64_t>(0, r.committed_at_ms - p.publish_ms));
}

// Dead letters per publishing service, matched by payload ("unknown" when none matches).
std::map<std::string, int64_t> DeadLettersByService(const RunObservations& obs) {
  std::unordered_map<std::string, std::string> service_of_payload;
  for (const auto& p : obs.publishes) {
    if (p.expect == "dead_letter") service_of_payload.emplace(p.payload, p.service);
  }
  std::map<std::string, int64_t> out;
  for (const auto& d : obs.dead_letters) {
    auto it = service_of_payload.find(d.payload);
    out[it == service_of_payload.end() ? "unknown" : it->second]++;
  }
  return out;
}

}  // namespace

double RoundTo(double v, int digits) {
  if (!std::isfinite(v)) return v;
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

nlohmann::json TopologyJson(const TopologySpec& t) {
  nlohmann::json j = {{"nats_nodes", t.nats_nodes},
                      {"kafka_brokers", t.kafka_brokers},
                      {"ingestd", t.ingestd_count}};
  if (t.secure) j["secure"] = true;
  if (t.postgres_store) j["store"] = "postgres";
  return j;
}

nlohmann::json BaseResult(const Scenario& s, uint64_t seed, const std::string& command,
                          int64_t started_ms) {
  nlohmann::json r;
  r["format"] = 1;
  r["scenario"] = s.name;
  r["description"] = s.description;
  r["seed"] = seed;
  r["verdict"] = "error";
  r["error"] = "";
  r["started_at_ms"] = started_ms;
  r["duration_s"] = 0.0;
  r["command"] = command;
  r["versions"] = VersionsJson();
  r["topology"] = TopologyJson(s.topology);
  r["assertions"] = nlohmann::json::array();
  r["metrics"] = {{"published", 0},
                  {"acked", 0},
                  {"publish_failed", 0},
                  {"shortfall", 0},
                  {"applied", 0},
                  {"duplicates", 0},
                  {"redeliveries", 0},
                  {"dead_letters", {{"parse", 0}, {"schema", 0}, {"max_deliveries", 0}}},
                  {"latency_ms", {{"p50", 0}, {"p95", 0}, {"p99", 0}, {"max", 0}}},
                  {"throughput_eps", 0.0},
                  {"retries", 0},
                  {"reconnects", 0},
                  {"per_service", nlohmann::json::object()},
                  {"per_type", nlohmann::json::object()}};
  r["timeline"] = nlohmann::json::array();
  r["series"] = EmptySeries();
  r["latency_histogram"] = LatencyHistogramJson({});
  r["offending_events"] = nlohmann::json::array();
  r["state_digest"] = "";
  return r;
}

AssertionResult CleanShutdownResult(const std::vector<std::string>& exits,
                                    const std::string& system, const std::string& signal) {
  // CONTRACT: SIGTERM drains and exits 0. Checked on every run, as an assertion of its own.
  AssertionResult clean;
  clean.name = system + " stops cleanly";
  clean.kind = "clean_shutdown";
  clean.op = "<=";
  clean.unit = "instances";
  std::ostringstream detail;
  for (const auto& e : exits) {
    detail << (detail.tellp() > 0 ? ", " : "") << e;
    if (e.find("exit 0") == std::string::npos) clean.measured += 1;
  }
  clean.passed = clean.measured == 0;
  clean.detail = exits.empty() ? "no instance was running at the end" : signal + ": " + detail.str();
  return clean;
}

std::string Verdict(const Evaluation& ev, bool aborted, bool timeline_failed, bool load_failed,
                    bool state_checked) {
  if (aborted || timeline_failed || load_failed || !state_checked) return "error";
  return ev.all_passed() ? "pass" : "fail";
}

nlohmann::json AssertionsJson(const Evaluation& ev) {
  return ArrayOf(ev.results, [](const AssertionResult& a) {
    return nlohmann::json{{"name", a.name},
                          {"kind", a.kind},
                          {"passed", a.passed},
                          {"measured", NumberOrNull(a.measured)},
                          {"threshold", RoundTo(a.threshold)},
                          {"op", a.op},
                          {"unit", a.unit},
                          {"detail", a.detail}};
  });
}

nlohmann::json MetricsJson(
    const RunObservations& obs, const std::vector<double>& latencies_ms, const LoadTotals& totals,
    const std::vector<std::pair<std::string, sim::ServiceRunStats>>& service_stats) {
  nlohmann::json m;
  m["published"] = totals.sent;
  m["acked"] = totals.acked;
  m["publish_failed"] = totals.failed;
  m["shortfall"] = totals.shortfall;
  m["applied"] = obs.applied.size();
  m["duplicates"] = RoundTo(obs.counters.duplicates);
  m["redeliveries"] = RoundTo(obs.counters.redeliveries);
  std::map<std::string, int64_t> dl_by_reason = {
      {"parse", 0}, {"schema", 0}, {"max_deliveries", 0}};
  for (const auto& d : obs.dead_letters) dl_by_reason[d.reason]++;
  m["dead_letters"] = dl_by_reason;
  std::vector<double> all = latencies_ms;
  LatencySummary lat = SummarizeLatencies(all);
  m["latency_ms"] = {{"p50", RoundTo(lat.p50)},
                     {"p95", RoundTo(lat.p95)},
                     {"p99", RoundTo(lat.p99)},
                     {"max", RoundTo(lat.max)}};
  const double load_s = std::max(0.001, (obs.load_stop_ms - obs.start_ms) / 1000.0);
  size_t during = 0;
  for (const auto& r : obs.applied) {
    if (r.committed_at_ms >= obs.start_ms && r.committed_at_ms <= obs.load_stop_ms) ++during;
  }
  m["throughput_eps"] = RoundTo(static_cast<double>(during) / load_s, 1);
  m["retries"] = RoundTo(obs.counters.retries);
  m["reconnects"] = RoundTo(obs.counters.reconnects);

  // Per service and per type, latency against the publish time.
  const auto first_publish = FirstPublishes(obs);
  std::map<std::string, std::vector<double>> by_service, by_type;
  std::map<std::string, int64_t> applied_by_service, applied_by_type;
  for (const auto& r : obs.applied) {
    auto it = first_publish.find(r.event_id);
    if (it == first_publish.end()) continue;
    const double latency = LatencyMs(r, *it->second);
    by_service[it->second->service].push_back(latency);
    by_type[r.type].push_back(latency);
    applied_by_service[it->second->service]++;
    applied_by_type[r.type]++;
  }
  auto dead_by_service = DeadLettersByService(obs);
  m["per_service"] = nlohmann::json::object();
  for (const auto& [service, st] : service_stats) {
    LatencySummary ls = SummarizeLatencies(by_service[service]);
    m["per_service"][service] = {{"published", st.sent},
                                 {"applied", applied_by_service[service]},
                                 {"dead_letters", dead_by_service[service]},
                                 {"p99_ms", RoundTo(ls.p99)}};
  }
  m["per_type"] = nlohmann::json::object();
  for (auto& [type, values] : by_type) {
    LatencySummary ls = SummarizeLatencies(values);
    m["per_type"][type] = {{"applied", applied_by_type[type]},
                           {"p50_ms", RoundTo(ls.p50)},
                           {"p99_ms", RoundTo(ls.p99)}};
  }
  return m;
}

nlohmann::json SeriesJson(const RunSeries& series, const RunObservations& obs) {
  // Latency percentiles per second of commit time; the sample at t_s[i] covers
  // (t_s[i-1], t_s[i]].
  const size_t n = series.t_s.size();
  std::vector<std::vector<double>> per_second(n);
  const auto first_publish = FirstPublishes(obs);
  for (const auto& r : obs.applied) {
    auto it = first_publish.find(r.event_id);
    if (it == first_publish.end()) continue;
    const double t = (r.committed_at_ms - obs.start_ms) / 1000.0;
    auto pos = std::lower_bound(series.t_s.begin(), series.t_s.end(), t);
    if (pos == series.t_s.end()) continue;
    per_second[static_cast<size_t>(pos - series.t_s.begin())].push_back(LatencyMs(r, *it->second));
  }
  nlohmann::json sj = EmptySeries();
  for (size_t i = 0; i < n; ++i) {
    LatencySummary ls = SummarizeLatencies(per_second[i]);
    sj["t_s"].push_back(series.t_s[i]);
    sj["publish_rate"].push_back(series.publish_rate[i]);
    sj["ingest_rate"].push_back(series.ingest_rate[i]);
    sj["lag"].push_back(series.lag[i]);
    sj["latency_p50_ms"].push_back(RoundTo(ls.p50));
    sj["latency_p95_ms"].push_back(RoundTo(ls.p95));
    sj["latency_p99_ms"].push_back(RoundTo(ls.p99));
    sj["retries"].push_back(series.retries[i]);
    sj["dead_letters"].push_back(series.dead_letters[i]);
    sj["reconnects"].push_back(series.reconnects[i]);
  }
  return sj;
}

nlohmann::json LatencyHistogramJson(const std::vector<double>& latencies_ms) {
  const auto bounds = Metrics::LatencyBoundsMs();
  std::vector<int64_t> counts(bounds.size() + 1, 0);
  for (double v : latencies_ms) {
    counts[static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) -
                               bounds.begin())]++;
  }
  return {{"bounds_ms", bounds}, {"counts", counts}};
}

nlohmann::json OffendingEventsJson(const Evaluation& ev) {
  return ArrayOf(ev.offending, [](const OffendingEvent& o) {
    return nlohmann::json{{"event_id", o.event_id},
                          {"problem", o.problem},
                          {"expected", o.expected},
                          {"observed", o.observed},
                          {"service", o.service},
                          {"type", o.type},
                          {"subject", o.subject},
                          {"payload_b64", sim::Base64Encode(o.payload.substr(0, 4096))}};
  });
}

nlohmann::json StallsJson(const std::vector<Stall>& stalls) {
  return ArrayOf(stalls, [](const Stall& st) {
    return nlohmann::json{
        {"from_s", RoundTo(st.from_s, 1)}, {"to_s", RoundTo(st.to_s, 1)}, {"max_lag", st.max_lag}};
  });
}

nlohmann::json ContextJson(const RunObservations& obs) {
  std::vector<double> latencies;
  std::map<std::string, int64_t> statuses, missing;
  int64_t partial = 0, cross = 0;
  for (const auto& r : obs.context_reads) {
    latencies.push_back(static_cast<double>(r.end_ms - r.start_ms));
    ++statuses[r.status == 0 ? "unanswered" : std::to_string(r.status)];
    partial += r.partial;
    cross += r.token_org != r.customer_org;
    for (const auto& s : r.missing_sources) ++missing[s];
  }
  const LatencySummary l = SummarizeLatencies(latencies);
  nlohmann::json breakers = nlohmann::json::object();
  std::map<std::string, std::string> last;  // "instance/service" -> state
  for (const auto& b : obs.breaker_samples) {
    const std::string key = b.instance + "/" + b.service;
    auto [it, fresh] = last.emplace(key, b.state);
    if (!fresh && it->second == b.state) continue;
    it->second = b.state;
    breakers[key].push_back({RoundTo(b.t_s, 2), b.state});
  }
  return {{"reads", obs.context_reads.size()},
          {"cross_tenant_reads", cross},
          {"statuses", statuses},
          {"partial", partial},
          {"missing_sources", missing},
          {"latency_ms", {{"p50", l.p50}, {"p95", l.p95}, {"p99", l.p99}, {"max", l.max}}},
          {"breakers", breakers}};
}

nlohmann::json ReferenceModelJson(const RunObservations& obs) {
  nlohmann::json rm;
  rm["checked"] = obs.state_checked;
  rm["note"] = obs.state_note;
  rm["mismatches"] = obs.state_mismatches.size();
  rm["tables"] = nlohmann::json::array();
  for (const auto& t : obs.state_tables) {
    const nlohmann::json first = ArrayOf(t.first_differences, [](const StateMismatch& diff) {
      return nlohmann::json{{"what", diff.what},
                            {"key", diff.key},
                            {"expected", diff.expected},
                            {"observed", diff.observed}};
    });
    rm["tables"].push_back({{"table", t.table},
                            {"expected_rows", t.expected_rows},
                            {"observed_rows", t.observed_rows},
                            {"rows_compared", t.compared},
                            {"mismatches", t.mismatches},
                            {"first_differences", first}});
  }
  return rm;
}

}  // namespace ingestlab
