// `ingestlab load`: plans the steps, drives them with LoadDrivers (one per publisher, each its
// own connection and thread per service), meters commits from the store or /metrics, prints
// progress once a second and writes result.json and report.html.
#include "harness/load_command.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/log_histogram.h"
#include "common/redact.h"
#include "harness/environment.h"
#include "harness/load_driver.h"
#include "harness/load_meter.h"
#include "harness/run_dir.h"
#include "harness/run_output.h"
#include "simulators/generators.h"
#include "reports/load_report.h"
#include "system/metrics.h"
#include "system/nats/nats_security.h"

namespace ingestlab {
namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_interrupted{false};
void OnSignal(int) { g_interrupted.store(true); }

double Round(double v, int digits = 2) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

nlohmann::json LatencyJson(const LogHistogram& h) {
  return {{"p50", Round(h.PercentileMillis(50))},
          {"p90", Round(h.PercentileMillis(90))},
          {"p99", Round(h.PercentileMillis(99))},
          {"p999", Round(h.PercentileMillis(99.9))},
          {"max", Round(h.MaxMillis())}};
}

std::string FormatRate(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f/s", r);
  return buf;
}

// Busy and total jiffies of the whole machine (/proc/stat's first line); {0, 0} when unreadable.
std::pair<uint64_t, uint64_t> MachineCpuJiffies() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  uint64_t v[8] = {0};
  f >> cpu;
  for (auto& x : v) f >> x;
  if (!f || cpu != "cpu") return {0, 0};
  const uint64_t idle = v[3] + v[4];  // idle + iowait
  uint64_t total = 0;
  for (uint64_t x : v) total += x;
  return {total - idle, total};
}

double BusyFraction(std::pair<uint64_t, uint64_t> before, std::pair<uint64_t, uint64_t> after) {
  if (after.second <= before.second) return 0;
  return static_cast<double>(after.first - before.first) /
         static_cast<double>(after.second - before.second);
}

// The built-in workload when no file is given: every simulated service, CloudEvents mostly,
// in the proportions of the CI suite's mixed-soak.
const char* kDefaultWorkload = R"(name: mixed
description: every simulated service; billing, support, auth and learning on NATS, crm on Kafka
services:
  - {name: billing, rate: 3}
  - {name: support, rate: 2}
  - {name: auth, rate: 2}
  - {name: learning, rate: 2}
  - {name: crm, rate: 1}
load:
  rate: 1000
duration: 30s
)";

struct StepResult {
  LoadStep plan;
  bool warmup = false;  // not measured: left out of the output
  int64_t start_ms = 0;
  int64_t end_ms = 0;  // when the step's rate went to zero
  LoadTotals totals;   // this step's publishes
  uint64_t late = 0;   // sent more than 1 s after their scheduled time
  int64_t max_lateness_ms = 0;
  uint64_t to_commit = 0;
  uint64_t committed = 0;
  uint64_t uncommitted = 0;
  uint64_t max_lag = 0;
  uint64_t end_lag = 0;
  int64_t last_commit_ms = 0;
  double cpu_busy = 0;  // the machine's CPU, busy share while the step's load ran
  LogHistogram latency;
  LogHistogram publish;
  bool passed = true;
  std::string reason;
};

struct SecondSample {
  double t_s = 0;
  double offered = 0;
  double sent = 0;
  double lag = 0;
};

// Everything measured during the run; the controlling thread alone touches it.
struct Measurements {
  int64_t t0_ms = 0;
  std::vector<StepResult> steps;
  std::map<int64_t, LogHistogram> by_commit_second;  // seconds since t0
  std::map<int64_t, uint64_t> commits_by_second;
  std::vector<SecondSample> series;
  uint64_t committed = 0;
  uint64_t dead_letters = 0;
  uint64_t unattributed = 0;  // commits of events scheduled outside every step
  uint64_t max_lag = 0;
};

// The publishers (one LoadDriver per publisher, each with its own connections and a thread per
// service) live for the whole run; a step sets their rate, and between steps the rate is zero
// while the step's events settle, so every step's events are known exactly.
class LoadRun {
 public:
  LoadRun(const Scenario& workload, std::string nats, std::string kafka, NatsSecurity security,
          CommitMeter* meter, bool quiet)
      : w_(workload),
        nats_(std::move(nats)),
        kafka_(std::move(kafka)),
        security_(std::move(security)),
        meter_(meter),
        quiet_(quiet),
        weights_(ServiceWeights(workload)) {
    m_.t0_ms = clock_.NowUnixMillis();
  }
  ~LoadRun() { Stop(); }

  Measurements& measurements() { return m_; }

  // Connects the publishers and starts them at first_rate.
  Status Start(double first_rate) {
    const int publishers = w_.load->publishers;
    for (int k = 0; k < publishers; ++k) {
      auto sc = std::make_unique<Scenario>(w_);
      sc->duration_s = 0;  // until stopped
      sc->timeline.clear();
      // Distinct event ids per publisher: each is its own generator seed.
      sc->seed = w_.seed + static_cast<uint64_t>(k) * 1'000'003ULL;
      for (size_t i = 0; i < sc->services.size(); ++i) {
        sc->services[i].rate = std::max(first_rate * weights_[i] / publishers, 1e-3);
        sc->services[i].shape = "constant";
      }
      auto d = LoadDriver::Create(*sc, nats_, kafka_, nullptr, &clock_, security_);
      if (!d.ok()) return d.status();
      d.value()->SetSendObserver([this](const sim::PlannedMessage& m, int64_t scheduled_ms) {
        std::lock_guard<std::mutex> lock(scheduled_mu_);
        if (m.expected == sim::kExpectApplied && !step_starts_.empty()) {
          expected_by_step_[StepOf(scheduled_ms)]++;
        }
        if (m.dialect == sim::Dialect::kCustomerEvent) scheduled_[m.event_id] = scheduled_ms;
      });
      drivers_.push_back(std::move(d.value()));
      scenarios_.push_back(std::move(sc));
    }
    first_rate_ = first_rate;
    return Status::Ok();
  }

