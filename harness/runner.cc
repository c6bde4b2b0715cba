// Runner: one scenario from start-up to result.json.
#include "harness/runner.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/clock.h"
#include "common/log.h"
#include "common/redact.h"
#include "common/version.h"
#include "harness/environment.h"
#include "harness/fault_injector.h"
#include "harness/infra/ingestd_process.h"
#include "harness/latency_probe.h"
#include "harness/stalls.h"
#include "harness/load_driver.h"
#include "harness/run_dir.h"
#include "harness/store_reader.h"
#include "reports/html_report.h"
#include "simulators/encoding.h"
#include "simulators/event_log.h"
#include "system/metrics.h"
#include "system/store.h"

namespace ingestlab {
namespace fs = std::filesystem;

namespace {

volatile std::sig_atomic_t g_abort = 0;

// Counters from every ingestd instance, carried across restarts: when a scraped counter goes
// down, the instance restarted and its previous value is added to a base.
class CounterAccumulator {
 public:
  void Update(const std::string& instance, const PrometheusSample& s) {
    auto& inst = instances_[instance];
    auto feed = [&](const std::string& key, double v) {
      double& last = inst.last[key];
      if (v < last) inst.base[key] += last;
      last = v;
    };
    for (const char* name :
         {"ingest_applied_total", "ingest_duplicates_total", "ingest_redeliveries_total",
          "ingest_retries_total", "ingest_received_total"}) {
      feed(name, s.Total(name));
    }
    feed("reconnects", s.Total("ingest_reconnects_total") + s.Total("ingest_source_reconnects"));
    for (const char* reason : {"parse", "schema", "max_deliveries"}) {
      feed(std::string("dead_letters:") + reason,
           s.Labeled("ingest_dead_letters_total", "reason", reason));
    }
  }
  double Total(const std::string& key) const {
    double sum = 0;
    for (const auto& [_, inst] : instances_) {
      auto b = inst.base.find(key);
      auto l = inst.last.find(key);
      sum += (b == inst.base.end() ? 0 : b->second) + (l == inst.last.end() ? 0 : l->second);
    }
    return sum;
  }

