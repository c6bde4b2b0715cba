// `ingestlab up` and `ingestlab run`.
#include "harness/commands.h"

#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "common/log.h"
#include "common/redact.h"
#include "harness/context_load.h"
#include "harness/environment.h"
#include "harness/run_dir.h"
#include "harness/run_output.h"
#include "harness/runner.h"
#include "harness/scenario.h"
#include "reports/html_report.h"

namespace ingestlab {
namespace fs = std::filesystem;
namespace {

std::string ShellQuote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of(
                        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,") ==
                        std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

extern "C" void OnRunSignal(int) {
  if (AbortRequested()) {
    // A second Ctrl-C: leave now (children die with us through PDEATHSIG).
    _exit(130);
  }
  RequestAbort();
}

}  // namespace

int RunUpCommand(int argc, char** argv) {
  EnvironmentOptions o;
  std::string dir;
  CLI::App app{
      "Starts real nats-server process(es), an embedded Kafka mock cluster and ingestd, prints one\n"
      "line of JSON when everything is ready:\n"
      "  {\"nats_urls\":[...],\"kafka_bootstrap\":\"h:p,...\",\"db\":\"PATH\",\"http\":\"http://"
      "h:p\",\"dir\":\"DIR\"}\n"
      "(with --store postgres, db is the URL of the PostgreSQL database ingestd writes into;\n"
      "with --secure, nats_urls are tls:// and \"tls_ca\" and \"credentials\" name the CA\n"
      "certificate and the credentials file a client needs; with --context, \"downstream\"\n"
      "has the URLs of the simulated CRM, scheduling and email services and \"context_config\"\n"
      "the file with the context API's bearer token for org-1)\n"
      "and runs until SIGINT/SIGTERM, then tears everything down and exits 0.",
      "ingestlab up"};
  app.set_help_flag("-h,--help", "this text");
  app.add_option("--nats-nodes", o.nats_nodes, "1 or 3 (a JetStream cluster)")
      ->check(CLI::IsMember({1, 3}))
      ->capture_default_str();
  app.add_option("--kafka-brokers", o.kafka_brokers, "mock Kafka brokers, 0 for none")
      ->check(CLI::Range(0, 9))
      ->capture_default_str();
  app.add_option("--ingestd", o.ingestd_count, "ingestd processes sharing the database")
      ->check(CLI::Range(0, 8))
      ->capture_default_str();
  std::string store = "sqlite";
  app.add_option("--store", store,
                 "ingestd's store: sqlite (a file in --dir) or postgres (a PostgreSQL server "
                 "started on a free loopback port, its URL printed as db)")
      ->check(CLI::IsMember({"sqlite", "postgres"}))
      ->capture_default_str();
  bool secure = false;
  app.add_flag("--secure", secure,
               "nats-server with TLS (a CA and certificates generated into DIR/nats/tls) and "
               "authorization (a user with a generated password); ingestd connects with them");
  bool context = false;
  app.add_flag("--context", context,
               "the context API's simulated downstream services (CRM, scheduling, email) and a "
               "bearer token for org-1 (in DIR/context.conf); ingestd uses both");
  app.add_option("--dir", dir,
                 "where the database, logs and NATS data go [a temporary directory, removed at "
                 "exit]")
      ->check([](const std::string& v) { return v.empty() ? "--dir needs a directory" : ""; });
  if (auto exit_code = ParseCommandLine(app, "up", argc, argv)) return *exit_code;
  bool remove_dir = false;
  if (dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "ingestlab-up-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      std::fprintf(stderr, "ingestlab up: cannot create a temporary directory: %s\n",
                   strerror(errno));
      return 1;
    }
    dir = tmpl;
    remove_dir = true;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  o.dir = fs::absolute(dir, ec).string();
  o.proxies = false;  // nothing injects network faults into an `up` environment
  o.postgres_store = store == "postgres";
  o.secure = secure;
  if (context) {
    o.downstreams = true;
    o.api_tokens = MakeContextTokens({kDefaultOrg});
  }