  // Runs one step, then lets its events settle (rate zero) for up to settle_s.
  Status RunStep(const LoadStep& plan, const std::string& label, bool warmup = false) {
    const Snapshot before = Take();
    StepResult step;
    step.plan = plan;
    step.warmup = warmup;
    step.start_ms = clock_.NowUnixMillis();
    m_.steps.push_back(std::move(step));
    StepResult& s = m_.steps.back();
    const size_t index = m_.steps.size() - 1;
    {
      std::lock_guard<std::mutex> lock(scheduled_mu_);
      step_starts_.push_back(s.start_ms);
      expected_by_step_.push_back(0);
    }
    if (!started_) {
      if (std::fabs(plan.rate_from - first_rate_) > 1e-9) SetTotalRate(plan.rate_from);
      for (auto& d : drivers_) {
        if (Status st = d->Start(s.start_ms); !st.ok()) return st;
      }
      started_ = true;
    } else {
      SetTotalRate(plan.rate_from);
    }
    if (!quiet_) {
      std::fprintf(stderr, "load: %s: %s for %s\n", label.c_str(),
                   plan.rate_from == plan.rate_to
                       ? FormatRate(plan.rate_from).c_str()
                       : (FormatRate(plan.rate_from) + " -> " + FormatRate(plan.rate_to)).c_str(),
                   FormatDurationSeconds(plan.duration_s).c_str());
    }
    const int64_t end = s.start_ms + static_cast<int64_t>(std::llround(plan.duration_s * 1000));
    const auto cpu_before = MachineCpuJiffies();
    int64_t next_tick = s.start_ms + 1000;
    uint64_t prev_sent = Take().totals.sent;
    while (!g_interrupted.load()) {
      const int64_t now = clock_.NowUnixMillis();
      if (now >= end) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(50, end - now)));
      if (clock_.NowUnixMillis() < next_tick) continue;
      next_tick += 1000;
      const double x = std::clamp((clock_.NowUnixMillis() - s.start_ms) / 1000.0 + 0.5, 0.0,
                                  plan.duration_s) / plan.duration_s;
      const double offered = plan.rate_from + (plan.rate_to - plan.rate_from) * x;
      if (plan.rate_from != plan.rate_to) SetTotalRate(offered);
      const Snapshot now_snap = Take();
      Tick(now_snap, prev_sent, before, offered);
      prev_sent = now_snap.totals.sent;
    }
    SetTotalRate(0);
    s.end_ms = clock_.NowUnixMillis();
    s.cpu_busy = BusyFraction(cpu_before, MachineCpuJiffies());

    // Settle: every publish answered and every event committed, or settle_s passed.
    const int64_t deadline = s.end_ms + static_cast<int64_t>(w_.load->settle_s * 1000);
    Snapshot after = Take();
    s.end_lag = Lag(index, after, before, s);
    for (;;) {
      Absorb();
      after = Take();
      s.to_commit = ToCommit(index, after, before);
      const bool answered = after.totals.acked + after.totals.failed >= after.totals.sent;
      if ((answered && s.committed >= s.to_commit) || clock_.NowUnixMillis() >= deadline ||
          g_interrupted.load()) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (clock_.NowUnixMillis() >= next_tick) {
        next_tick += 1000;
        Tick(after, prev_sent, before, 0);
        prev_sent = after.totals.sent;
      }
    }
    s.totals.sent = after.totals.sent - before.totals.sent;
    s.totals.acked = after.totals.acked - before.totals.acked;
    s.totals.failed = after.totals.failed - before.totals.failed;
    s.totals.expected_dead_letters =
        after.totals.expected_dead_letters - before.totals.expected_dead_letters;
    s.late = after.late - before.late;
    s.max_lateness_ms = after.max_lateness_ms;
    s.publish = after.publish.Minus(before.publish);
    // Events never committed count at the latency they have at least reached: now - step end.
    if (s.committed < s.to_commit) {
      s.uncommitted = s.to_commit - s.committed;
      const int64_t waited = std::max<int64_t>(0, clock_.NowUnixMillis() - s.end_ms);
      for (uint64_t i = 0; i < s.uncommitted; ++i) s.latency.RecordMicros(waited * 1000);
    }
    {
      std::lock_guard<std::mutex> lock(scheduled_mu_);
      scheduled_.clear();  // what is left was counted as uncommitted
    }
    return Status::Ok();
  }

  // Stops the publishers (idempotent).
  void Stop() {
    for (auto& d : drivers_) d->RequestStop();
    if (started_) {
      for (auto& d : drivers_) (void)d->Wait();
    }
    drivers_.clear();
    scenarios_.clear();
    started_ = false;
  }

  // A step at which the generator fell behind measured the generator, not the system.
  static bool GeneratorBound(const StepResult& s) {
    return s.totals.failed > 0 || static_cast<double>(s.late) > 0.01 * static_cast<double>(s.totals.sent);
  }

  // Judges a find_max step: the generator kept up, every event committed, p99 within target.
  void Judge(StepResult* s, double p99_target_ms) const {
    const double p99 = s->latency.PercentileMillis(99);
    std::ostringstream why;
    if (GeneratorBound(*s)) {
      why << "the load generator fell behind at " << FormatRate(s->plan.rate_from) << " ("
          << s->late << " of " << s->totals.sent << " events sent over 1 s late, "
          << s->totals.failed << " publishes failed)";
    } else if (s->uncommitted > 0) {
      why << s->uncommitted << " events not committed " << FormatDurationSeconds(w_.load->settle_s)
          << " after the step at " << FormatRate(s->plan.rate_from) << " (lag unbounded)";
    } else if (p99 > p99_target_ms) {
      why << "p99 " << Round(p99, 1) << " ms > " << p99_target_ms << " ms at "
          << FormatRate(s->plan.rate_from);
    }
    s->reason = why.str();
    s->passed = s->reason.empty();
  }

 private:
  struct Snapshot {
    LoadTotals totals;
    uint64_t duplicates = 0;
    uint64_t late = 0;
    int64_t max_lateness_ms = 0;
    LogHistogram publish;
  };

  Snapshot Take() const {
    Snapshot s;
    for (const auto& d : drivers_) {
      const LoadTotals t = d->Totals();
      s.totals.sent += t.sent;
      s.totals.acked += t.acked;
      s.totals.failed += t.failed;
      s.totals.expected_dead_letters += t.expected_dead_letters;
      for (const auto& [name, st] : d->ServiceStats()) {
        auto it = st.expected.find("duplicate");
        if (it != st.expected.end()) s.duplicates += it->second;
        s.late += st.late;
        s.max_lateness_ms = std::max(s.max_lateness_ms, st.max_lateness_ms);
        s.publish.Merge(st.publish_latency);
      }
    }
    return s;
  }

  // The step an event scheduled at `scheduled_ms` belongs to: the last one started by then
  // (stragglers sent after a step's end still belong to it). REQUIRES: scheduled_mu_ held or
  // the controlling thread, and at least one step.
  size_t StepOf(int64_t scheduled_ms) const {
    auto it = std::upper_bound(step_starts_.begin(), step_starts_.end(), scheduled_ms);
    return it == step_starts_.begin() ? 0 : static_cast<size_t>(it - step_starts_.begin()) - 1;
  }

  // Events of step `index` that should end up in the events table: the messages scheduled in it
  // that are meant to be applied (not the copies, not those meant for the dead-letter queue),
  // less the publishes that failed.
  uint64_t ToCommit(size_t index, const Snapshot& after, const Snapshot& before) {
    uint64_t expected = 0;
    {
      std::lock_guard<std::mutex> lock(scheduled_mu_);
      expected = expected_by_step_[index];
    }
    const uint64_t failed = after.totals.failed - before.totals.failed;
    return expected > failed ? expected - failed : 0;
  }

  uint64_t Lag(size_t index, const Snapshot& now, const Snapshot& before, const StepResult& s) {
    const uint64_t to_commit = ToCommit(index, now, before);
    return to_commit > s.committed ? to_commit - s.committed : 0;
  }

  void SetTotalRate(double total) {
    const double publishers = w_.load->publishers;
    const double all_size = static_cast<double>(sim::AllServices().size());
    for (auto& d : drivers_) {
      for (size_t i = 0; i < w_.services.size(); ++i) {
        const auto& spec = w_.services[i];
        const double r = total * weights_[i] / publishers;
        d->SetRate(spec.name, spec.name == "all" ? r / all_size : r);
      }
    }
  }

  // Reads whatever the meter has and attributes it to the step its events were scheduled in.
  void Absorb() {
    CommitDelta d;
    if (Status st = meter_->Poll(&d); !st.ok()) {
      if (!quiet_) std::fprintf(stderr, "load: metering: %s\n", st.message().c_str());
      return;
    }
    m_.committed += d.committed;
    m_.dead_letters += d.dead_letters;
    for (const auto& e : d.events) {
      int64_t scheduled_ms = e.event_time_ms;
      if (!e.customer_event_id.empty()) {
        std::lock_guard<std::mutex> lock(scheduled_mu_);
        auto it = scheduled_.find(e.customer_event_id);
        if (it != scheduled_.end()) {
          scheduled_ms = it->second;
          scheduled_.erase(it);
        }
      }
      const int64_t us = std::max<int64_t>(0, e.committed_at_ms - scheduled_ms) * 1000;
      const int64_t sec = std::max<int64_t>(0, (e.committed_at_ms - m_.t0_ms) / 1000);
      m_.by_commit_second[sec].RecordMicros(us);
      m_.commits_by_second[sec]++;
      StepResult* owner = nullptr;
      if (!m_.steps.empty() && scheduled_ms >= m_.steps.front().start_ms) {
        std::lock_guard<std::mutex> lock(scheduled_mu_);
        owner = &m_.steps[StepOf(scheduled_ms)];
      }
      if (owner) {
        owner->committed++;
        owner->latency.RecordMicros(us);
        owner->last_commit_ms = std::max(owner->last_commit_ms, e.committed_at_ms);
      } else {
        m_.unattributed++;
      }
    }
    if (!d.latency_buckets.empty() || (d.events.empty() && d.committed > 0)) {
      // Metrics: attributed to the step running (or settling) now, by commit time.
      const int64_t sec = std::max<int64_t>(0, (clock_.NowUnixMillis() - m_.t0_ms) / 1000);
      m_.commits_by_second[sec] += d.committed;
      if (!m_.steps.empty()) {
        m_.steps.back().committed += d.committed;
        if (d.committed > 0) m_.steps.back().last_commit_ms = clock_.NowUnixMillis();
      }
      for (const auto& [bound, n] : d.latency_buckets) {
        const double ms = std::isinf(bound) ? 60'000.0 : bound;
        for (int64_t i = 0; i < n; ++i) {
          m_.by_commit_second[sec].RecordMillis(ms);
          if (!m_.steps.empty()) m_.steps.back().latency.RecordMillis(ms);
        }
      }
    }
  }

  void Tick(const Snapshot& now_snap, uint64_t prev_sent, const Snapshot& step_before,
            double offered) {
    Absorb();
    const int64_t sec = (clock_.NowUnixMillis() - m_.t0_ms) / 1000;
    StepResult& s = m_.steps.back();
    const uint64_t lag = Lag(m_.steps.size() - 1, now_snap, step_before, s);
    m_.max_lag = std::max(m_.max_lag, lag);
    s.max_lag = std::max(s.max_lag, lag);
    SecondSample sample;
    sample.t_s = static_cast<double>(sec);
    sample.offered = offered;
    sample.sent = static_cast<double>(now_snap.totals.sent - prev_sent);
    sample.lag = static_cast<double>(lag);
    m_.series.push_back(sample);
    if (!quiet_) {
      const auto& h = m_.by_commit_second[sec - 1];
      std::fprintf(stderr,
                   "load: t=%3llds offered %6.0f/s sent %6.0f/s committed %6llu/s lag %7llu "
                   "p50 %6.1f ms p99 %7.1f ms\n",
                   static_cast<long long>(sec), offered, sample.sent,
                   static_cast<unsigned long long>(m_.commits_by_second[sec - 1]),
                   static_cast<unsigned long long>(lag), h.PercentileMillis(50),
                   h.PercentileMillis(99));
    }
  }

  const Scenario& w_;
  std::string nats_, kafka_;
  NatsSecurity security_;  // for a NATS cluster that requires credentials (--nats-credentials)
  CommitMeter* meter_;
  bool quiet_;
  std::vector<double> weights_;
  SystemClock clock_;
  Measurements m_;
  std::vector<std::unique_ptr<Scenario>> scenarios_;  // each driver refers to its own
  std::vector<std::unique_ptr<LoadDriver>> drivers_;
  bool started_ = false;
  double first_rate_ = 0;
  std::mutex scheduled_mu_;
  std::unordered_map<std::string, int64_t> scheduled_;  // customer-dialect id -> scheduled ms
  std::vector<int64_t> step_starts_;                    // each step's start, unix ms
  std::vector<uint64_t> expected_by_step_;              // messages to apply, by step
};

