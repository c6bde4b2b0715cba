// `ingestlab replay` and `ingestlab shrink`.
#include "harness/replay_command.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "harness/infra/system_process.h"
#include "harness/replay.h"
#include "harness/replay_driver.h"
#include "harness/run_dir.h"
#include "harness/run_output.h"
#include "harness/runner.h"
#include "harness/scenario.h"
#include "system/json_depth.h"

namespace ingestlab {
namespace fs = std::filesystem;
namespace {

// ingestlab's result.json nests a few levels; a deeper one did not come from it.
constexpr int kMaxResultDepth = 64;

std::string ReadFile(const std::string& path);

constexpr const char* kReplayUsage =
    "usage: ingestlab replay RUN_DIR|LOG [--speed X|max] [--until T] [--only SERVICE]\n"
    "                        [--out DIR] [--scenario FILE] [--ingestd PATH] [--quiet]";

constexpr const char* kReplayDescription =
    "Re-sends the exact bytes recorded in a run's event log (same subjects, topics, keys and\n"
    "headers) and its fault timeline into a fresh environment with the same topology, runs the\n"
    "same assertions, and says whether the outcome matches the original run: the same verdict\n"
    "for every assertion and the same final state digest. A log cut off by a killed run replays\n"
    "up to its last complete entry.";

constexpr const char* kReplayFooter =
    "With --until or --only the final state is not expected to match, so only verdicts are\n"
    "compared. Exit status: 0 the outcome matches (with no original result.json: every\n"
    "assertion held), 1 it differs, 2 bad usage or an unreadable log.";

constexpr const char* kShrinkUsage =
    "usage: ingestlab shrink RUN_DIR [--assertion NAME] [--max-runs N] [--speed X|max]\n"
    "                        [--out DIR] [--ingestd PATH] [--quiet]";

constexpr const char* kShrinkDescription =
    "Cuts a failing run's event log down by delta debugging over its messages and faults:\n"
    "replays subsets and keeps those that still fail the same assertion (and nothing that\n"
    "held in the original run), until no chunk can be removed or the run budget is spent. The "
    "smallest failing replay is written\n"
    "as a run directory of its own (events.log, result.json, report.html), ready for\n"
    "`ingestlab replay`.";

constexpr const char* kShrinkFooter =
    "Exit status: 0 a failing log was written (smaller, unless nothing could be removed),\n"
    "1 the failure does not reproduce on replay, 2 bad usage.";

extern "C" void OnReplaySignal(int) {
  if (AbortRequested()) _exit(130);
  RequestAbort();
}

void InstallSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnReplaySignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool ParseSpeed(const std::string& text, double* out) {
  if (text == "max") {
    *out = 0;
    return true;
  }
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v > 0) || v > 1000) return false;
  *out = v;
  return true;
}

// A run directory or a log file → the log, and what sits beside it.
struct RecordedRun {
  std::string log_path;
  std::string dir;  // the run directory, "" for a bare log
  std::optional<nlohmann::json> result;
  std::string scenario_file;  // dir/scenario.yaml when present
};