  // Block the stop signals in every thread (children reset their mask), then sigwait for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  int rc = 0;
  {
    auto env = Environment::Start(o);
    if (!env.ok()) {
      std::fprintf(stderr, "ingestlab up: %s\n", env.status().message().c_str());
      rc = 1;
    } else if (Status st = (*env)->WaitForIngestReady(30'000); !st.ok()) {
      std::fprintf(stderr, "ingestlab up: %s\n", st.message().c_str());
      rc = 1;
    } else {
      std::vector<std::string> nats_urls;
      for (const std::string& u : (*env)->nats_url_list()) nats_urls.push_back(RedactUrl(u));
      nlohmann::json ready = {
          {"nats_urls", nats_urls},
          {"kafka_bootstrap", RedactUrlList((*env)->kafka_bootstrap())},
          {"db", (*env)->db_path()},
          {"http", (*env)->instance_count() > 0 ? (*env)->instance(0).http_url() : ""},
          {"dir", o.dir}};
      if (secure) {
        ready["tls_ca"] = (*env)->nats_security().tls_ca;
        ready["credentials"] = (*env)->nats_credentials_path();
      }
      if (const sim::DownstreamSet* downstreams = (*env)->downstreams()) {
        nlohmann::json urls = nlohmann::json::object();
        for (const auto& service : downstreams->services()) urls[service->name()] = service->url();
        ready["downstream"] = urls;
        ready["context_config"] = (*env)->context_config_path();
      }
      std::printf("%s\n", ready.dump().c_str());
      std::fflush(stdout);
      int sig = 0;
      sigwait(&stop_signals, &sig);
      LOG(kInfo, "harness") << "signal " << sig << ": tearing down";
      for (const auto& e : (*env)->StopSystem()) LOG(kInfo, "harness") << e;
    }
  }
  if (remove_dir) fs::remove_all(dir, ec);
  return rc;
}

int RunRunCommand(int argc, char** argv) {
  std::vector<std::string> paths;
  RunOptions options;
  std::string junit, ingestd;
  bool quiet = false;
  bool check_only = false;
  CLI::App app{
      "Runs scenario files, or every *.yaml directly inside a folder (subfolders such as long/ are\n"
      "skipped). Each run writes <out>/<scenario>-<seed>/ with scenario.yaml, events.log and\n"
      "events.acks (gzip-compressed, .gz, for runs of over 200,000 publishes), result.json,\n"
      "ingest.db, logs/ and report.html; a suite also writes <out>/index.html.",
      "ingestlab run"};
  app.set_help_flag("-h,--help", "this text");
  app.footer(
      "A run directory replays with `ingestlab replay DIR` (see ingestlab replay --help).\n"
      "Exit status: 0 every assertion held, 1 some failed or a run could not be carried out,\n"
      "2 bad usage or a bad scenario file.");
  app.add_option("paths", paths, "scenario files or folders");
  // Digits only, and small enough for an int64 (CLI11 would wrap a larger one silently).
  const auto digits = [](const std::string& what) {
    return [what](const std::string& v) -> std::string {
      int64_t parsed = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
      if (v.empty() || v[0] == '-' || ec != std::errc() || end != v.data() + v.size()) {
        return "must be " + what + ", got '" + v + "'";
      }
      return "";
    };
  };
  app.add_option("--seed", options.seed, "override every scenario's seed")
      ->check(digits("a non-negative integer"));
  app.add_option("--epoch", options.epoch_ms,
                 "the origin of the events' times, in unix milliseconds [the wall clock at the "
                 "run start]; with the same scenario and seed, a fixed epoch gives a "
                 "byte-identical events.log")
      ->check(digits("unix milliseconds (>= 0)"));
  app.add_option("--out", options.out_dir,
                 "where run directories go; an existing <scenario>-<seed> is replaced only if it "
                 "is empty or a run directory (holds .ingestlab-run, result.json or events.log), "
                 "else the run refuses to start (exit 2)")
      ->capture_default_str()
      ->check([](const std::string& v) { return v.empty() ? "--out needs a directory" : ""; });
  app.add_option("--junit", junit, "write JUnit XML: one testcase per assertion per scenario")
      ->check([](const std::string& v) { return v.empty() ? "--junit needs a file name" : ""; });
  app.add_option("--ingestd", ingestd,
                 "the ingestd binary to test [$INGESTLAB_INGESTD, else the built one]")
      ->check([](const std::string& v) -> std::string {
        if (v.empty() || access(v.c_str(), X_OK) != 0 || fs::is_directory(v)) {
          return v + ": not an executable file";
        }
        return "";
      });
  std::string store;
  app.add_option("--store", store,
                 "run ingestd on this store whatever the scenarios say: sqlite (a file in the run "
                 "directory) or postgres (a PostgreSQL server the run starts); not for scenarios "
                 "with a system section")
      ->check(CLI::IsMember({"sqlite", "postgres"}));
  app.add_flag("-q,--quiet", quiet, "no progress lines");
  app.add_flag("--check", check_only, "only parse and validate the scenario files, run nothing");
  bool secure = false;
  app.add_flag("--secure", secure,
               "run every scenario with nats-server requiring TLS and a user and password "
               "(generated per run); ingestd, the simulators and the harness's clients use them");
  if (auto exit_code = ParseCommandLine(app, "run", argc, argv)) return *exit_code;
  if (!ingestd.empty()) setenv("INGESTLAB_INGESTD", fs::absolute(ingestd).c_str(), 1);
  if (paths.empty()) return UsageError("run", "no scenario file or folder given");
  auto files = ExpandScenarioPaths(paths);
  if (!files.ok()) {
    std::fprintf(stderr, "ingestlab run: %s\n", files.status().message().c_str());
    return 2;
  }
  // Parse everything first: a typo in the last file should not cost a suite's runtime.
  std::vector<Scenario> scenarios;
  for (const auto& f : *files) {
    auto s = LoadScenarioFile(f);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.status().message().c_str());
      return 2;
    }
    if (s->load) {
      std::fprintf(stderr, "ingestlab run: %s is a load workload; run it with `ingestlab load %s`\n",
                   f.c_str(), f.c_str());
      return 2;
    }
    if (!store.empty()) {
      if (s->system) {
        std::fprintf(stderr, "ingestlab run: %s has a system section: --store is for ingestd\n",
                     f.c_str());
        return 2;
      }
      s->topology.postgres_store = store == "postgres";
    }
    if (secure) s->topology.secure = true;
    scenarios.push_back(std::move(s.value()));
  }
  // Each run replaces <out>/<scenario>-<seed>: refuse up front what is not a run directory.
  for (const auto& s : scenarios) {
    Status ok = ValidateScenarioName(s.name).Annotate(s.path);
    if (ok.ok() && !check_only) {
      ok = CheckReplaceable(options.out_dir + "/" + s.name + "-" +
                            std::to_string(options.seed.value_or(s.seed)));
    }
    if (!ok.ok()) {
      std::fprintf(stderr, "ingestlab run: %s\n", ok.message().c_str());
      return 2;
    }
  }
  if (check_only) {
    for (const auto& s : scenarios) {
      std::printf("%s: ok (%s, %zu services, %zu timeline steps, %zu assertions)\n", s.path.c_str(),
                  FormatDurationSeconds(s.duration_s).c_str(), s.services.size(), s.timeline.size(),
                  s.assertions.size());
    }
    return 0;
  }