 private:
  struct Instance {
    std::map<std::string, double> base, last;
  };
  std::map<std::string, Instance> instances_;
};

struct Series {
  std::vector<double> t_s, publish_rate, ingest_rate, lag, retries, dead_letters, reconnects;
};

std::string ReadCommandOutput(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[256];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

double Round(double v, int digits = 3) {
  if (!std::isfinite(v)) return v;
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

nlohmann::json NumberOrNull(double v) {
  if (!std::isfinite(v)) return nullptr;
  return Round(v);
}

// The event log's publishes as the assertions see them.
std::vector<PublishRecord> ToPublishRecords(const sim::EventLog& log) {
  std::vector<PublishRecord> out;
  out.reserve(log.publishes.size());
  const int64_t origin = log.header.started_at_ms;  // the run's start (wall clock)
  for (const auto& p : log.publishes) {
    PublishRecord r;
    r.event_id = p.event_id;
    r.service = p.service;
    r.type = p.type;
    r.transport = p.transport == "kafka" ? "kafka" : "nats";
    r.subject = p.subject;
    r.publish_ms = origin + p.published_ms;
    r.event_time_ms = log.header.epoch_ms + p.scheduled_ms;  // as in the payload
    r.acked = p.acked;
    r.payload = p.payload;
    r.headers = p.headers;
    if (p.expected.rfind("dead_letter", 0) == 0) {
      r.expect = "dead_letter";
      auto colon = p.expected.find(':');
      r.expect_reason = colon == std::string::npos ? "" : p.expected.substr(colon + 1);
    } else {
      r.expect = p.expected.empty() ? "applied" : p.expected;
    }
    out.push_back(std::move(r));
  }
  return out;
}

class Progress {
 public:
  Progress(const RunOptions& o, std::string name, double total_s)
      : out_(o.progress),
        tty_(o.progress_is_tty),
        interval_(o.progress_interval_s),
        name_(std::move(name)),
        total_s_(total_s) {}
  void Update(double elapsed, double pub_rate, double ingest_rate, double lag,
              const std::string& phase, const std::string& fault) {
    if (!out_) return;
    char line[512];
    std::snprintf(line, sizeof line,
                  "[%s] %5.1fs/%.0fs %-5s publish %6.0f/s  ingest %6.0f/s  lag %6.0f%s%s",
                  name_.c_str(), elapsed, total_s_, phase.c_str(), pub_rate, ingest_rate, lag,
                  fault.empty() ? "" : "  fault: ", fault.c_str());
    if (tty_) {
      std::fprintf(out_, "\r%s\x1b[K", line);
      std::fflush(out_);
      dirty_ = true;
    } else if (elapsed - last_printed_ >= interval_ || last_printed_ < 0) {
      std::fprintf(out_, "%s\n", line);
      std::fflush(out_);
      last_printed_ = elapsed;
    }
  }
  void Message(const std::string& text) {
    if (!out_) return;
    Finish();
    std::fprintf(out_, "[%s] %s\n", name_.c_str(), text.c_str());
    std::fflush(out_);
  }
  void Finish() {
    if (out_ && tty_ && dirty_) {
      std::fprintf(out_, "\r\x1b[K");
      std::fflush(out_);
      dirty_ = false;
    }
  }

 private:
  std::FILE* out_;
  bool tty_;
  double interval_;
  std::string name_;
  double total_s_;
  double last_printed_ = -1;
  bool dirty_ = false;
};

// The scenario's simulated services as a LoadSource.
class SimulatedLoad final : public LoadSource {
 public:
  // epoch_ms: the origin of the generated events' times.
  SimulatedLoad(std::unique_ptr<LoadDriver> driver, int64_t epoch_ms)
      : driver_(std::move(driver)), epoch_ms_(epoch_ms) {}
  Status Start(int64_t) override { return driver_->Start(epoch_ms_); }
  Status Wait() override { return driver_->Wait(); }
  void RequestStop() override { driver_->RequestStop(); }
  void SetRate(const std::string& service, double per_second, int64_t at_ms) override {
    driver_->SetRate(service, per_second, at_ms);
  }
  LoadTotals Totals() const override { return driver_->Totals(); }
  std::vector<std::pair<std::string, sim::ServiceRunStats>> ServiceStats() const override {
    return driver_->ServiceStats();
  }
  std::string Describe() const override { return driver_->Describe(); }

 private:
  std::unique_ptr<LoadDriver> driver_;
  int64_t epoch_ms_;
};

// Applies the timeline on its own thread at the scheduled times.
class TimelineRunner {
 public:
  struct Entry {
    double at_s;
    size_t step;
    bool undo;
  };
  TimelineRunner(const Scenario& s, FaultInjector* injector, sim::EventLogWriter* log,
                 int64_t start_mono_ns, int64_t start_unix_ms, Progress* progress)
      : scenario_(s),
        injector_(injector),
        log_(log),
        start_mono_ns_(start_mono_ns),
        start_unix_ms_(start_unix_ms),
        progress_(progress) {
    for (size_t i = 0; i < s.timeline.size(); ++i) {
      entries_.push_back({s.timeline[i].at_s, i, false});
      if (s.timeline[i].for_s)
        entries_.push_back({s.timeline[i].at_s + *s.timeline[i].for_s, i, true});
    }
    std::stable_sort(entries_.begin(), entries_.end(),
                     [](const Entry& a, const Entry& b) { return a.at_s < b.at_s; });
    applied_at_.assign(s.timeline.size(), -1);
    undone_at_.assign(s.timeline.size(), -1);
  }
  // Releases and joins the thread. Children it spawned (restarted ingestd or nats-server) die
  // with it (PDEATHSIG is per spawning thread), so release it only after teardown.
  ~TimelineRunner() {
    Stop();
    Release();
    Join();
  }

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  // After Stop: waits until no action is in progress.
  void WaitIdle() {
    while (thread_.joinable() && !done_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  bool done() const { return done_.load(); }
  std::string current_fault() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
  }
  std::vector<std::string> errors() const {
    std::lock_guard<std::mutex> lock(mu_);
    return errors_;
  }

  // FaultWindows for the assertions and the timeline JSON, after Join.
  std::vector<FaultWindow> Windows() const {
    std::vector<FaultWindow> out;
    for (size_t i = 0; i < scenario_.timeline.size(); ++i) {
      const auto& step = scenario_.timeline[i];
      if (applied_at_[i] < 0) continue;
      FaultWindow w;
      w.action = step.action;
      w.target = step.target;
      w.at_s = applied_at_[i];
      w.disruptive = FaultInjector::IsDisruptive(step.action);
      if (step.for_s) {
        w.recovered_s = undone_at_[i];
      } else if (step.action == "restart_ingestd" || step.action == "restart_nats" ||
                 step.action == "net_reset") {
        w.recovered_s = completed_at_.count(i) ? completed_at_.at(i) : applied_at_[i];
      } else {
        // Open-ended: recovered when a later recovery action hits the same target.
        const std::string recovery = FaultInjector::RecoveryActionFor(step.action);
        for (size_t j = i + 1; j < scenario_.timeline.size() && !recovery.empty(); ++j) {
          const auto& later = scenario_.timeline[j];
          if (later.action == recovery && applied_at_[j] >= 0 &&
              (later.target == step.target || later.target == "all" || later.target.empty() ||
               step.target.empty())) {
            w.recovered_s = completed_at_.count(j) ? completed_at_.at(j) : applied_at_[j];
            break;
          }
        }
      }
      out.push_back(w);
    }
    return out;
  }
  nlohmann::json Json() const {
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < scenario_.timeline.size(); ++i) {
      const auto& step = scenario_.timeline[i];
      nlohmann::json params = nlohmann::json::object();
      for (const auto& [k, v] : step.params) params[k] = v;
      nlohmann::json e = {{"at_s", applied_at_[i] < 0 ? step.at_s : Round(applied_at_[i])},
                          {"until_s", undone_at_[i] < 0 ? nlohmann::json(nullptr)
                                                        : nlohmann::json(Round(undone_at_[i]))},
                          {"action", step.action},
                          {"target", step.target},
                          {"params", params}};
      if (applied_at_[i] < 0) e["skipped"] = true;
      out.push_back(e);
    }
    return out;
  }

 private:
  double Elapsed() const { return (Clock::System().NowMonoNanos() - start_mono_ns_) / 1e9; }

  void Loop() {
    for (const auto& e : entries_) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        while (!stop_ && Elapsed() < e.at_s) {
          const double wait = e.at_s - Elapsed();
          cv_.wait_for(lock, std::chrono::microseconds(static_cast<int64_t>(wait * 1e6) + 100));
        }
        if (stop_) break;
      }
      const TimelineStep& step = scenario_.timeline[e.step];
      const double at = Elapsed();
      if (e.undo) {
        undone_at_[e.step] = at;
      } else {
        applied_at_[e.step] = at;
      }
      const std::string what =
          (e.undo ? "undo " : "") + step.action + (step.target.empty() ? "" : " " + step.target);
      {
        std::lock_guard<std::mutex> lock(mu_);
        current_ = e.undo ? "" : what;
      }
      if (log_) {
        sim::FaultRecord fr;
        fr.offset_ms = std::llround(e.at_s * 1000);  // scheduled, not applied: deterministic
        fr.action = e.undo ? "undo_" + step.action : step.action;
        fr.target = step.target;
        for (const auto& [k, v] : step.params) fr.params[k] = v;
        if (step.for_s) fr.params["for_s"] = *step.for_s;
        log_->Append(fr);
        const size_t next = static_cast<size_t>(&e - entries_.data()) + 1;
        if (next < entries_.size()) {
          log_->AdvanceStream("timeline", std::llround(entries_[next].at_s * 1000));
        } else {
          log_->FinishStream("timeline");
        }
      }
      Status st = e.undo ? injector_->Undo(step) : injector_->Apply(step);
      completed_at_[e.step] = Elapsed();
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        errors_.push_back(scenario_.path + ":" + std::to_string(step.line) + ": " + what +
                          " failed: " + st.message());
      }
      if (progress_)
        progress_->Message(std::string("t=") + std::to_string(static_cast<int>(at)) + "s " + what +
                           (st.ok() ? "" : " FAILED: " + st.message()));
    }
    done_ = true;
    // Stay alive until released: processes this thread started must outlive the run.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return released_; });
  }