Result<RecordedRun> Locate(const std::string& input) {
  RecordedRun run;
  std::error_code ec;
  if (fs::is_directory(input, ec)) {
    run.dir = input;
    for (const char* name : {"events.log", "events.log.gz"}) {
      if (fs::exists(fs::path(input) / name, ec)) {
        run.log_path = (fs::path(input) / name).string();
        break;
      }
    }
    if (run.log_path.empty())
      return Status::NotFound(input + " has no events.log: not a run directory");
  } else if (fs::exists(input, ec)) {
    run.log_path = input;
    const std::string name = fs::path(input).filename().string();
    if (name.rfind("events.log", 0) == 0) run.dir = fs::path(input).parent_path().string();
    if (run.dir.empty() && name.rfind("events.log", 0) == 0) run.dir = ".";
  } else {
    return Status::NotFound(input + ": no such file or directory");
  }
  if (!run.dir.empty()) {
    const fs::path result = fs::path(run.dir) / "result.json";
    if (fs::exists(result, ec)) {
      const std::string text = ReadFile(result.string());
      // A result.json may come from anywhere; comparing and printing walk it recursively, so
      // one nested far deeper than ingestlab writes (a few levels) is refused before parsing.
      if (JsonNestedDeeperThan(text, kMaxResultDepth)) {
        return Status::InvalidArgument(result.string() +
                                       ": not a result.json: nested deeper than " +
                                       std::to_string(kMaxResultDepth) + " levels");
      }
      try {
        run.result = nlohmann::json::parse(text);
      } catch (const nlohmann::json::exception& e) {
        return Status::Parse(result.string() + ": " + e.what());
      }
    }
    const fs::path scenario = fs::path(run.dir) / "scenario.yaml";
    if (fs::exists(scenario, ec)) run.scenario_file = scenario.string();
  }
  return run;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string StripSlash(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// Options shared by replay and shrink.
struct CommonArgs {
  harness::ReplayOptions replay;
  std::string out;
  std::string scenario_file;
  bool quiet = false;
};

// The shared options as given; ApplyCommon checks and applies them.
struct CommonFlags {
  std::optional<std::string> speed, ingestd;
};

// The options replay and shrink share, described for `command`'s help.
void AddCommonOptions(CLI::App& app, const std::string& command, CommonArgs* a,
                      CommonFlags* flags) {
  const bool replay = command == "replay";
  SetUsageLine(app, replay ? kReplayUsage : kShrinkUsage);
  app.footer(replay ? kReplayFooter : kShrinkFooter);
  app.get_formatter()->column_width(20);
  app.set_help_flag("-h,--help", "this text");
  // As before CLI11: a repeated option takes its last value.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--speed", flags->speed,
                 replay ? "time scale: 2 = twice as fast; max = back to back, keeping fault\n"
                          "windows [1]"
                        : "replay time scale [max]")
      ->type_name("X|max");
  app.add_option("--out", a->out,
                 replay ? "the replay's run directory [RUN_DIR-replay]; replaced only if it is\n"
                          "empty or a run directory (holds .ingestlab-run, result.json or\n"
                          "events.log), else refused with exit status 2"
                        : "where the shrunk run goes [RUN_DIR-shrunk]; attempts go to DIR.tries/\n"
                          "(each replaced only if empty or a run directory, else exit 2)")
      ->type_name("DIR")
      ->check(NonEmpty("needs a directory"));
  app.add_option("--ingestd", flags->ingestd,
                 replay ? "the ingestd binary to test (e.g. a build with a fix) [the built one]"
                        : "the ingestd binary to test [the built one]")
      ->type_name("PATH")
      ->check(NonEmpty("needs a path"));
  app.add_flag("-q,--quiet", a->quiet, "no progress lines");
}

// Checks and applies the shared options; the exit status when they are bad (printed).
std::optional<int> ApplyCommon(const char* command, const CommonFlags& flags, CommonArgs* a) {
  if (flags.speed && !ParseSpeed(*flags.speed, &a->replay.speed)) {
    return UsageError(command, "--speed needs a number in (0, 1000] or 'max'");
  }
  if (flags.ingestd) {
    const std::string& v = *flags.ingestd;
    std::error_code ec;
    if (!fs::exists(v, ec) || access(v.c_str(), X_OK) != 0) {
      std::fprintf(stderr, "ingestlab %s: --ingestd %s: not an executable file\n", command,
                   v.c_str());
      return kExitUsage;
    }
    setenv("INGESTLAB_INGESTD", fs::absolute(v).c_str(), 1);
  }
  return std::nullopt;
}

// "ingestlab COMMAND: <status message>" on stderr, and exit status 2: a run directory, log or
// scenario that cannot be used.
int Refuse(const char* command, const Status& status) {
  std::fprintf(stderr, "ingestlab %s: %s\n", command, status.message().c_str());
  return 2;
}

// The event log at log_path. The scenario name of its header becomes part of paths (the default
// replay directory, the replay's run): it must be a plain name. An empty one means "not
// recorded".
Result<sim::EventLog> ReadCheckedLog(const std::string& log_path) {
  auto log = sim::ReadEventLog(log_path);
  if (!log.ok() || log->header.scenario.empty()) return log;
  INGEST_RETURN_IF_ERROR(
      ValidateScenarioName(log->header.scenario).Annotate(log_path + ": header"));
  return log;
}

struct ReplayRun {
  RunOutcome outcome;
  harness::ReplayProgram program;
};

// Builds and runs one replay of `log` into run_dir.
Result<ReplayRun> ReplayOnce(const sim::EventLog& log, const std::string& scenario_text,
                             const harness::ReplayOptions& options,
                             const harness::ReplaySubset& subset, const std::string& run_dir,
                             const std::string& source, bool quiet) {
  auto program = harness::BuildReplayProgram(log, scenario_text, options, subset);
  if (!program.ok()) return program.status();
  ReplayRun run;
  run.program = std::move(program.value());
  RunOptions o;
  o.run_dir = run_dir;
  o.progress = quiet ? nullptr : stderr;
  o.progress_is_tty = !quiet && isatty(STDERR_FILENO) != 0;
  o.command = "ingestlab replay " + source;
  // The payloads carry the original's event times: the replay's log keeps its origin.
  if (log.header.epoch_ms > 0) o.epoch_ms = log.header.epoch_ms;
  o.result_extra["replay_of"] = {
      {"source", source},
      {"speed", options.speed <= 0 ? nlohmann::json("max") : nlohmann::json(options.speed)},
      {"until_ms", options.until_ms},
      {"only", options.only_service},
      {"publishes", run.program.publishes.size()},
      {"faults", run.program.faults},
      {"partial", run.program.partial}};
  const std::vector<TimedPublish> plan = run.program.publishes;
  o.make_load = [&log, plan](const LoadContext& context) -> Result<std::unique_ptr<LoadSource>> {
    auto d = ReplayDriver::Create(log, plan, context);
    if (!d.ok()) return d.status();
    return std::unique_ptr<LoadSource>(std::move(d.value()));
  };
  run.outcome = RunScenario(run.program.scenario, o);
  return run;
}

}  // namespace