// Committed events per second over the step, or over the time its commits took when the
// system fell behind (a backlog drained after the step counts at the rate it drained).
double StepSpanSeconds(const StepResult& s) {
  return std::max(s.plan.duration_s, static_cast<double>(s.last_commit_ms - s.start_ms) / 1000.0);
}
double StepThroughput(const StepResult& s) {
  const double span = StepSpanSeconds(s);
  return span > 0 ? static_cast<double>(s.committed) / span : 0;
}

nlohmann::json StepJson(const StepResult& s, int index) {
  return {{"index", index},
          {"rate_eps", Round(s.plan.rate_from, 1)},
          {"rate_to_eps", Round(s.plan.rate_to, 1)},
          {"duration_s", Round(s.plan.duration_s, 1)},
          {"offered_eps", Round((s.plan.rate_from + s.plan.rate_to) / 2, 1)},
          {"sent", s.totals.sent},
          {"acked", s.totals.acked},
          {"publish_failed", s.totals.failed},
          {"late", s.late},
          {"max_send_lateness_ms", s.max_lateness_ms},
          {"committed", s.committed},
          {"uncommitted", s.uncommitted},
          {"throughput_eps", Round(StepThroughput(s), 1)},
          {"end_lag", s.end_lag},
          {"max_lag", s.max_lag},
          {"cpu_busy", Round(s.cpu_busy, 3)},
          {"latency_ms", LatencyJson(s.latency)},
          {"publish_latency_ms",
           {{"p50", Round(s.publish.PercentileMillis(50))},
            {"p99", Round(s.publish.PercentileMillis(99))},
            {"max", Round(s.publish.MaxMillis())}}},
          {"passed", s.passed},
          {"reason", s.reason}};
}

