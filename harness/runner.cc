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
#include "harness/context_load.h"
#include "harness/dead_letter_tap.h"
#include "harness/environment.h"
#include "harness/fault_injector.h"
#include "harness/infra/system_process.h"
#include "harness/latency_probe.h"
#include "harness/load_driver.h"
#include "harness/run_dir.h"
#include "harness/run_result.h"
#include "harness/stalls.h"
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
      w.params = step.params;
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
      nlohmann::json e = {{"at_s", applied_at_[i] < 0 ? step.at_s : RoundTo(applied_at_[i])},
                          {"until_s", undone_at_[i] < 0 ? nlohmann::json(nullptr)
                                                        : nlohmann::json(RoundTo(undone_at_[i]))},
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

// The ingestd settings that change what it writes, as the reference model needs them.
ModelOptions ModelOptionsFor(const std::vector<std::pair<std::string, std::string>>& settings) {
  ModelOptions model_options;
  for (const auto& [key, value] : settings) {
    if (key == "auto-create-customers") {
      model_options.auto_create_customers = value != "false" && value != "0" && value != "no";
    } else if (key == "summary-threshold") {
      model_options.summary_threshold =
          static_cast<size_t>(std::strtoull(value.c_str(), nullptr, 10));
    }
  }
  return model_options;
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
  fs::remove(fs::path(dir) / "context.conf", ec);  // the run's API tokens: no use after it
}

// context-reads.jsonl: one line per context read, in the order they were sent.
void WriteContextReads(const std::string& path, const std::vector<ContextRead>& reads) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const ContextRead& r : reads) {
    nlohmann::json j = {{"start_ms", r.start_ms},       {"end_ms", r.end_ms},
                        {"instance", r.instance},       {"customer_id", r.customer_id},
                        {"customer_org", r.customer_org}, {"token_org", r.token_org},
                        {"status", r.status}};
    if (!r.error.empty()) j["error"] = r.error;
    if (r.status == 200) {
      j["org_id"] = r.response_org;
      if (r.has_lifetime_value) j["lifetime_value"] = r.lifetime_value;
      j["partial"] = r.partial;
      if (!r.missing_sources.empty()) j["missing_sources"] = r.missing_sources;
    }
    out << j.dump() << "\n";
  }
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

namespace {

// One run of one scenario, phase by phase (docs/harness.md, "How a run goes"). Each phase
// leaves in the members what the next one needs; a phase that fails returns the reason and the
// run ends with verdict "error" (Fail). Members are declared in the order the phases create
// them, so they are destroyed in reverse: the timeline thread before the environment, as in
// Teardown.
class ScenarioRun {
 public:
  ScenarioRun(const Scenario& scenario, const RunOptions& options);
  ~ScenarioRun() {
    if (load_waiter_.joinable()) load_waiter_.join();
  }

  RunOutcome Execute();

 private:
  // Creates the run directory (replaced only when it is one) and writes scenario.yaml.
  Status PrepareDirectory();
  // Infrastructure: NATS, Kafka, proxies and ingestd × N, waited on; the latency probe when an
  // assertion needs it.
  Status StartInfrastructure();
  // Load: opens events.log, starts the load source and the timeline thread at the same origin.
  Status StartLoad();
  // Drain: samples once a second until load has ended and everything expected has settled,
  // the drain timeout passes, or the run is interrupted.
  void Drain();
  // One sample at t seconds after the load's start; returns the store's counts.
  StoreReader::Counts Sample(double t);
  // Sample's source for a system of the user's own: its state probe and dead-letter tap.
  StoreReader::Counts SampleSystem(double t);
  // Observe for a system of the user's own: what its probe and tap report.
  Status ObserveSystem();
  // When load ends: reads events.log for the acked ids that must settle.
  void NoteExpectedOutcomes();
  bool Settled(const StoreReader::Counts& c);
  // context: the readers of the context API and the breaker watcher.
  Status StartContextReads();
  // Stops the context reads, the probe, the load source and ingestd (SIGTERM: they drain and
  // exit).
  void StopSystem();
  // Check, first half: events.log, the store, the counters and the reference model.
  Status Observe();
  // Check, second half: the assertions and the verdict.
  void Judge();
  // Output: result.json and report.html.
  void Output();
  void Teardown();
  RunOutcome Fail(const std::string& error);
  void WriteResultFiles();