int RunReplayCommand(int argc, char** argv) {
  CommonArgs a;
  CommonFlags flags;
  std::vector<std::string> inputs;
  std::optional<std::string> until;
  CLI::App app{kReplayDescription, "ingestlab replay"};
  app.add_option("RUN_DIR", inputs,
                 "a run directory (events.log, result.json) or an event log file");
  AddCommonOptions(app, "replay", &a, &flags);
  app.add_option("--until", until, "replay only what happened in the first T (e.g. 20s)")
      ->type_name("T");
  app.add_option("--only", a.replay.only_service,
                 "replay only this service's messages (faults are kept)")
      ->type_name("SERVICE")
      ->check(NonEmpty("needs a service name"));
  app.add_option("--scenario", a.scenario_file,
                 "take topology and assertions from FILE instead of the log's header")
      ->type_name("FILE")
      ->check(NonEmpty("needs a file"));
  if (auto exit_code = ParseCommandLine(app, "replay", argc, argv)) return *exit_code;
  if (auto exit_code = ApplyCommon("replay", flags, &a)) return *exit_code;
  if (until) {
    auto d = ParseDurationSeconds(*until);
    if (!d.ok()) return UsageError("replay", "--until needs a duration such as 20s");
    a.replay.until_ms = static_cast<int64_t>(*d * 1000);
  }
  if (inputs.size() > 1) {
    return UsageError("replay", "one run directory or log at a time (got '" + inputs[1] + "' too)");
  }
  if (inputs.empty()) return UsageError("replay", "no run directory or event log given");
  const std::string input = inputs[0];
  auto located = Locate(StripSlash(input));
  if (!located.ok()) return Refuse("replay", located.status());
  auto log = ReadCheckedLog(located->log_path);
  if (!log.ok()) return Refuse("replay", log.status());
  std::string scenario_text;
  if (!a.scenario_file.empty()) {
    auto s = LoadScenarioFile(a.scenario_file);
    if (!s.ok()) return Refuse("replay", s.status());
    scenario_text = s->text;
  } else if (log->header.scenario_yaml.empty() && !located->scenario_file.empty()) {
    scenario_text = ReadFile(located->scenario_file);
  }
  if (log->truncated_tail) {
    std::fprintf(stderr,
                 "ingestlab replay: %s ends in a cut-off line (a run killed mid-write): "
                 "replaying its %zu complete publish entries\n",
                 located->log_path.c_str(), log->publishes.size());
  }
  const std::string source = StripSlash(input);
  const std::string run_dir =
      !a.out.empty() ? StripSlash(a.out)
      : !located->dir.empty()
          ? StripSlash(located->dir) + "-replay"
          : (fs::path(located->log_path).parent_path() /
             ((log->header.scenario.empty() ? std::string("log") : log->header.scenario) + "-" +
              std::to_string(log->header.seed) + "-replay"))
                .string();
  if (fs::absolute(run_dir) == fs::absolute(located->dir.empty() ? "/nonexistent" : located->dir)) {
    return UsageError("replay", "--out must not be the recorded run's own directory");
  }
  if (Status replaceable = CheckReplaceable(run_dir); !replaceable.ok()) {
    return Refuse("replay", replaceable);
  }
  InstallSignals();
  std::fprintf(stderr, "ingestlab replay: %s → %s (ingestd %s)\n", located->log_path.c_str(),
               run_dir.c_str(), FindIngestdBinary().c_str());
  auto replay = ReplayOnce(*log, scenario_text, a.replay, {}, run_dir, source, a.quiet);
  if (!replay.ok()) return Refuse("replay", replay.status());
  const RunOutcome& r = replay->outcome;
  const bool color = isatty(STDOUT_FILENO) != 0;
  std::fputs(FormatRunSummary(r, color).c_str(), stdout);
  if (r.verdict == "error") {
    std::printf("\n  replay could not be carried out: %s\n", r.error.c_str());
    return 1;
  }
  if (!located->result) {
    std::printf("\n  no original result.json to compare with: replay %s\n", r.verdict.c_str());
    return r.verdict == "pass" ? 0 : 1;
  }
  const nlohmann::json& original = *located->result;
  const bool compare_digest =
      !replay->program.partial && !log->truncated_tail && original.value("verdict", "") != "error";
  const auto diffs = harness::CompareResults(original, r.result, compare_digest);
  if (diffs.empty()) {
    const auto failed = harness::FailedAssertions(r.result);
    std::printf("\n  replay matches the original: verdict %s", r.verdict.c_str());
    if (!failed.empty()) {
      std::printf(", failing the same assertion%s:", failed.size() == 1 ? "" : "s");
      for (size_t i = 0; i < failed.size(); ++i)
        std::printf("%s '%s'", i ? "," : "", failed[i].c_str());
    }
    std::printf("%s\n", compare_digest ? "; same state digest" : " (state digest not compared)");
    return 0;
  }
  std::printf("\n  replay differs from the original:\n");
  for (const auto& d : diffs) std::printf("    - %s\n", d.c_str());
  return 1;
}