struct Threshold {
  std::string name, op, unit;
  double threshold = 0, measured = 0;
  bool passed = true;
};

std::vector<Threshold> EvaluateThresholds(const Scenario& w, const Measurements& m,
                                          std::optional<double> cli_p99_ms, bool find_max,
                                          double max_rate) {
  std::vector<Threshold> out;
  LogHistogram all;
  double committed = 0, seconds = 0;
  uint64_t uncommitted = 0;
  for (const auto& s : m.steps) {
    if (s.warmup) continue;
    all.Merge(s.latency);
    committed += static_cast<double>(s.committed);
    seconds += StepSpanSeconds(s);
    uncommitted += s.uncommitted;
  }
  auto add = [&](std::string name, std::string op, double threshold, double measured,
                 std::string unit) {
    Threshold t{std::move(name), std::move(op), std::move(unit), threshold, measured, true};
    t.passed = t.op == "<=" ? measured <= threshold : measured >= threshold;
    out.push_back(std::move(t));
  };
  for (const auto& a : w.assertions) {
    if (a.kind == "latency" && !find_max) {  // find_max judges latency per step instead
      for (const auto& [key, pct] : std::vector<std::pair<std::string, double>>{
               {"p50_ms", 50}, {"p95_ms", 95}, {"p99_ms", 99}, {"max_ms", 100}}) {
        auto it = a.numbers.find(key);
        if (it == a.numbers.end()) continue;
        add(key, "<=", it->second, Round(all.PercentileMillis(pct)), "ms");
      }
    } else if (a.kind == "throughput") {
      if (find_max) {
        add("max_rate_eps", ">=", a.numbers.at("min_eps"), Round(max_rate, 1), "events/s");
      } else {
        add("throughput_eps", ">=", a.numbers.at("min_eps"),
            Round(seconds > 0 ? committed / seconds : 0, 1), "events/s");
      }
    } else if (a.kind == "no_loss") {
      add("uncommitted", "<=", 0, static_cast<double>(uncommitted), "events");
    }
  }
  if (cli_p99_ms && !find_max) add("p99_ms", "<=", *cli_p99_ms, Round(all.PercentileMillis(99)), "ms");
  return out;
}

}  // namespace

std::vector<double> ServiceWeights(const Scenario& scenario) {
  double sum = 0;
  for (const auto& s : scenario.services) sum += s.rate;
  std::vector<double> out;
  for (const auto& s : scenario.services) {
    out.push_back(sum > 0 ? s.rate / sum : 1.0 / static_cast<double>(scenario.services.size()));
  }
  return out;
}

std::vector<LoadStep> PlanLoadSteps(const Scenario& scenario) {
  const LoadSpec& l = *scenario.load;
  if (l.mode == "fixed") return {{l.rate, l.rate, scenario.duration_s}};
  if (l.mode == "ramp") return {{l.ramp_from, l.ramp_to, scenario.duration_s}};
  std::vector<LoadStep> out;
  if (l.mode == "steps") {
    for (double r : l.steps) out.push_back({r, r, l.step_s});
  }
  return out;
}

double PlanNextFindMaxRate(const LoadSpec& load,
                           const std::vector<std::pair<double, bool>>& tried) {
  if (tried.empty()) return std::min(load.start_rate, load.max_rate);
  double best_pass = 0, lowest_fail = 0;
  bool any_fail = false;
  for (const auto& [rate, passed] : tried) {
    if (passed) {
      best_pass = std::max(best_pass, rate);
    } else if (!any_fail || rate < lowest_fail) {
      lowest_fail = rate;
      any_fail = true;
    }
  }
  if (!any_fail) {
    if (best_pass >= load.max_rate) return 0;
    return std::min(best_pass * 2, load.max_rate);
  }
  // Bisecting: at most 6 steps after the first failure.
  size_t after_fail = 0;
  bool seen_fail = false;
  for (const auto& [rate, passed] : tried) {
    if (seen_fail) ++after_fail;
    seen_fail = seen_fail || !passed;
  }
  if (after_fail >= 6) return 0;
  const double low = best_pass < lowest_fail ? best_pass : 0;
  if (low > 0 && (lowest_fail - low) / low <= load.precision) return 0;
  if (low == 0 && lowest_fail <= 1) return 0;
  return std::round((low + lowest_fail) / 2);
}