  const Scenario& scenario_;
  FaultInjector* injector_;
  sim::EventLogWriter* log_;
  int64_t start_mono_ns_;
  int64_t start_unix_ms_;
  Progress* progress_;
  std::vector<Entry> entries_;
  std::vector<double> applied_at_, undone_at_;
  std::map<size_t, double> completed_at_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool released_ = false;
  std::atomic<bool> done_{false};
  std::string current_;
  std::vector<std::string> errors_;
  std::thread thread_;
};

nlohmann::json TopologyJson(const TopologySpec& t) {
  return {{"nats_nodes", t.nats_nodes},
          {"kafka_brokers", t.kafka_brokers},
          {"ingestd", t.ingestd_count}};
}

nlohmann::json EmptySeries() {
  return {{"t_s", nlohmann::json::array()},
          {"publish_rate", nlohmann::json::array()},
          {"ingest_rate", nlohmann::json::array()},
          {"lag", nlohmann::json::array()},
          {"latency_p50_ms", nlohmann::json::array()},
          {"latency_p95_ms", nlohmann::json::array()},
          {"latency_p99_ms", nlohmann::json::array()},
          {"retries", nlohmann::json::array()},
          {"dead_letters", nlohmann::json::array()},
          {"reconnects", nlohmann::json::array()}};
}

// A result.json skeleton with every field present.
nlohmann::json BaseResult(const Scenario& s, uint64_t seed, const RunOptions& o,
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
  r["command"] = o.command;
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
  r["latency_histogram"] = {
      {"bounds_ms", Metrics::LatencyBoundsMs()},
      {"counts", std::vector<int64_t>(Metrics::LatencyBoundsMs().size() + 1, 0)}};
  r["offending_events"] = nlohmann::json::array();
  r["state_digest"] = "";
  return r;
}

void WriteJsonFile(const std::string& path, const nlohmann::json& j) {
  std::ofstream out(path, std::ios::trunc);
  out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

// Copies nats-server logs into logs/ and drops the (possibly large) JetStream stores.
void TidyRunDir(const std::string& dir) {
  std::error_code ec;
  for (int i = 0; i < 9; ++i) {
    const fs::path link = fs::path(dir) / "logs" / ("nats-" + std::to_string(i) + ".log");
    if (!fs::is_symlink(link, ec)) continue;
    const fs::path target = fs::read_symlink(link, ec);
    fs::remove(link, ec);
    fs::copy_file(target, link, ec);
  }
  fs::remove_all(fs::path(dir) / "nats", ec);
}

}  // namespace

void RequestAbort() { g_abort = 1; }
bool AbortRequested() { return g_abort != 0; }

nlohmann::json VersionsJson() {
  static const nlohmann::json versions = [] {
    std::string nats = ReadCommandOutput("nats-server --version 2>/dev/null");
    if (auto v = nats.find('v'); v != std::string::npos) nats = nats.substr(v + 1);
    return nlohmann::json{{"ingestlab", kVersion},
                          {"git_commit", kGitCommit},
                          {"nats_server", nats},
                          {"librdkafka", rd_kafka_version_str()}};
  }();
  return versions;
}

RunOutcome RunScenario(const Scenario& scenario, const RunOptions& options) {
  Clock& clock = Clock::System();
  RunOutcome outcome;
  outcome.scenario = scenario.name;
  outcome.seed = options.seed.value_or(scenario.seed);
  Scenario s = scenario;
  s.seed = outcome.seed;
  outcome.run_dir = !options.run_dir.empty()
                        ? options.run_dir
                        : options.out_dir + "/" + s.name + "-" + std::to_string(s.seed);
  const std::string& dir = outcome.run_dir;
  const int64_t run_start_mono = clock.NowMonoNanos();
  nlohmann::json result = BaseResult(s, s.seed, options, clock.NowUnixMillis());
  result["ingestd_binary"] = FindIngestdBinary();
  result["run_dir"] = outcome.run_dir;
  for (const auto& [k, v] : options.result_extra.items()) result[k] = v;
  Progress progress(options, s.name, s.duration_s);

  auto fail = [&](const std::string& error) {
    progress.Finish();
    outcome.verdict = "error";
    outcome.error = RedactText(error);
    result["verdict"] = "error";
    result["error"] = error;
    outcome.duration_s = (clock.NowMonoNanos() - run_start_mono) / 1e9;
    result["duration_s"] = Round(outcome.duration_s, 1);
    RedactJsonStrings(result);  // result.json, the report, the summary and JUnit show no secret
    outcome.result = result;
    WriteJsonFile(dir + "/result.json", result);
    Status rs = WriteRunReport(result, dir + "/report.html");
    if (!rs.ok()) {
      LOG(kWarn, "harness") << "report.html: " << rs.message();
    }
    return outcome;
  };

  // The run directory is replaced only when it is one (run_dir.h); a scenario name becomes a
  // path only when it is a plain name.
  Status prepared = options.run_dir.empty() ? ValidateScenarioName(s.name) : Status::Ok();
  if (prepared.ok()) prepared = PrepareRunDirectory(dir);
  std::error_code ec;
  if (prepared.ok()) fs::create_directories(dir + "/logs", ec);
  if (!prepared.ok() || ec) {
    outcome.verdict = "error";
    outcome.error = !prepared.ok() ? prepared.message()
                                   : "cannot create run directory " + dir + ": " + ec.message();
    return outcome;
  }
  {
    std::ofstream out(dir + "/scenario.yaml");
    out << s.text;
    if (options.seed && *options.seed != scenario.seed) {
      out << "\n# run with --seed " << *options.seed << " (overrides seed " << scenario.seed
          << ")\n";
    }
  }

  // 1. Infrastructure.
  progress.Message("starting " + std::to_string(s.topology.nats_nodes) + " nats node(s), " +
                   std::to_string(s.topology.kafka_brokers) + " Kafka broker(s), " +
                   std::to_string(s.topology.ingestd_count) + " ingestd");
  EnvironmentOptions eo;
  eo.nats_nodes = s.topology.nats_nodes;
  eo.kafka_brokers = s.topology.kafka_brokers;
  eo.ingestd_count = s.topology.ingestd_count;
  eo.dir = dir;
  eo.ingestd_settings = s.topology.ingestd_settings;
  eo.seed = s.seed;
  eo.proxies = std::any_of(s.timeline.begin(), s.timeline.end(), [](const TimelineStep& step) {
    return step.action.rfind("net_", 0) == 0;
  });
  auto env_or = Environment::Start(eo);
  if (!env_or.ok()) return fail(env_or.status().message());
  std::unique_ptr<Environment> env = std::move(env_or.value());
  if (Status ready = env->WaitForIngestReady(30'000); !ready.ok()) return fail(ready.message());

  // A probe consumer for latency gates relative to the broker's own delivery time.
  std::unique_ptr<LatencyProbe> probe;
  if (std::any_of(s.assertions.begin(), s.assertions.end(), UsesLatencyProbe)) {
    auto probe_or = LatencyProbe::StartNats(env->nats_urls());
    if (!probe_or.ok()) return fail(probe_or.status().message());
    probe = std::move(probe_or.value());
  }

  // 2. Load and the event log.
  const int64_t start_ms = clock.NowUnixMillis();
  const int64_t start_mono = clock.NowMonoNanos();
  sim::EventLogHeader header;
  header.scenario = s.name;
  header.seed = s.seed;
  header.ingestlab_version = kVersion;
  header.git_commit = kGitCommit;
  header.topology = TopologyJson(s.topology);
  header.started_at_ms = start_ms;
  const int64_t epoch_ms = options.epoch_ms.value_or(start_ms);
  header.epoch_ms = epoch_ms;
  header.scenario_yaml = s.text;
  sim::EventLogWriterOptions log_options;
  log_options.ordered = true;
  log_options.compress = ShouldCompressEventLog(s);
  auto log_or = sim::EventLogWriter::Create(dir + "/events.log", header, log_options);
  if (!log_or.ok()) return fail(log_or.status().message());
  std::unique_ptr<sim::EventLogWriter> log = std::move(log_or.value());
  if (!s.timeline.empty()) {  // a stream of the log, its watermark at its next step's time
    double first_s = s.timeline.front().at_s;
    for (const auto& step : s.timeline) first_s = std::min(first_s, step.at_s);
    log->RegisterStream("timeline", std::llround(first_s * 1000));
  }

  std::unique_ptr<LoadSource> driver;
  if (options.make_load) {
    LoadContext context;
    context.scenario = &s;
    context.nats_urls = env->nats_urls();
    context.kafka_bootstrap = env->kafka_bootstrap();
    context.log = log.get();
    context.clock = &clock;
    auto source = options.make_load(context);
    if (!source.ok()) return fail(source.status().message());
    driver = std::move(source.value());
  } else {
    auto driver_or =
        LoadDriver::Create(s, env->nats_urls(), env->kafka_bootstrap(), log.get(), &clock);
    if (!driver_or.ok()) return fail(driver_or.status().message());
    driver = std::make_unique<SimulatedLoad>(std::move(driver_or.value()), epoch_ms);
  }
  FaultInjector injector(env.get(),
                         [&driver](const std::string& service, double rate, int64_t at_ms) {
                           driver->SetRate(service, rate, at_ms);
                         });
  progress.Message("load: " + driver->Describe() + " for " + FormatDurationSeconds(s.duration_s));
  Status started = driver->Start(start_ms);
  if (!started.ok()) return fail(started.message());
  TimelineRunner timeline(s, &injector, log.get(), start_mono, start_ms, &progress);
  timeline.Start();

  std::atomic<bool> load_done{false};
  Status load_status;
  std::thread load_waiter([&] {
    load_status = driver->Wait();
    load_done = true;
  });

  // 3. Sample once a second until load ends and the lag drains (bounded).
  CounterAccumulator counters;
  Series series;
  auto store_or = StoreReader::Open(env->db_path());
  std::unique_ptr<StoreReader> store = store_or.ok() ? std::move(store_or.value()) : nullptr;
  double last_acked = 0, last_settled = 0;
  int64_t load_stop_ms = 0;
  int64_t drained_ms = 0;
  int64_t drain_deadline_mono = 0;
  size_t expected_applied_ids = 0, expected_dead = 0;
  std::unordered_set<std::string> expected_ids;  // acked ids expected to apply
  int64_t next_sample = start_mono + 1'000'000'000;
  bool aborted = false;
  double pending = 0;  // queued or undelivered messages reported by the live instances
  std::map<std::string, std::vector<std::pair<double, double>>> instance_applied;
  auto sample = [&](double t) {
    pending = 0;
    for (int i = 0; i < env->ingestd_count(); ++i) {
      if (!env->ingestd(i).running()) continue;
      auto m = env->ingestd(i).FetchMetrics(500);
      if (!m.ok()) continue;
      counters.Update(env->ingestd(i).name(), *m);
      instance_applied[env->ingestd(i).name()].emplace_back(
          Round(t, 3), m->Total("ingest_applied_total"));
      pending += m->Total("ingest_queue_messages") + m->Total("ingest_source_lag");
    }
    StoreReader::Counts c;
    if (store) {
      auto cr = store->ReadCounts();
      if (cr.ok()) c = *cr;
    }
    const LoadTotals totals = driver->Totals();
    const double settled = static_cast<double>(c.events + c.dead_letters);
    const double dt = series.t_s.empty() ? t : t - series.t_s.back();
    const double pub_rate = dt > 0 ? (static_cast<double>(totals.acked) - last_acked) / dt : 0;
    const double ingest_rate = dt > 0 ? (settled - last_settled) / dt : 0;
    const double lag = std::max(0.0, static_cast<double>(totals.acked) - settled -
                                         counters.Total("ingest_duplicates_total"));
    last_acked = static_cast<double>(totals.acked);
    last_settled = settled;
    series.t_s.push_back(Round(t, 1));
    series.publish_rate.push_back(Round(pub_rate, 1));
    series.ingest_rate.push_back(Round(ingest_rate, 1));
    series.lag.push_back(lag);
    series.retries.push_back(counters.Total("ingest_retries_total"));
    series.dead_letters.push_back(static_cast<double>(c.dead_letters));
    series.reconnects.push_back(counters.Total("reconnects"));
    progress.Update(t, pub_rate, ingest_rate, lag, load_done ? "drain" : "load",
                    timeline.current_fault());
    return c;
  };

  for (;;) {
    const int64_t now = clock.NowMonoNanos();
    if (now < next_sample) {
      clock.SleepFor(std::chrono::nanoseconds(std::min<int64_t>(next_sample - now, 100'000'000)));
      if (AbortRequested() && !aborted) {
        aborted = true;
        driver->RequestStop();
        timeline.Stop();
        progress.Message("interrupted: stopping load");
      }
      continue;
    }
    next_sample += 1'000'000'000;
    const double t = (now - start_mono) / 1e9;
    StoreReader::Counts c = sample(t);
    if (!load_done) continue;
    if (load_stop_ms == 0) {
      load_stop_ms = clock.NowUnixMillis();
      drain_deadline_mono = clock.NowMonoNanos() + static_cast<int64_t>(s.drain_timeout_s * 1e9);
      // What must be settled: every acked id expected to apply, every expected dead letter.
      log->Flush();
      auto parsed = sim::ReadEventLog(log->path());
      if (parsed.ok()) {
        std::unordered_set<std::string> ids;
        for (const auto& p : parsed->publishes) {
          if (!p.acked) continue;
          if (p.expected.rfind("dead_letter", 0) == 0) {
            ++expected_dead;
          } else if (!p.event_id.empty()) {
            ids.insert(p.event_id);
          }
        }
        expected_applied_ids = ids.size();
        expected_ids = std::move(ids);
      }
      progress.Message("load stopped; waiting for " + std::to_string(expected_applied_ids) +
                       " events and " + std::to_string(expected_dead) + " dead letters to settle");
    }
    // Settled when as many outcomes are recorded as were expected; an event dead-lettered
    // instead of applied (or the reverse) still counts, the assertions judge it.
    bool settled =
        static_cast<size_t>(c.events + c.dead_letters) >= expected_applied_ids + expected_dead &&
        pending == 0 && timeline.done();
    if (settled && store) {
      // Counts can be met by extra rows (publishes that failed but were stored anyway); make
      // sure every acked id is accounted for before calling it drained.
      auto unsettled = store->CountUnsettled(expected_ids);
      if (unsettled.ok() && *unsettled > 0) settled = false;
    }
    if (settled) {
      drained_ms = c.last_commit_ms;
      break;
    }
    if (aborted || clock.NowMonoNanos() > drain_deadline_mono) {
      if (!aborted) {
        progress.Message(
            "lag did not drain within " + FormatDurationSeconds(s.drain_timeout_s) + ": " +
            std::to_string(c.events) + "/" + std::to_string(expected_applied_ids) + " events, " +
            std::to_string(c.dead_letters) + "/" + std::to_string(expected_dead) + " dead letters");
      }
      break;
    }
  }
  load_waiter.join();
  timeline.Stop();
  timeline.WaitIdle();
  progress.Finish();

  // 4. Final counters, then a graceful stop (ingestd drains and exits 0).
  for (int i = 0; i < env->ingestd_count(); ++i) {
    auto m = env->ingestd(i).FetchMetrics(1000);
    if (m.ok()) counters.Update(env->ingestd(i).name(), *m);
  }
  std::unordered_map<std::string, int64_t> probe_delivered;
  if (probe) probe_delivered = probe->Stop();
  probe.reset();
  const auto exits = env->StopIngestds();
  const LoadTotals totals = driver->Totals();
  const auto service_stats = driver->ServiceStats();
  driver.reset();
  log->Close();
  store.reset();

  // 5. Observations.
  RunObservations obs;
  obs.start_ms = start_ms;
  obs.load_stop_ms = load_stop_ms ? load_stop_ms : clock.NowUnixMillis();
  obs.drained_ms = drained_ms;
  auto parsed_log = sim::ReadEventLog(dir + "/events.log");
  if (!parsed_log.ok()) return fail("events.log: " + parsed_log.status().message());
  obs.publishes = ToPublishRecords(*parsed_log);
  auto reader_or = StoreReader::Open(env->db_path());
  if (!reader_or.ok()) return fail(reader_or.status().message());
  auto& reader = *reader_or;
  auto applied = reader->ReadApplied();
  if (!applied.ok()) return fail(applied.status().message());
  obs.applied = std::move(applied.value());
  auto dead = reader->ReadDeadLetters();
  if (!dead.ok()) return fail(dead.status().message());
  obs.dead_letters = std::move(dead.value());
  obs.faults = timeline.Windows();
  obs.ingestd_instances = env->ingestd_count();
  obs.instance_applied = std::move(instance_applied);
  obs.probe_delivered_ms = std::move(probe_delivered);
  obs.counters.applied = counters.Total("ingest_applied_total");
  obs.counters.duplicates = counters.Total("ingest_duplicates_total");
  obs.counters.redeliveries = counters.Total("ingest_redeliveries_total");
  obs.counters.retries = counters.Total("ingest_retries_total");
  obs.counters.reconnects = counters.Total("reconnects");
  for (const char* reason : {"parse", "schema", "max_deliveries"}) {
    obs.counters.dead_letters[reason] = counters.Total(std::string("dead_letters:") + reason);
  }
  obs.counters.complete = !injector.ingestd_lost_counters();
  ModelOptions model_options;  // the ingestd settings that change what it writes
  for (const auto& [key, value] : s.topology.ingestd_settings) {
    if (key == "auto-create-customers") {
      model_options.auto_create_customers = value != "false" && value != "0" && value != "no";
    } else if (key == "summary-threshold") {
      model_options.summary_threshold =
          static_cast<size_t>(std::strtoull(value.c_str(), nullptr, 10));
    }
  }
  Status model = reader->CompareWithReferenceModel(obs.publishes, ExcusedDeadLetterIds(obs),
                                                   &obs.state_mismatches, &obs.state_note,
                                                   &obs.state_tables, model_options);
  obs.state_checked = model.ok();
  if (!model.ok()) obs.state_note = model.message();
  reader.reset();

  std::string digest;
  {
    StoreOptions so;
    so.path = env->db_path();
    auto st = Store::Open(so);
    if (st.ok()) {
      auto d = (*st)->StateDigest();
      if (d.ok()) digest = *d;
    }
  }

  // 6. Verdict.
  Evaluation ev = EvaluateAssertions(s.assertions, obs);
  std::vector<std::string> problems = timeline.errors();
  if (!load_status.ok()) problems.push_back("load: " + load_status.message());
  {
    // CONTRACT: SIGTERM drains and exits 0. Checked on every run, as an assertion of its own.
    AssertionResult clean;
    clean.name = "ingestd stops cleanly";
    clean.kind = "clean_shutdown";
    clean.op = "<=";
    clean.unit = "instances";
    std::ostringstream detail;
    for (const auto& e : exits) {
      detail << (detail.tellp() > 0 ? ", " : "") << e;
      if (e.find("exit 0") == std::string::npos) clean.measured += 1;
    }
    clean.passed = clean.measured == 0;
    clean.detail =
        exits.empty() ? "no instance was running at the end" : "SIGTERM: " + detail.str();
    ev.results.push_back(clean);
  }
  if (aborted) problems.push_back("interrupted");
  // A reference model that could not run checked nothing: the run proves nothing either way.
  if (!obs.state_checked) problems.push_back("reference model not run: " + obs.state_note);
  outcome.evaluation = ev;
  outcome.verdict = !problems.empty() && (aborted || !timeline.errors().empty() ||
                                          !load_status.ok() || !obs.state_checked)
                        ? "error"
                    : ev.all_passed() ? "pass"
                                      : "fail";
  std::ostringstream joined;
  for (size_t i = 0; i < problems.size(); ++i) joined << (i ? "; " : "") << problems[i];
  outcome.error = joined.str();
  outcome.duration_s = (clock.NowMonoNanos() - run_start_mono) / 1e9;

  // result.json
  result["verdict"] = outcome.verdict;
  result["error"] = outcome.error;
  result["started_at_ms"] = start_ms;
  result["duration_s"] = Round(outcome.duration_s, 1);
  for (const auto& a : ev.results) {
    result["assertions"].push_back({{"name", a.name},
                                    {"kind", a.kind},
                                    {"passed", a.passed},
                                    {"measured", NumberOrNull(a.measured)},
                                    {"threshold", Round(a.threshold)},
                                    {"op", a.op},
                                    {"unit", a.unit},
                                    {"detail", a.detail}});
  }
  auto& m = result["metrics"];
  m["published"] = totals.sent;
  m["acked"] = totals.acked;
  m["publish_failed"] = totals.failed;
  m["shortfall"] = totals.shortfall;
  m["applied"] = obs.applied.size();
  m["duplicates"] = Round(obs.counters.duplicates);
  m["redeliveries"] = Round(obs.counters.redeliveries);
  std::map<std::string, int64_t> dl_by_reason = {
      {"parse", 0}, {"schema", 0}, {"max_deliveries", 0}};
  for (const auto& d : obs.dead_letters) dl_by_reason[d.reason]++;
  m["dead_letters"] = dl_by_reason;
  auto all_latencies = EventLatenciesMs(obs);
  std::vector<double> hist_values = all_latencies;
  LatencySummary lat = SummarizeLatencies(all_latencies);
  m["latency_ms"] = {{"p50", Round(lat.p50)},
                     {"p95", Round(lat.p95)},
                     {"p99", Round(lat.p99)},
                     {"max", Round(lat.max)}};
  {
    const double load_s = std::max(0.001, (obs.load_stop_ms - obs.start_ms) / 1000.0);
    size_t during = 0;
    for (const auto& r : obs.applied) {
      if (r.committed_at_ms >= obs.start_ms && r.committed_at_ms <= obs.load_stop_ms) ++during;
    }
    m["throughput_eps"] = Round(static_cast<double>(during) / load_s, 1);
  }
  m["retries"] = Round(obs.counters.retries);
  m["reconnects"] = Round(obs.counters.reconnects);

  // Per service and per type, latency against the publish time.
  std::unordered_map<std::string, const PublishRecord*> first_publish;
  for (const auto& p : obs.publishes) {
    if (p.acked && !p.event_id.empty() && p.expect != "dead_letter")
      first_publish.emplace(p.event_id, &p);
  }
  std::map<std::string, std::vector<double>> by_service, by_type;
  std::map<std::string, int64_t> applied_by_service, applied_by_type;
  for (const auto& r : obs.applied) {
    auto it = first_publish.find(r.event_id);
    if (it == first_publish.end()) continue;
    const double latency =
        static_cast<double>(std::max<int64_t>(0, r.committed_at_ms - it->second->publish_ms));
    by_service[it->second->service].push_back(latency);
    by_type[r.type].push_back(latency);
    applied_by_service[it->second->service]++;
    applied_by_type[r.type]++;
  }
  std::map<std::string, int64_t> dead_by_service;
  {
    std::unordered_map<std::string, std::string> service_of_payload;
    for (const auto& p : obs.publishes) {
      if (p.expect == "dead_letter") service_of_payload.emplace(p.payload, p.service);
    }
    for (const auto& d : obs.dead_letters) {
      auto it = service_of_payload.find(d.payload);
      dead_by_service[it == service_of_payload.end() ? "unknown" : it->second]++;
    }
  }
  for (const auto& [service, st] : service_stats) {
    auto& values = by_service[service];
    LatencySummary ls = SummarizeLatencies(values);
    m["per_service"][service] = {{"published", st.sent},
                                 {"applied", applied_by_service[service]},
                                 {"dead_letters", dead_by_service[service]},
                                 {"p99_ms", Round(ls.p99)}};
  }
  for (auto& [type, values] : by_type) {
    LatencySummary ls = SummarizeLatencies(values);
    m["per_type"][type] = {
        {"applied", applied_by_type[type]}, {"p50_ms", Round(ls.p50)}, {"p99_ms", Round(ls.p99)}};
  }

  result["timeline"] = timeline.Json();

  // Series: latency percentiles per second of commit time.
  {
    const size_t n = series.t_s.size();
    std::vector<std::vector<double>> per_second(n);
    for (const auto& r : obs.applied) {
      auto it = first_publish.find(r.event_id);
      if (it == first_publish.end()) continue;
      const double t = (r.committed_at_ms - start_ms) / 1000.0;
      // The sample at t_s[i] covers (t_s[i-1], t_s[i]].
      auto pos = std::lower_bound(series.t_s.begin(), series.t_s.end(), t);
      if (pos == series.t_s.end()) continue;
      per_second[static_cast<size_t>(pos - series.t_s.begin())].push_back(
          static_cast<double>(std::max<int64_t>(0, r.committed_at_ms - it->second->publish_ms)));
    }
    nlohmann::json sj = EmptySeries();
    for (size_t i = 0; i < n; ++i) {
      LatencySummary ls = SummarizeLatencies(per_second[i]);
      sj["t_s"].push_back(series.t_s[i]);
      sj["publish_rate"].push_back(series.publish_rate[i]);
      sj["ingest_rate"].push_back(series.ingest_rate[i]);
      sj["lag"].push_back(series.lag[i]);
      sj["latency_p50_ms"].push_back(Round(ls.p50));
      sj["latency_p95_ms"].push_back(Round(ls.p95));
      sj["latency_p99_ms"].push_back(Round(ls.p99));
      sj["retries"].push_back(series.retries[i]);
      sj["dead_letters"].push_back(series.dead_letters[i]);
      sj["reconnects"].push_back(series.reconnects[i]);
    }
    result["series"] = sj;
  }
  // Stretches with events waiting, nothing settled and no fault to explain it.
  result["stalls"] = nlohmann::json::array();
  for (const Stall& st : FindStalls(series.t_s, series.ingest_rate, series.lag, obs.faults)) {
    result["stalls"].push_back(
        {{"from_s", Round(st.from_s, 1)}, {"to_s", Round(st.to_s, 1)}, {"max_lag", st.max_lag}});
    progress.Message("stall: nothing committed from " + FormatDurationSeconds(st.from_s) +
                     " to " + FormatDurationSeconds(st.to_s) + " with up to " +
                     std::to_string(static_cast<int64_t>(st.max_lag)) +
                     " events waiting and no fault active");
  }
  {
    const auto bounds = Metrics::LatencyBoundsMs();
    std::vector<int64_t> counts(bounds.size() + 1, 0);
    for (double v : hist_values) {
      size_t i =
          static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin());
      counts[i]++;
    }
    result["latency_histogram"] = {{"bounds_ms", bounds}, {"counts", counts}};
  }
  for (const auto& o : ev.offending) {
    result["offending_events"].push_back(
        {{"event_id", o.event_id},
         {"problem", o.problem},
         {"expected", o.expected},
         {"observed", o.observed},
         {"service", o.service},
         {"type", o.type},
         {"subject", o.subject},
         {"payload_b64", sim::Base64Encode(o.payload.substr(0, 4096))}});
  }
  {
    auto& rm = result["reference_model"];
    rm["checked"] = obs.state_checked;
    rm["note"] = obs.state_note;
    rm["mismatches"] = obs.state_mismatches.size();
    rm["tables"] = nlohmann::json::array();
    for (const auto& t : obs.state_tables) {
      nlohmann::json first = nlohmann::json::array();
      for (const auto& diff : t.first_differences) {
        first.push_back({{"what", diff.what},
                         {"key", diff.key},
                         {"expected", diff.expected},
                         {"observed", diff.observed}});
      }
      rm["tables"].push_back({{"table", t.table},
                              {"expected_rows", t.expected_rows},
                              {"observed_rows", t.observed_rows},
                              {"rows_compared", t.compared},
                              {"mismatches", t.mismatches},
                              {"first_differences", first}});
    }
  }
  result["state_digest"] = digest;
  RedactJsonStrings(result);  // result.json, the report, the summary and JUnit show no secret
  outcome.error = RedactText(outcome.error);
  outcome.result = result;
  WriteJsonFile(dir + "/result.json", result);
  Status rs = WriteRunReport(result, dir + "/report.html");
  if (!rs.ok()) {
    LOG(kWarn, "harness") << "report.html: " << rs.message();
  }

  env.reset();
  timeline.Release();
  timeline.Join();
  TidyRunDir(dir);
  return outcome;
}

}  // namespace ingestlab