int RunShrinkCommand(int argc, char** argv) {
  CommonArgs a;
  a.replay.speed = 0;  // max
  CommonFlags flags;
  std::vector<std::string> inputs;
  std::string assertion;
  std::optional<std::string> max_runs_given;
  CLI::App app{kShrinkDescription, "ingestlab shrink"};
  app.add_option("RUN_DIR", inputs, "the failed run's directory");
  app.add_option("--assertion", assertion, "the failure to keep [the run's first failed assertion]")
      ->type_name("NAME")
      ->check(NonEmpty("needs an assertion name"));
  app.add_option("--max-runs", max_runs_given, "replays to spend, counting the first full one [30]")
      ->type_name("N");
  AddCommonOptions(app, "shrink", &a, &flags);
  if (auto exit_code = ParseCommandLine(app, "shrink", argc, argv)) return *exit_code;
  if (auto exit_code = ApplyCommon("shrink", flags, &a)) return *exit_code;
  int max_runs = 30;
  if (max_runs_given) {
    const std::string& v = *max_runs_given;
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < 2 || n > 10000)
      return UsageError("shrink", "--max-runs must be an integer from 2 to 10000");
    max_runs = static_cast<int>(n);
  }
  if (inputs.size() > 1) {
    return UsageError("shrink", "one run directory at a time (got '" + inputs[1] + "' too)");
  }
  if (inputs.empty()) return UsageError("shrink", "no run directory given");
  std::string input = inputs[0];
  input = StripSlash(input);
  auto located = Locate(input);
  if (!located.ok()) return Refuse("shrink", located.status());
  if (!located->result) {
    std::fprintf(stderr, "ingestlab shrink: %s has no result.json: which failure to keep?\n",
                 input.c_str());
    return 2;
  }
  const auto failed = harness::FailedAssertions(*located->result);
  if (assertion.empty()) {
    if (failed.empty()) {
      std::fprintf(stderr, "ingestlab shrink: every assertion of %s held: nothing to shrink\n",
                   input.c_str());
      return 2;
    }
    assertion = failed.front();
  } else if (std::find(failed.begin(), failed.end(), assertion) == failed.end()) {
    std::fprintf(stderr, "ingestlab shrink: assertion '%s' did not fail in %s\n", assertion.c_str(),
                 input.c_str());
    return 2;
  }
  auto log = ReadCheckedLog(located->log_path);
  if (!log.ok()) return Refuse("shrink", log.status());
  std::string scenario_text;
  if (log->header.scenario_yaml.empty() && !located->scenario_file.empty())
    scenario_text = ReadFile(located->scenario_file);
  const size_t publishes = log->publishes.size();
  const size_t faults = harness::FaultUnits(*log).size();
  const std::vector<std::vector<size_t>> groups = harness::PublishGroups(*log);
  const std::string out = a.out.empty() ? input + "-shrunk" : StripSlash(a.out);
  const std::string tries = out + ".tries";
  if (fs::absolute(out) == fs::absolute(input) || fs::absolute(tries) == fs::absolute(input)) {
    return UsageError("shrink", "--out must not be the recorded run's own directory");
  }
  // Both are replaced: refuse before any replay what ingestlab did not make.
  for (const std::string& dir : {out, tries}) {
    if (Status replaceable = CheckReplaceable(dir); !replaceable.ok()) {
      return Refuse("shrink", replaceable);
    }
  }
  std::error_code ec;
  if (Status prepared = PrepareRunDirectory(tries, "shrink attempts"); !prepared.ok()) {
    return Refuse("shrink", prepared);
  }
  InstallSignals();
  std::fprintf(stderr,
               "ingestlab shrink: %zu messages (%zu customers or events) and %zu faults of %s, "
               "keeping the failure of '%s', at most %d replays\n",
               publishes, groups.size(), faults, input.c_str(), assertion.c_str(), max_runs);

  int runs = 0;
  std::string best_dir;
  bool infrastructure_error = false;
  auto still_fails = [&](const std::vector<size_t>& units) -> bool {
    if (AbortRequested()) return false;
    harness::ReplaySubset subset;
    subset.publishes.emplace();
    subset.faults.emplace();
    for (size_t u : units) {
      if (u < groups.size()) {
        subset.publishes->insert(subset.publishes->end(), groups[u].begin(), groups[u].end());
      } else {
        subset.faults->push_back(u - groups.size());
      }
    }
    std::sort(subset.publishes->begin(), subset.publishes->end());
    ++runs;
    char name[32];
    std::snprintf(name, sizeof name, "try-%03d", runs);
    const std::string dir = tries + "/" + name;
    auto r = ReplayOnce(*log, scenario_text, a.replay, subset, dir, input, true);
    if (!r.ok()) {
      std::fprintf(stderr, "ingestlab shrink: %s\n", r.status().message().c_str());
      infrastructure_error = true;
      return false;
    }
    // The same failure: the assertion still fails, and nothing that held originally fails (a
    // subset that drops an event's dependency fails differently, e.g. with a dead letter).
    const auto now_failed = harness::FailedAssertions(r->outcome.result);
    bool fails = r->outcome.verdict == "fail" &&
                 std::find(now_failed.begin(), now_failed.end(), assertion) != now_failed.end();
    std::string new_failure;
    for (const auto& failed_now : now_failed) {
      if (std::find(failed.begin(), failed.end(), failed_now) == failed.end()) {
        fails = false;
        new_failure = failed_now;
        break;
      }
    }
    if (!a.quiet) {
      std::fprintf(stderr, "  replay %2d/%d: %5zu messages, %2zu faults → %s%s\n", runs, max_runs,
                   subset.publishes->size(), subset.faults->size(),
                   fails ? "still fails" : r->outcome.verdict.c_str(),
                   r->outcome.verdict == "error" ? (" (" + r->outcome.error + ")").c_str()
                   : !new_failure.empty()        ? (", but also '" + new_failure + "'").c_str()
                                                 : "");
    }
    if (fails) {
      if (!best_dir.empty()) fs::remove_all(best_dir, ec);
      best_dir = dir;
    } else {
      fs::remove_all(dir, ec);
    }
    return fails;
  };

  std::vector<size_t> all(groups.size() + faults);
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  if (!still_fails(all)) {
    std::printf("  the failure of '%s' does not reproduce on replay%s; nothing shrunk\n",
                assertion.c_str(), infrastructure_error ? " (the replay could not run)" : "");
    return 1;
  }
  const std::vector<size_t> kept = harness::Ddmin(all.size(), still_fails, max_runs - 1);
  size_t kept_publishes = 0, kept_faults = 0;
  for (size_t u : kept) {
    if (u < groups.size()) {
      kept_publishes += groups[u].size();
    } else {
      ++kept_faults;
    }
  }
  // Checked again: the directory may have changed during the replays.
  if (Status replaceable = CheckReplaceable(out); !replaceable.ok()) {
    std::fprintf(stderr, "ingestlab shrink: %s; the smallest failing run stays in %s\n",
                 replaceable.message().c_str(), best_dir.c_str());
    return 2;
  }
  fs::remove_all(out, ec);
  fs::rename(best_dir, out, ec);
  if (ec) {
    std::fprintf(stderr, "ingestlab shrink: cannot move %s to %s: %s\n", best_dir.c_str(),
                 out.c_str(), ec.message().c_str());
    return 1;
  }
  fs::remove_all(tries, ec);
  std::printf("  shrunk %zu messages + %zu faults to %zu + %zu in %d replays; still fails '%s'\n",
              publishes, faults, kept_publishes, kept_faults, runs, assertion.c_str());
  std::printf("  smallest failing run: %s (replay it: ingestlab replay %s)\n", out.c_str(),
              out.c_str());
  return 0;
}

}  // namespace ingestlab