namespace {

struct LoadEndpoints {
  std::string nats, kafka, db, metrics;
  bool embedded = true;
  bool need_kafka = false;
  NatsSecurity nats_security;  // --nats-credentials
};

// One load test: starts the embedded infrastructure when `ep` names no endpoints, runs the
// workload's steps (or the search), writes result.json, report.html and workload.yaml into
// `out` (prepared by the caller), prints the summary and tears everything down. Returns the
// exit code; *result_out gets the result.
int RunOneLoad(const Scenario& w, LoadEndpoints ep, const std::string& out, bool quiet,
               std::optional<double> p99_opt, nlohmann::json* result_out) {
  const LoadSpec& l = *w.load;
  std::string nats = ep.nats, kafka = ep.kafka, db = ep.db;
  const std::string& metrics_url = ep.metrics;
  const bool embedded = ep.embedded;
  const bool need_kafka = ep.need_kafka;

  nlohmann::json result = {{"format", 1},
                           {"kind", "load"},
                           {"workload", w.name},
                           {"description", w.description},
                           {"verdict", "error"},
                           {"error", ""},
                           {"mode", l.mode},
                           {"seed", w.seed},
                           {"publishers", l.publishers}};
  SystemClock clock;
  const int64_t started = clock.NowUnixMillis();
  result["started_at_ms"] = started;
  std::unique_ptr<Environment> env;
  std::unique_ptr<CommitMeter> meter;
  int rc = 1;
  std::string error;
  std::optional<LoadRun> run;
  double max_rate = 0, first_fail = 0;
  std::string limited_by;

  do {
    if (embedded) {
      EnvironmentOptions o;
      o.nats_nodes = w.topology.nats_nodes;
      o.kafka_brokers = need_kafka ? std::max(1, w.topology.kafka_brokers) : 0;
      o.ingestd_count = w.topology.ingestd_count;
      o.ingestd_settings = w.topology.ingestd_settings;
      o.dir = out;
      o.seed = w.seed;
      o.proxies = false;
      if (!quiet) std::fprintf(stderr, "load: starting nats-server, Kafka and ingestd in %s\n", out.c_str());
      auto e = Environment::Start(o);
      if (!e.ok()) {
        error = e.status().message();
        break;
      }
      env = std::move(e.value());
      if (Status st = env->WaitForIngestReady(60'000); !st.ok()) {
        error = st.message();
        break;
      }
      nats = env->nats_urls();
      kafka = env->kafka_bootstrap();
      db = env->db_path();
    }
    result["target"] = {{"embedded", embedded},
                        {"nats_urls", RedactUrlList(nats)},
                        {"kafka_bootstrap", RedactUrlList(kafka)},
                        {"db", db},
                        {"metrics", metrics_url}};
    auto m = db.empty() ? OpenMetricsMeter(metrics_url) : OpenStoreMeter(db);
    if (!m.ok()) {
      error = m.status().message();
      break;
    }
    meter = std::move(m.value());
    result["target"]["latency_source"] = meter->source();
    run.emplace(w, nats, kafka, ep.nats_security, meter.get(), quiet);
    const auto plan = PlanLoadSteps(w);
    const double first_rate =
        l.mode == "find_max" ? PlanNextFindMaxRate(l, {}) : plan.front().rate_from;
    if (Status st = run->Start(first_rate); !st.ok()) {
      error = st.message();
      break;
    }
    if (l.warmup_s > 0) {
      if (Status st = run->RunStep({first_rate, first_rate, l.warmup_s}, "warmup", true);
          !st.ok()) {
        error = st.message();
        break;
      }
    }

    if (l.mode == "find_max") {
      std::vector<std::pair<double, bool>> tried;
      for (double r = PlanNextFindMaxRate(l, tried); r > 0 && !g_interrupted.load();
           r = PlanNextFindMaxRate(l, tried)) {
        const std::string label = "find-max step " + std::to_string(tried.size() + 1);
        if (Status st = run->RunStep({r, r, l.step_s}, label); !st.ok()) {
          error = st.message();
          break;
        }
        StepResult& s = run->measurements().steps.back();
        run->Judge(&s, l.p99_target_ms);
        if (!quiet) {
          std::fprintf(stderr, "load: %s at %s: %s\n", s.passed ? "holds" : "fails",
                       FormatRate(r).c_str(),
                       s.passed ? ("p99 " + std::to_string(static_cast<int>(
                                                std::ceil(s.latency.PercentileMillis(99)))) +
                                   " ms")
                                      .c_str()
                                : s.reason.c_str());
        }
        tried.emplace_back(r, s.passed);
        if (s.passed) {
          max_rate = std::max(max_rate, r);
        } else if (first_fail == 0 || r < first_fail) {
          first_fail = r;
          limited_by = s.reason;
        }
        // A generator that cannot keep up ends the search: higher rates would measure it.
        if (!s.passed && run->GeneratorBound(s)) break;
      }
      if (!error.empty()) break;
      if (first_fail == 0 && max_rate >= l.max_rate) {
        limited_by = "reached the search's maximum rate " + FormatRate(l.max_rate);
      }
      result["find_max"] = {{"p99_target_ms", l.p99_target_ms},
                            {"max_rate_eps", Round(max_rate, 1)},
                            {"first_failed_rate_eps", Round(first_fail, 1)},
                            {"limited_by", limited_by}};
    } else {
      for (size_t i = 0; i < plan.size() && !g_interrupted.load(); ++i) {
        const std::string label = plan.size() == 1 ? l.mode
                                                   : "step " + std::to_string(i + 1) + "/" +
                                                         std::to_string(plan.size());
        if (Status st = run->RunStep(plan[i], label); !st.ok()) {
          error = st.message();
          break;
        }
      }
    }
  } while (false);
  if (run) run->Stop();
  if (g_interrupted.load() && error.empty()) error = "interrupted";

  // Output.
  Measurements empty;
  const Measurements& m = run ? run->measurements() : empty;
  uint64_t sent = 0, acked = 0, failed = 0, late = 0, uncommitted = 0;
  double offered_events = 0, seconds = 0;
  LogHistogram publish;
  result["steps"] = nlohmann::json::array();
  result["warmup_s"] = l.warmup_s;
  for (size_t i = 0; i < m.steps.size(); ++i) {
    const auto& s = m.steps[i];
    if (s.warmup) continue;
    result["steps"].push_back(StepJson(s, static_cast<int>(result["steps"].size())));
    sent += s.totals.sent;
    acked += s.totals.acked;
    failed += s.totals.failed;
    late += s.late;
    uncommitted += s.uncommitted;
    offered_events += (s.plan.rate_from + s.plan.rate_to) / 2 * s.plan.duration_s;
    seconds += s.plan.duration_s;
    publish.Merge(s.publish);
  }
  LogHistogram all;
  uint64_t step_committed = 0;
  double spans = 0;
  for (const auto& s : m.steps) {
    if (s.warmup) continue;
    all.Merge(s.latency);
    step_committed += s.committed;
    spans += StepSpanSeconds(s);
  }
  result["summary"] = {
      {"offered_eps", Round(seconds > 0 ? offered_events / seconds : 0, 1)},
      {"sent", sent},
      {"acked", acked},
      {"publish_failed", failed},
      {"committed", step_committed},
      {"dead_letters", m.dead_letters},
      {"throughput_eps", Round(spans > 0 ? static_cast<double>(step_committed) / spans : 0, 1)},
      {"late", late},
      {"uncommitted", uncommitted},
      {"unattributed", m.unattributed},
      {"max_lag", m.max_lag},
      {"latency_ms", LatencyJson(all)},
      {"publish_latency_ms",
       {{"p50", Round(publish.PercentileMillis(50))},
        {"p99", Round(publish.PercentileMillis(99))},
        {"max", Round(publish.MaxMillis())}}}};
  nlohmann::json series = {{"t_s", nlohmann::json::array()},
                           {"offered_eps", nlohmann::json::array()},
                           {"sent_eps", nlohmann::json::array()},
                           {"committed_eps", nlohmann::json::array()},
                           {"lag", nlohmann::json::array()},
                           {"latency_p50_ms", nlohmann::json::array()},
                           {"latency_p99_ms", nlohmann::json::array()}};
  for (const auto& s : m.series) {
    const int64_t sec = static_cast<int64_t>(s.t_s) - 1;
    auto it = m.by_commit_second.find(sec);
    auto cit = m.commits_by_second.find(sec);
    series["t_s"].push_back(s.t_s);
    series["offered_eps"].push_back(Round(s.offered, 1));
    series["sent_eps"].push_back(s.sent);
    series["committed_eps"].push_back(cit == m.commits_by_second.end() ? 0 : cit->second);
    series["lag"].push_back(s.lag);
    series["latency_p50_ms"].push_back(
        it == m.by_commit_second.end() ? 0 : Round(it->second.PercentileMillis(50)));
    series["latency_p99_ms"].push_back(
        it == m.by_commit_second.end() ? 0 : Round(it->second.PercentileMillis(99)));
  }
  result["series"] = series;
  {
    const auto bounds = Metrics::LatencyBoundsMs();
    result["latency_histogram"] = {{"bounds_ms", bounds}, {"counts", all.CountsFor(bounds)}};
  }
  const auto thresholds = EvaluateThresholds(w, m, p99_opt, l.mode == "find_max", max_rate);
  result["thresholds"] = nlohmann::json::array();
  bool all_held = true;
  for (const auto& t : thresholds) {
    result["thresholds"].push_back({{"name", t.name},
                                    {"op", t.op},
                                    {"threshold", t.threshold},
                                    {"measured", t.measured},
                                    {"passed", t.passed},
                                    {"unit", t.unit}});
    all_held = all_held && t.passed;
  }
  if (l.mode == "find_max" && error.empty() && max_rate <= 0) {
    all_held = false;
    result["error"] = "no rate held the p99 target: " + limited_by;
  }
  result["duration_s"] = Round((clock.NowUnixMillis() - started) / 1000.0, 1);
  if (!error.empty()) {
    result["verdict"] = "error";
    result["error"] = error;
    rc = 1;
  } else {
    result["verdict"] = all_held ? "pass" : "fail";
    rc = all_held ? 0 : 1;
  }
  {
    std::ofstream f(out + "/result.json");
    f << result.dump(2) << "\n";
    if (!f) std::fprintf(stderr, "ingestlab load: cannot write %s/result.json\n", out.c_str());
  }
  if (Status st = WriteLoadReport(result, out + "/report.html"); !st.ok()) {
    std::fprintf(stderr, "ingestlab load: report: %s\n", st.message().c_str());
  }
  {
    std::ofstream f(out + "/workload.yaml");
    f << w.text;
  }

  // Summary.
  const auto& lat = result["summary"]["latency_ms"];
  std::printf("load %s: %s — %s\n", w.name.c_str(), result["verdict"].get<std::string>().c_str(),
              error.empty() ? "" : error.c_str());
  std::printf("  offered %.0f/s over %s, sent %llu, committed %llu (%.0f/s), not committed %llu, "
              "sent over 1 s late %llu\n",
              result["summary"]["offered_eps"].get<double>(), FormatDurationSeconds(seconds).c_str(),
              static_cast<unsigned long long>(sent),
              static_cast<unsigned long long>(step_committed),
              result["summary"]["throughput_eps"].get<double>(),
              static_cast<unsigned long long>(uncommitted), static_cast<unsigned long long>(late));
  std::printf("  latency (scheduled send -> commit, %s): p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  "
              "max %.1f ms\n",
              meter ? meter->source().c_str() : "-", lat["p50"].get<double>(),
              lat["p90"].get<double>(), lat["p99"].get<double>(), lat["p999"].get<double>(),
              lat["max"].get<double>());
  std::printf("  publish (send -> broker ack): p50 %.1f  p99 %.1f  max %.1f ms\n",
              publish.PercentileMillis(50), publish.PercentileMillis(99), publish.MaxMillis());
  if (result.contains("find_max")) {
    std::printf("  highest rate holding p99 <= %.0f ms: %.0f/s (%s)\n", l.p99_target_ms, max_rate,
                limited_by.empty() ? "no step failed" : limited_by.c_str());
  }
  for (const auto& t : thresholds) {
    std::printf("  %s %s: %g %s %g %s\n", t.passed ? "ok  " : "FAIL", t.name.c_str(), t.measured,
                t.op.c_str(), t.threshold, t.unit.c_str());
  }
  std::printf("  result %s/result.json, report %s/report.html\n", out.c_str(), out.c_str());
  std::fflush(stdout);
  run.reset();
  meter.reset();
  if (env) {
    for (const auto& e : env->StopSystem()) LOG(kInfo, "harness") << e;
  }
  env.reset();
  if (result_out) *result_out = std::move(result);
  return rc;
}

// The same load once per number of ingestd instances, each in a fresh embedded environment
// (out/ingestd-N/), and a result whose `scaling` rows hold each count's rate, p99, how busy the
// machine's CPU was and what limited it.
int RunScaling(const Scenario& workload, const LoadEndpoints& ep, const std::string& out,
               bool quiet, std::optional<double> p99_opt, const std::vector<int>& instances) {
  nlohmann::json last;
  nlohmann::json rows = nlohmann::json::array();
  int worst = 0;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  for (int n : instances) {
    if (g_interrupted.load()) break;
    Scenario w = workload;
    w.topology.ingestd_count = n;
    const std::string dir = out + "/ingestd-" + std::to_string(n);
    if (Status st = PrepareRunDirectory(dir, "load"); !st.ok()) {
      std::fprintf(stderr, "ingestlab load: %s\n", st.message().c_str());
      return 2;
    }
    if (!quiet) std::fprintf(stderr, "load: %d ingestd instance(s)\n", n);
    nlohmann::json result;
    const int rc = RunOneLoad(w, ep, dir, quiet, p99_opt, &result);
    worst = std::max(worst, rc);
    const bool search = result.contains("find_max");
    const nlohmann::json& sum = result["summary"];
    double cpu = 0, seconds = 0;
    for (const auto& step : result["steps"]) {
      cpu += step.value("cpu_busy", 0.0) * step.value("duration_s", 0.0);
      seconds += step.value("duration_s", 0.0);
    }
    cpu = seconds > 0 ? cpu / seconds : 0;
    std::ostringstream limit;
    if (cpu >= 0.9) {
      limit << "CPU: the machine's " << cores << " cores were " << std::lround(cpu * 100)
            << "% busy";
    } else {
      limit << "not CPU (" << std::lround(cpu * 100)
            << "% busy): the shared SQLite store, which takes one write transaction at a time";
    }
    if (search && !result["find_max"].value("limited_by", std::string()).empty()) {
      limit << "; above it: " << result["find_max"].value("limited_by", std::string());
    }
    rows.push_back({{"instances", n},
                    {"rate_eps", search ? result["find_max"].value("max_rate_eps", 0.0)
                                        : sum.value("throughput_eps", 0.0)},
                    {"p99_ms", sum["latency_ms"].value("p99", 0.0)},
                    {"cpu_busy", Round(cpu, 3)},
                    {"limited_by", limit.str()},
                    {"verdict", result.value("verdict", std::string("error"))},
                    {"dir", "ingestd-" + std::to_string(n)}});
    last = std::move(result);
  }
  if (last.is_null()) return 1;
  last["scaling"] = rows;
  last["verdict"] = worst == 0 ? "pass" : last.value("error", std::string()).empty() ? "fail"
                                                                                      : "error";
  {
    std::ofstream f(out + "/result.json");
    f << last.dump(2) << "\n";
  }
  if (Status st = WriteLoadReport(last, out + "/report.html"); !st.ok()) {
    std::fprintf(stderr, "ingestlab load: report: %s\n", st.message().c_str());
  }
  std::printf("scaling %s (%s):\n", workload.name.c_str(),
              last["verdict"].get<std::string>().c_str());
  for (const auto& r : rows) {
    std::printf("  %d ingestd: %.0f/s, p99 %.1f ms, CPU %.0f%% busy — %s\n",
                r["instances"].get<int>(), r["rate_eps"].get<double>(),
                r["p99_ms"].get<double>(), r["cpu_busy"].get<double>() * 100,
                r["limited_by"].get<std::string>().c_str());
  }
  std::printf("  result %s/result.json, report %s/report.html\n", out.c_str(), out.c_str());
  return worst;
}

}  // namespace

int RunLoadCommand(int argc, char** argv) {
  CLI::App app{
      "Load test against the embedded infrastructure (started here: nats-server, the mock Kafka\n"
      "cluster, ingestd) or against given endpoints. Latency is measured from each event's\n"
      "scheduled send time to its commit (no coordinated omission). Without WORKLOAD.yaml the\n"
      "built-in 'mixed' workload (every simulated service) runs. See docs/load.md.",
      "ingestlab load"};
  app.set_help_flag("-h,--help", "this text");
  std::string workload_path, nats, kafka, metrics_url, db, ramp, out;
  std::vector<double> steps;
  std::optional<double> rate, p99_opt;
  std::string duration_text, p99_text, step_text;
  uint64_t seed = 0;
  int publishers = 0;
  bool find_max = false, quiet = false;
  app.add_option("workload", workload_path, "workload file (scenarios/load/*.yaml)")
      ->check(CLI::ExistingFile);
  app.add_option("--nats", nats, "NATS URLs of a running cluster (comma-separated)");
  std::string nats_credentials;
  app.add_option("--nats-credentials", nats_credentials,
                 "credentials file for that cluster: a .creds file, or key = value lines (user, "
                 "password, token, nkey-seed, tls-ca, tls-cert, tls-key, tls) as `ingestlab up "
                 "--secure` writes it")
      ->type_name("FILE");
  app.add_option("--kafka", kafka, "Kafka bootstrap servers of a running cluster");
  app.add_option("--metrics", metrics_url,
                 "the system's /metrics URL: latency from its ingest_e2e_latency_ms histogram");
  app.add_option("--db", db, "the SQLite store the system writes: exact per-event latency");
  app.add_option("--rate", rate, "fixed total rate, events/s (overrides the workload's load)")
      ->check(CLI::Range(0.001, 1e7));
  app.add_option("--ramp", ramp, "linear ramp FROM:TO:DURATION, e.g. 1000:20000:60s");
  app.add_option("--steps", steps, "rates of consecutive steps, e.g. --steps 1000,2000,4000")
      ->delimiter(',')
      ->check(CLI::Range(0.001, 1e7));
  app.add_option("--step-duration", step_text, "length of each step (steps, find-max), e.g. 10s");
  app.add_option("--duration", duration_text, "duration of a fixed rate, e.g. 30s");
  app.add_flag("--find-max", find_max,
               "step the rate up and bisect to the highest rate that holds --p99");
  app.add_option("--p99", p99_text,
                 "p99 target, e.g. 25ms: the find-max criterion, otherwise a threshold");
  app.add_option("--publishers", publishers, "publisher threads per service (own connection each)")
      ->check(CLI::Range(1, 16));
  app.add_option("--seed", seed, "generator seed (default: the workload's)");
  app.add_option("--out", out, "output directory (default runs/load-<workload>)");
  std::vector<int> instances;
  app.add_option("--instances", instances,
                 "repeat the load with each number of ingestd instances, e.g. 1,2,4 "
                 "(embedded only): throughput against instances")
      ->delimiter(',')
      ->check(CLI::Range(1, 8));
  std::string warmup_text;
  app.add_option("--warmup", warmup_text, "load at the first rate before measuring (default 2s)");
  app.add_flag("-q,--quiet", quiet, "no progress lines");
  if (auto exit_code = ParseCommandLine(app, "load", argc, argv)) return *exit_code;
  auto usage = [](const std::string& m) { return UsageError("load", m); };

  // The workload, then the command line's overrides.
  auto parsed = workload_path.empty() ? ParseScenario(kDefaultWorkload, "<built-in mixed>")
                                      : LoadScenarioFile(workload_path);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", parsed.status().message().c_str());
    return 2;
  }
  Scenario w = std::move(parsed.value());
  if (!w.load) {
    return usage(workload_path + " is a scenario, not a load workload (it has no 'load:' "
                 "section); run it with `ingestlab run`");
  }
  LoadSpec& l = *w.load;
  if (seed) w.seed = seed;
  if (publishers) l.publishers = publishers;
  const int modes = (rate ? 1 : 0) + (ramp.empty() ? 0 : 1) + (steps.empty() ? 0 : 1) + find_max;
  if (modes > 1) return usage("give at most one of --rate, --ramp, --steps, --find-max");
  if (!duration_text.empty()) {
    auto d = ParseDurationSeconds(duration_text);
    if (!d.ok() || *d <= 0) return usage("--duration: bad duration '" + duration_text + "'");
    w.duration_s = *d;
  }
  if (!step_text.empty()) {
    auto d = ParseDurationSeconds(step_text);
    if (!d.ok() || *d < 1) return usage("--step-duration must be at least 1s");
    l.step_s = *d;
  }
  if (!warmup_text.empty()) {
    auto d = ParseDurationSeconds(warmup_text);
    if (!d.ok() || *d > 600) return usage("--warmup: bad duration '" + warmup_text + "'");
    l.warmup_s = *d;
  }
  if (!p99_text.empty()) {
    auto d = ParseDurationSeconds(p99_text);
    if (!d.ok() || *d <= 0) return usage("--p99: bad duration '" + p99_text + "' (e.g. 25ms)");
    p99_opt = *d * 1000;
  }
  if (rate) {
    l.mode = "fixed";
    l.rate = *rate;
  } else if (!ramp.empty()) {
    double from = 0, to = 0;
    char dur[64] = {0};
    if (std::sscanf(ramp.c_str(), "%lf:%lf:%63s", &from, &to, dur) != 3 || from <= 0 || to <= 0) {
      return usage("--ramp must be FROM:TO:DURATION, e.g. 1000:20000:60s");
    }
    auto d = ParseDurationSeconds(dur);
    if (!d.ok() || *d <= 0) return usage("--ramp: bad duration '" + std::string(dur) + "'");
    l.mode = "ramp";
    l.ramp_from = from;
    l.ramp_to = to;
    w.duration_s = *d;
  } else if (!steps.empty()) {
    l.mode = "steps";
    l.steps = steps;
  } else if (find_max) {
    l.mode = "find_max";
  }
  if (l.mode == "find_max" && p99_opt) l.p99_target_ms = *p99_opt;
  if ((l.mode == "fixed" || l.mode == "ramp") && w.duration_s <= 0) {
    return usage("a fixed rate needs --duration");
  }