  Clock& clock_ = Clock::System();
  const Scenario& scenario_;
  const RunOptions& options_;
  Scenario s_;  // the scenario with the run's seed
  const SystemSpec system_;  // what it tests: its `system:` section, or ingestd
  RunOutcome outcome_;
  std::string dir_;
  int64_t run_start_mono_;
  nlohmann::json result_;
  Progress progress_;

  std::unique_ptr<Environment> env_;
  std::unique_ptr<LatencyProbe> probe_;
  std::unique_ptr<DeadLetterTap> tap_;  // a system of the user's own with dead_letters
  std::map<std::string, std::string> api_tokens_;  // context: by organisation
  std::unique_ptr<ContextLoad> context_;           // context: reads while the run goes
  SystemState system_state_;            // its state probe's last answer
  Status system_probe_status_;          // the final probe's outcome

  int64_t start_ms_ = 0, start_mono_ = 0;
  std::unique_ptr<sim::EventLogWriter> log_;
  std::unique_ptr<LoadSource> driver_;
  std::unique_ptr<FaultInjector> injector_;
  std::unique_ptr<TimelineRunner> timeline_;
  std::atomic<bool> load_done_{false};
  Status load_status_;
  std::thread load_waiter_;

  CounterAccumulator counters_;
  RunSeries series_;
  std::unique_ptr<StoreReader> store_;  // read-only, while the run goes
  double last_acked_ = 0, last_settled_ = 0;
  double pending_ = 0;  // queued or undelivered messages reported by the live instances
  std::map<std::string, std::vector<std::pair<double, double>>> instance_applied_;
  int64_t load_stop_ms_ = 0, drained_ms_ = 0, drain_deadline_mono_ = 0;
  size_t expected_dead_ = 0;
  std::unordered_set<std::string> expected_ids_;  // acked ids expected to apply
  bool aborted_ = false;