  options.progress = quiet ? nullptr : stderr;
  options.progress_is_tty = isatty(STDERR_FILENO) != 0;
  const bool color = isatty(STDOUT_FILENO) != 0;

  struct sigaction sa {};
  sa.sa_handler = OnRunSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<RunOutcome> runs;
  for (const auto& s : scenarios) {
    if (AbortRequested()) break;
    RunOptions o = options;
    // The command that reproduces this one run: its file and its seed.
    o.command = "ingestlab run " + ShellQuote(s.path) + " --seed " +
                std::to_string(options.seed.value_or(s.seed)) +
                (options.epoch_ms ? " --epoch " + std::to_string(*options.epoch_ms) : "") +
                (store.empty() ? "" : " --store " + store);
    RunOutcome r = RunScenario(s, o);
    std::fputs(FormatRunSummary(r, color).c_str(), stdout);
    std::fflush(stdout);
    runs.push_back(std::move(r));
  }

  if (!junit.empty()) {
    std::ofstream out(junit, std::ios::trunc);
    out << FormatJUnit(runs);
    if (!out) std::fprintf(stderr, "ingestlab run: cannot write %s\n", junit.c_str());
  }
  if (runs.size() > 1) {
    std::vector<std::pair<std::string, nlohmann::json>> index;
    for (const auto& r : runs) {
      index.emplace_back(fs::path(r.run_dir).filename().string() + "/report.html", r.result);
    }
    Status st = WriteSuiteIndex(index, options.out_dir + "/index.html");
    if (!st.ok()) std::fprintf(stderr, "ingestlab run: index.html: %s\n", st.message().c_str());
  }
  size_t passed = 0;
  for (const auto& r : runs) passed += r.verdict == "pass" ? 1 : 0;
  std::printf("\n  %zu/%zu scenarios passed%s\n", passed, runs.size(),
              AbortRequested() ? " (interrupted)" : "");
  if (AbortRequested()) return 1;
  return passed == runs.size() ? 0 : 1;
}

}  // namespace ingestlab