  bool need_nats = false, need_kafka = false;
  for (const auto& s : w.services) {
    const bool kafka_service = s.name == "crm" || (s.name == "billing" && s.transport == "kafka");
    (kafka_service ? need_kafka : need_nats) = true;
    if (s.name == "all") need_kafka = need_nats = true;
  }
  const bool embedded = nats.empty() && kafka.empty();
  if (!embedded) {
    if (need_nats && nats.empty()) return usage("the workload publishes on NATS: give --nats");
    if (need_kafka && kafka.empty()) return usage("the workload publishes on Kafka: give --kafka");
    if (db.empty() && metrics_url.empty()) {
      return usage("against given endpoints, say how to see commits: --db PATH or --metrics URL");
    }
  }
  if (!instances.empty() && !embedded) {
    return usage("--instances starts ingestd itself: it needs the embedded infrastructure");
  }
  if (out.empty()) out = "runs/load-" + w.name;
  if (Status st = PrepareRunDirectory(out, "load"); !st.ok()) {
    std::fprintf(stderr, "ingestlab load: %s\n", st.message().c_str());
    return 2;
  }
  std::error_code ec;
  out = fs::absolute(out, ec).string();

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  LoadEndpoints ep{nats, kafka, db, metrics_url, embedded, need_kafka, {}};
  if (!nats_credentials.empty()) {
    if (nats.empty()) return usage("--nats-credentials is for the cluster --nats names");
    NatsSecurity probe;
    if (Status st = ReadNatsCredentialsFile(nats_credentials, &probe); !st.ok()) {
      return usage(st.message());
    }
    ep.nats_security.credentials = nats_credentials;
  }
  if (instances.empty()) return RunOneLoad(w, ep, out, quiet, p99_opt, nullptr);
  return RunScaling(w, ep, out, quiet, p99_opt, instances);
}

}  // namespace ingestlab