  std::vector<std::string> exits_;
  LoadTotals totals_;
  std::vector<std::pair<std::string, sim::ServiceRunStats>> service_stats_;
  std::unordered_map<std::string, int64_t> probe_delivered_;
  RunObservations obs_;
  std::string digest_;
  Evaluation ev_;
};

ScenarioRun::ScenarioRun(const Scenario& scenario, const RunOptions& options)
    : scenario_(scenario),
      options_(options),
      s_(scenario),
      system_(scenario.SystemUnderTest()),
      run_start_mono_(Clock::System().NowMonoNanos()),
      progress_(options, scenario.name, scenario.duration_s) {
  outcome_.scenario = scenario.name;
  outcome_.seed = options.seed.value_or(scenario.seed);
  s_.seed = outcome_.seed;
  outcome_.run_dir = !options.run_dir.empty()
                         ? options.run_dir
                         : options.out_dir + "/" + s_.name + "-" + std::to_string(s_.seed);
  dir_ = outcome_.run_dir;
  result_ = BaseResult(s_, s_.seed, options.command, clock_.NowUnixMillis());
  if (s_.system) {
    result_["system"] = {{"command", s_.system->command},
                         {"instances", s_.system->instances},
                         {"counters", !s_.system->metrics_http.empty()}};
    // The report's topology names what ran instead of ingestd.
    result_["topology"].erase("ingestd");
    result_["topology"]["system"] = std::to_string(s_.system->instances) + " × " +
                                    fs::path(s_.system->command.front()).filename().string();
  } else {
    result_["ingestd_binary"] = FindIngestdBinary();
  }
  result_["run_dir"] = outcome_.run_dir;
  for (const auto& [k, v] : options.result_extra.items()) result_[k] = v;
}

RunOutcome ScenarioRun::Execute() {
  if (Status st = PrepareDirectory(); !st.ok()) {
    outcome_.verdict = "error";
    outcome_.error = st.message();
    return outcome_;
  }
  if (Status st = StartInfrastructure(); !st.ok()) return Fail(st.message());
  if (Status st = StartLoad(); !st.ok()) return Fail(st.message());
  Drain();
  StopSystem();
  if (Status st = Observe(); !st.ok()) return Fail(st.message());
  Judge();
  Output();
  Teardown();
  return outcome_;
}

void ScenarioRun::WriteResultFiles() {
  RedactJsonStrings(result_);  // result.json, the report, the summary and JUnit show no secret
  outcome_.result = result_;
  WriteJsonFile(dir_ + "/result.json", result_);
  Status rs = WriteRunReport(result_, dir_ + "/report.html");
  if (!rs.ok()) {
    LOG(kWarn, "harness") << "report.html: " << rs.message();
  }
}

RunOutcome ScenarioRun::Fail(const std::string& error) {
  progress_.Finish();
  outcome_.verdict = "error";
  outcome_.error = RedactText(error);
  result_["verdict"] = "error";
  result_["error"] = error;
  outcome_.duration_s = (clock_.NowMonoNanos() - run_start_mono_) / 1e9;
  result_["duration_s"] = RoundTo(outcome_.duration_s, 1);
  WriteResultFiles();
  return outcome_;
}

Status ScenarioRun::PrepareDirectory() {
  // A scenario name becomes a path only when it is a plain name (run_dir.h).
  Status prepared = options_.run_dir.empty() ? ValidateScenarioName(s_.name) : Status::Ok();
  if (prepared.ok()) prepared = PrepareRunDirectory(dir_);
  if (!prepared.ok()) return prepared;
  std::error_code ec;
  fs::create_directories(dir_ + "/logs", ec);
  if (ec) return Status::Io("cannot create run directory " + dir_ + ": " + ec.message());
  std::ofstream out(dir_ + "/scenario.yaml");
  out << s_.text;
  if (options_.seed && *options_.seed != scenario_.seed) {
    out << "\n# run with --seed " << *options_.seed << " (overrides seed " << scenario_.seed
        << ")\n";
  }
  return Status::Ok();
}

Status ScenarioRun::StartInfrastructure() {
  const auto& t = s_.topology;
  progress_.Message("starting " + std::to_string(t.nats_nodes) + " nats node(s), " +
                    std::to_string(t.kafka_brokers) + " Kafka broker(s), " +
                    std::to_string(t.ingestd_count) + " " + system_.name +
                    (s_.system ? " instance(s): " + system_.command.front() : ""));
  EnvironmentOptions eo;
  eo.nats_nodes = t.nats_nodes;
  eo.kafka_brokers = t.kafka_brokers;
  eo.dir = dir_;
  eo.seed = s_.seed;
  eo.system = system_;
  eo.scenario_dir = s_.scenario_dir;
  eo.postgres_store = t.postgres_store;
  eo.secure = t.secure;
  eo.proxies = std::any_of(s_.timeline.begin(), s_.timeline.end(), [](const TimelineStep& step) {
    return step.action.rfind("net_", 0) == 0;
  });
  if (s_.context) {
    std::vector<std::string> orgs;
    for (const auto& svc : s_.context->services) orgs.push_back(svc.org);
    api_tokens_ = MakeContextTokens(orgs);
    for (const auto& [org, token] : api_tokens_) RegisterSecret(token);
    eo.downstreams = true;
    eo.api_tokens = api_tokens_;
  }
  auto env_or = Environment::Start(eo);
  if (!env_or.ok()) return env_or.status();
  env_ = std::move(env_or.value());
  if (Status ready = env_->WaitForIngestReady(30'000); !ready.ok()) return ready;
  if (!system_.dead_letter_subject.empty()) {
    auto tap =
        DeadLetterTap::Start(env_->nats_urls(), system_.dead_letter_subject, env_->nats_security());
    if (!tap.ok()) return tap.status();
    tap_ = std::move(tap).value();
  }
  // A probe consumer for latency gates relative to the broker's own delivery time.
  if (std::any_of(s_.assertions.begin(), s_.assertions.end(), UsesLatencyProbe)) {
    auto probe_or = LatencyProbe::StartNats(env_->nats_urls(), env_->nats_security());
    if (!probe_or.ok()) return probe_or.status();
    probe_ = std::move(probe_or.value());
  }
  return Status::Ok();
}

Status ScenarioRun::StartLoad() {
  start_ms_ = clock_.NowUnixMillis();
  start_mono_ = clock_.NowMonoNanos();
  sim::EventLogHeader header;
  header.scenario = s_.name;
  header.seed = s_.seed;
  header.ingestlab_version = kVersion;
  header.git_commit = kGitCommit;
  header.topology = TopologyJson(s_.topology);
  // A system of the user's own may name files beside the scenario: a replay needs the folder.
  if (s_.system) header.topology["scenario_dir"] = s_.scenario_dir;
  header.started_at_ms = start_ms_;
  const int64_t epoch_ms = options_.epoch_ms.value_or(start_ms_);
  header.epoch_ms = epoch_ms;
  header.scenario_yaml = s_.text;
  sim::EventLogWriterOptions log_options;
  log_options.ordered = true;
  log_options.compress = ShouldCompressEventLog(s_);
  auto log_or = sim::EventLogWriter::Create(dir_ + "/events.log", header, log_options);
  if (!log_or.ok()) return log_or.status();
  log_ = std::move(log_or.value());
  if (!s_.timeline.empty()) {  // a stream of the log, its watermark at its next step's time
    double first_s = s_.timeline.front().at_s;
    for (const auto& step : s_.timeline) first_s = std::min(first_s, step.at_s);
    log_->RegisterStream("timeline", std::llround(first_s * 1000));
  }
  if (options_.make_load) {
    LoadContext context{&s_,        env_->nats_urls(), env_->kafka_bootstrap(),
                        log_.get(), &clock_,           env_->nats_security()};
    auto source = options_.make_load(context);
    if (!source.ok()) return source.status();
    driver_ = std::move(source.value());
  } else {
    auto driver_or = LoadDriver::Create(s_, env_->nats_urls(), env_->kafka_bootstrap(), log_.get(),
                                        &clock_, env_->nats_security());
    if (!driver_or.ok()) return driver_or.status();
    driver_ = std::make_unique<SimulatedLoad>(std::move(driver_or.value()), epoch_ms);
  }
  injector_ = std::make_unique<FaultInjector>(
      env_.get(), [this](const std::string& service, double rate, int64_t at_ms) {
        driver_->SetRate(service, rate, at_ms);
      });
  progress_.Message("load: " + driver_->Describe() + " for " +
                    FormatDurationSeconds(s_.duration_s));
  if (Status started = driver_->Start(start_ms_); !started.ok()) return started;
  timeline_ = std::make_unique<TimelineRunner>(s_, injector_.get(), log_.get(), start_mono_,
                                               start_ms_, &progress_);
  timeline_->Start();
  if (s_.context) INGEST_RETURN_IF_ERROR(StartContextReads());
  load_waiter_ = std::thread([this] {
    load_status_ = driver_->Wait();
    load_done_ = true;
  });
  return Status::Ok();
}

StoreReader::Counts ScenarioRun::SampleSystem(double t) {
  StoreReader::Counts c;
  auto state = env_->ProbeSystemState(1000);
  if (state.ok()) {  // a paused or restarting instance may not answer: keep the last answer
    system_state_ = std::move(state).value();
    // Per instance, what it applied so far (with metrics, Sample takes its counter instead).
    for (const auto& [name, ids] : system_state_.ids_by_instance) {
      if (system_.metrics_http.empty()) {
        instance_applied_[name].emplace_back(RoundTo(t, 3), static_cast<double>(ids));
      }
    }
  }
  c.events = static_cast<int64_t>(system_state_.events.size());
  for (const auto& [_, e] : system_state_.events) {
    c.last_commit_ms = std::max(c.last_commit_ms, e.committed_ms);
  }
  c.dead_letters = tap_ ? tap_->Count() : 0;
  if (!system_.dead_letter_query.empty()) {
    int64_t total = 0;
    if (ProbeSqliteDeadLetters(env_->db_path(), system_.dead_letter_query, 0, &total).ok()) {
      c.dead_letters = total;
    }
  }
  return c;
}

StoreReader::Counts ScenarioRun::Sample(double t) {
  pending_ = 0;
  for (int i = 0; i < env_->instance_count(); ++i) {
    if (!env_->instance(i).running()) continue;
    auto m = env_->instance(i).FetchMetrics(500);
    if (!m.ok()) continue;
    counters_.Update(env_->instance(i).name(), *m);
    instance_applied_[env_->instance(i).name()].emplace_back(RoundTo(t, 3),
                                                            m->Total("ingest_applied_total"));
    pending_ += m->Total("ingest_queue_messages") + m->Total("ingest_source_lag");
  }
  StoreReader::Counts c;
  if (!env_->has_ingestd_tables()) {
    c = SampleSystem(t);
  } else if (store_) {
    auto cr = store_->ReadCounts();
    if (cr.ok()) c = *cr;
  }
  const LoadTotals totals = driver_->Totals();
  const double settled = static_cast<double>(c.events + c.dead_letters);
  const double dt = series_.t_s.empty() ? t : t - series_.t_s.back();
  const double pub_rate = dt > 0 ? (static_cast<double>(totals.acked) - last_acked_) / dt : 0;
  const double ingest_rate = dt > 0 ? (settled - last_settled_) / dt : 0;
  const double lag = std::max(0.0, static_cast<double>(totals.acked) - settled -
                                       counters_.Total("ingest_duplicates_total"));
  last_acked_ = static_cast<double>(totals.acked);
  last_settled_ = settled;
  series_.t_s.push_back(RoundTo(t, 1));
  series_.publish_rate.push_back(RoundTo(pub_rate, 1));
  series_.ingest_rate.push_back(RoundTo(ingest_rate, 1));
  series_.lag.push_back(lag);
  series_.retries.push_back(counters_.Total("ingest_retries_total"));
  series_.dead_letters.push_back(static_cast<double>(c.dead_letters));
  series_.reconnects.push_back(counters_.Total("reconnects"));
  progress_.Update(t, pub_rate, ingest_rate, lag, load_done_ ? "drain" : "load",
                   timeline_->current_fault());
  return c;
}

void ScenarioRun::NoteExpectedOutcomes() {
  load_stop_ms_ = clock_.NowUnixMillis();
  drain_deadline_mono_ = clock_.NowMonoNanos() + static_cast<int64_t>(s_.drain_timeout_s * 1e9);
  log_->Flush();
  auto parsed = sim::ReadEventLog(log_->path());
  if (parsed.ok()) {
    for (const auto& p : parsed->publishes) {
      if (!p.acked) continue;
      if (p.expected.rfind("dead_letter", 0) == 0) {
        ++expected_dead_;
      } else if (!p.event_id.empty()) {
        expected_ids_.insert(p.event_id);
      }
    }
  }
  progress_.Message("load stopped; waiting for " + std::to_string(expected_ids_.size()) +
                    " events and " + std::to_string(expected_dead_) + " dead letters to settle");
}

bool ScenarioRun::Settled(const StoreReader::Counts& c) {
  // Settled when as many outcomes are recorded as were expected; an event dead-lettered
  // instead of applied (or the reverse) still counts, the assertions judge it.
  if (static_cast<size_t>(c.events + c.dead_letters) < expected_ids_.size() + expected_dead_ ||
      pending_ != 0 || !timeline_->done()) {
    return false;
  }
  if (!env_->has_ingestd_tables()) {
    for (const auto& id : expected_ids_) {
      if (!system_state_.events.count(id)) return false;
    }
    return true;
  }
  if (!store_) return true;
  // Counts can be met by extra rows (publishes that failed but were stored anyway); make sure
  // every acked id is accounted for before calling it drained.
  auto unsettled = store_->CountUnsettled(expected_ids_);
  return !(unsettled.ok() && *unsettled > 0);
}

void ScenarioRun::Drain() {
  if (env_->has_ingestd_tables()) {
    auto store_or = StoreReader::Open(env_->db_path());
    if (store_or.ok()) store_ = std::move(store_or.value());
  }
  int64_t next_sample = start_mono_ + 1'000'000'000;
  for (;;) {
    const int64_t now = clock_.NowMonoNanos();
    if (now < next_sample) {
      clock_.SleepFor(std::chrono::nanoseconds(std::min<int64_t>(next_sample - now, 100'000'000)));
      if (AbortRequested() && !aborted_) {
        aborted_ = true;
        driver_->RequestStop();
        timeline_->Stop();
        progress_.Message("interrupted: stopping load");
      }
      continue;
    }
    next_sample += 1'000'000'000;
    StoreReader::Counts c = Sample((now - start_mono_) / 1e9);
    if (!load_done_) continue;
    if (load_stop_ms_ == 0) NoteExpectedOutcomes();
    if (Settled(c)) {
      drained_ms_ = c.last_commit_ms;
      break;
    }
    if (aborted_) break;
    if (clock_.NowMonoNanos() > drain_deadline_mono_) {
      progress_.Message(
          "lag did not drain within " + FormatDurationSeconds(s_.drain_timeout_s) + ": " +
          std::to_string(c.events) + "/" + std::to_string(expected_ids_.size()) + " events, " +
          std::to_string(c.dead_letters) + "/" + std::to_string(expected_dead_) + " dead letters");
      break;
    }
  }
  load_waiter_.join();
  timeline_->Stop();
  timeline_->WaitIdle();
  progress_.Finish();
}

Status ScenarioRun::StartContextReads() {
  ContextLoadOptions o;
  o.rate = s_.context->rate;
  o.cross_tenant = s_.context->cross_tenant;
  o.seed = s_.seed;
  o.start_unix_ms = start_ms_;
  o.tokens = api_tokens_;
  for (int i = 0; i < env_->instance_count(); ++i) {
    o.instances.emplace_back(env_->instance(i).name(), env_->instance(i).http_url());
  }
  for (const auto& svc : s_.context->services) {
    auto& ids = o.customers[svc.org];
    for (auto& id : ServiceCustomerIds(s_.seed, svc)) ids.push_back(std::move(id));
  }
  for (auto& [org, ids] : o.customers) {  // services of one organisation share their pool
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  }
  std::ostringstream rate;
  rate << o.rate;
  progress_.Message("context reads: " + rate.str() + "/s over " +
                    std::to_string(o.instances.size()) + " instance(s), " +
                    std::to_string(o.customers.size()) + " organisation(s)");
  auto load = ContextLoad::Start(std::move(o));
  if (!load.ok()) return load.status();
  context_ = std::move(load).value();
  return Status::Ok();
}

void ScenarioRun::StopSystem() {
  if (context_) {  // reads end before the instances stop, so none fails for that
    context_->Stop();
    obs_.context_reads = context_->TakeReads();
    obs_.breaker_samples = context_->TakeBreakerSamples();
    context_.reset();
  }
  for (int i = 0; i < env_->instance_count(); ++i) {  // final counters
    auto m = env_->instance(i).FetchMetrics(1000);
    if (m.ok()) counters_.Update(env_->instance(i).name(), *m);
  }
  if (probe_) probe_delivered_ = probe_->Stop();
  probe_.reset();
  // A state probe's last answer: over HTTP while the instances still run; from a database
  // after they stop (their last commits are in it then).
  auto final_probe = [this] {
    auto state = env_->ProbeSystemState(10'000);
    system_probe_status_ = state.ok() ? Status::Ok() : state.status();
    if (state.ok()) system_state_ = std::move(state).value();
  };
  const bool probed = !env_->has_ingestd_tables();
  if (probed && !system_.state_http.empty()) final_probe();
  exits_ = env_->StopSystem();
  if (probed && system_.state_http.empty()) final_probe();
  totals_ = driver_->Totals();
  service_stats_ = driver_->ServiceStats();
  driver_.reset();
  log_->Close();
  store_.reset();
}

Status ScenarioRun::Observe() {
  obs_.start_ms = start_ms_;
  obs_.load_stop_ms = load_stop_ms_ ? load_stop_ms_ : clock_.NowUnixMillis();
  obs_.drained_ms = drained_ms_;
  auto parsed_log = sim::ReadEventLog(dir_ + "/events.log");
  if (!parsed_log.ok()) return Status::Io("events.log: " + parsed_log.status().message());
  obs_.publishes = ToPublishRecords(*parsed_log);
  if (!env_->has_ingestd_tables()) return ObserveSystem();
  auto reader_or = StoreReader::Open(env_->db_path());
  if (!reader_or.ok()) return reader_or.status();
  auto& reader = *reader_or;
  auto applied = reader->ReadApplied();
  if (!applied.ok()) return applied.status();
  obs_.applied = std::move(applied.value());
  auto dead = reader->ReadDeadLetters();
  if (!dead.ok()) return dead.status();
  obs_.dead_letters = std::move(dead.value());
  obs_.faults = timeline_->Windows();
  obs_.ingestd_instances = env_->instance_count();
  obs_.instance_applied = std::move(instance_applied_);
  obs_.probe_delivered_ms = std::move(probe_delivered_);
  obs_.counters.applied = counters_.Total("ingest_applied_total");
  obs_.counters.duplicates = counters_.Total("ingest_duplicates_total");
  obs_.counters.redeliveries = counters_.Total("ingest_redeliveries_total");
  obs_.counters.retries = counters_.Total("ingest_retries_total");
  obs_.counters.reconnects = counters_.Total("reconnects");
  for (const char* reason : {"parse", "schema", "max_deliveries"}) {
    obs_.counters.dead_letters[reason] = counters_.Total(std::string("dead_letters:") + reason);
  }
  obs_.counters.complete = !injector_->ingestd_lost_counters();
  const ModelOptions model_options = ModelOptionsFor(s_.topology.ingestd_settings);
  obs_.auto_create_customers = model_options.auto_create_customers;
  for (const auto& [key, value] : s_.topology.ingestd_settings) {
    if (key == "downstream-timeout-ms") {
      obs_.downstream_timeout_ms = std::strtod(value.c_str(), nullptr);
    }
  }
  Status model = reader->CompareWithReferenceModel(
      obs_.publishes, ExcusedDeadLetterIds(obs_), &obs_.state_mismatches, &obs_.state_note,
      &obs_.state_tables, model_options);
  obs_.state_checked = model.ok();
  if (!model.ok()) obs_.state_note = model.message();
  reader.reset();
  StoreOptions so;
  so.path = env_->db_path();
  if (auto st = Store::Open(so); st.ok()) {
    if (auto d = (*st)->StateDigest(); d.ok()) digest_ = *d;
  }
  return Status::Ok();
}

Status ScenarioRun::ObserveSystem() {
  if (!system_probe_status_.ok()) {
    return system_probe_status_.Annotate("the system's state probe failed at the end of the run");
  }
  obs_.external_system = true;
  obs_.applied.reserve(system_state_.events.size());
  for (const auto& [id, e] : system_state_.events) {
    AppliedRow row;
    row.event_id = id;
    row.committed_at_ms = e.committed_ms;
    obs_.applied.push_back(std::move(row));
    obs_.applied_counts[id] = e.count;
  }
  if (tap_) obs_.dead_letters = tap_->Rows();
  if (!system_.dead_letter_query.empty()) {
    auto rows = ProbeSqliteDeadLetters(env_->db_path(), system_.dead_letter_query,
                                       kMaxTappedDeadLetters);
    if (!rows.ok()) return rows.status().Annotate("the system's dead letters at the end of the run");
    obs_.dead_letters = std::move(rows).value();
  }
  obs_.faults = timeline_->Windows();
  obs_.ingestd_instances = env_->instance_count();
  obs_.instance_applied = std::move(instance_applied_);
  obs_.probe_delivered_ms = std::move(probe_delivered_);
  obs_.counters.complete = false;  // no counters: exactly_once goes by the applied counts
  obs_.state_checked = false;
  obs_.state_note =
      "skipped: the reference model compares ingestd's tables, which the system under test does "
      "not expose";
  if (!system_state_.skipped.empty()) {
    std::string names;
    for (const auto& n : system_state_.skipped) names += (names.empty() ? "" : ", ") + n;
    obs_.state_note += "; not running at the end, so not asked: " + names;
  }
  return Status::Ok();
}

void ScenarioRun::Judge() {
  ev_ = EvaluateAssertions(s_.assertions, obs_);
  ev_.results.push_back(
      CleanShutdownResult(exits_, system_.name, "SIG" + system_.stop_signal));
  std::vector<std::string> problems = timeline_->errors();
  const bool timeline_failed = !problems.empty();
  if (!load_status_.ok()) problems.push_back("load: " + load_status_.message());
  if (aborted_) problems.push_back("interrupted");
  // A reference model that could not run checked nothing: the run proves nothing either way.
  const bool state_judged = obs_.state_checked || obs_.external_system;
  if (!state_judged) problems.push_back("reference model not run: " + obs_.state_note);
  outcome_.evaluation = ev_;
  outcome_.verdict = Verdict(ev_, aborted_, timeline_failed, !load_status_.ok(), state_judged);
  std::ostringstream joined;
  for (size_t i = 0; i < problems.size(); ++i) joined << (i ? "; " : "") << problems[i];
  outcome_.error = joined.str();
  outcome_.duration_s = (clock_.NowMonoNanos() - run_start_mono_) / 1e9;
}

void ScenarioRun::Output() {
  result_["verdict"] = outcome_.verdict;
  result_["error"] = outcome_.error;
  result_["started_at_ms"] = start_ms_;
  result_["duration_s"] = RoundTo(outcome_.duration_s, 1);
  result_["assertions"] = AssertionsJson(ev_);
  const std::vector<double> latencies = EventLatenciesMs(obs_);
  result_["metrics"] = MetricsJson(obs_, latencies, totals_, service_stats_);
  result_["timeline"] = timeline_->Json();
  result_["series"] = SeriesJson(series_, obs_);
  // Stretches with events waiting, nothing settled and no fault to explain it.
  const std::vector<Stall> stalls =
      FindStalls(series_.t_s, series_.ingest_rate, series_.lag, obs_.faults);
  for (const Stall& st : stalls) {
    progress_.Message("stall: nothing committed from " + FormatDurationSeconds(st.from_s) + " to " +
                      FormatDurationSeconds(st.to_s) + " with up to " +
                      std::to_string(static_cast<int64_t>(st.max_lag)) +
                      " events waiting and no fault active");
  }
  result_["stalls"] = StallsJson(stalls);
  result_["latency_histogram"] = LatencyHistogramJson(latencies);
  result_["offending_events"] = OffendingEventsJson(ev_);
  result_["reference_model"] = ReferenceModelJson(obs_);
  if (s_.context) {
    result_["context"] = ContextJson(obs_);
    WriteContextReads(dir_ + "/context-reads.jsonl", obs_.context_reads);
  }
  result_["state_digest"] = digest_;
  outcome_.error = RedactText(outcome_.error);
  WriteResultFiles();
}

void ScenarioRun::Teardown() {
  // The timeline thread is released only after the environment is gone: processes it restarted
  // die with it (PDEATHSIG is per spawning thread).
  env_.reset();
  timeline_->Release();
  timeline_->Join();
  TidyRunDir(dir_);
}

}  // namespace

RunOutcome RunScenario(const Scenario& scenario, const RunOptions& options) {
  return ScenarioRun(scenario, options).Execute();
}

}  // namespace ingestlab
