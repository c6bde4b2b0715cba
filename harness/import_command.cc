// `ingestlab import`: see import_command.h.
#include "harness/import_command.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "common/cli.h"
#include "harness/log_import.h"
#include "harness/run_output.h"
#include "harness/scenario.h"

namespace ingestlab {
namespace {

using harness::ImportProgress;

constexpr const char* kImportHelp =
    R"(usage: ingestlab import SOURCE [ARGS...]

Turns real message data into an event log that `ingestlab replay LOG` can re-publish against a
fresh embedded environment. The log's header carries a generated scenario (the topology the
data needs, no services, assertions no_loss and exactly_once) that you may edit.

sources:
  kcat   a `kcat -C -J` dump of Kafka topics (a file or stdin)
  nats   every message of a NATS JetStream stream, read from a live server

`ingestlab import SOURCE --help` for the options of each.
Exit status: 0 imported, 1 the import failed, 2 bad usage.
)";

constexpr const char* kKcatDescription =
    R"(Reads `kcat -C -J` output (one JSON object per message; blank lines are skipped), e.g.
  kcat -C -J -b BROKER -t TOPIC -e > dump.jsonl
and writes an event log with one kafka publish record per message (topic, key, headers and
payload bytes kept; offsets from the message timestamps relative to the first).)";

constexpr const char* kNatsDescription =
    R"(Reads every message of a JetStream stream (through a temporary ephemeral consumer; the stream
and its consumers are not changed) and writes an event log with one jetstream publish record per
message (subject, headers including Nats-Msg-Id, payload bytes; offsets from the stored
timestamps relative to the first).)";

// An import source's command line: its usage line, -h/--help, and a repeated option taking its
// last value (as before CLI11).
void SetUpApp(CLI::App& app, const char* usage) {
  SetUsageLine(app, usage);
  app.get_formatter()->column_width(23);
  app.set_help_flag("-h,--help", "this text");
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

// The options every source has: -o/--out LOG, --scenario NAME (scenario_help says its default)
// and --quiet.
void AddOutOption(CLI::App& app, std::string* log_path) {
  app.add_option("-o,--out", *log_path, "the event log to write (required)")
      ->type_name("LOG")
      ->check(NonEmpty("needs a path"));
}
void AddScenarioOption(CLI::App& app, std::string* scenario_name, const char* scenario_help) {
  app.add_option("--scenario", *scenario_name, scenario_help)
      ->type_name("NAME")
      ->check(NonEmpty("needs a name"));
}
void AddQuietFlag(CLI::App& app, bool* quiet) {
  app.add_flag("--quiet", *quiet, "no progress lines");
}

bool ParseUnsigned(const std::string& text, uint64_t* out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return !text.empty() && ec == std::errc() && p == text.data() + text.size();
}

ImportProgress StderrProgress(bool quiet) {
  if (quiet) return nullptr;
  return [](uint64_t done, uint64_t total) {
    if (total > 0) {
      std::fprintf(stderr, "import: %llu of %llu messages\n", static_cast<unsigned long long>(done),
                   static_cast<unsigned long long>(total));
    } else {
      std::fprintf(stderr, "import: %llu messages\n", static_cast<unsigned long long>(done));
    }
  };
}

int RunKcat(int argc, char** argv) {
  const std::string command = "import kcat";
  std::vector<std::string> inputs;
  std::string log_path;
  std::optional<std::string> nats_nodes;
  harness::KcatImportOptions options;
  bool quiet = false;
  CLI::App app{kKcatDescription, "ingestlab import kcat"};
  SetUpApp(app, "usage: ingestlab import kcat FILE|- -o LOG [options]");
  app.add_option("FILE", inputs, "the kcat dump, - for stdin");
  AddOutOption(app, &log_path);
  AddScenarioOption(app, &options.scenario_name,
                    "scenario name in the log (default import-<topic of the first message>)");
  app.add_option("--nats-nodes", nats_nodes,
                 "nats nodes of the generated topology: 1 or 3 (default 1)")
      ->type_name("N");
  app.add_flag("--skip-bad", options.skip_bad,
               "skip malformed lines (counted and reported) instead of failing");
  AddQuietFlag(app, &quiet);
  if (auto exit_code = ParseCommandLine(app, command, argc, argv)) return *exit_code;
  if (nats_nodes) {
    if (*nats_nodes != "1" && *nats_nodes != "3") {
      return UsageError(command, "--nats-nodes must be 1 or 3");
    }
    options.nats_nodes = *nats_nodes == "1" ? 1 : 3;
  }
  if (inputs.size() > 1) {
    return UsageError(command, "one input only, got '" + inputs[0] + "' and '" + inputs[1] + "'");
  }
  const std::string input = inputs.empty() ? "" : inputs[0];
  if (input.empty()) return UsageError(command, "missing FILE (or - for stdin)");
  if (log_path.empty()) return UsageError(command, "missing -o LOG");
  options.source = input;
  options.progress = StderrProgress(quiet);

  Result<harness::ImportSummary> summary = Status::Internal("not run");
  if (input == "-") {
    summary = harness::ImportKcat(std::cin, log_path, options);
  } else {
    std::ifstream in(input, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "ingestlab import kcat: cannot open %s: %s\n", input.c_str(),
                   std::strerror(errno));
      return 1;
    }
    summary = harness::ImportKcat(in, log_path, options);
  }
  if (!summary.ok()) {
    std::fprintf(stderr, "ingestlab import kcat: %s: %s\n", input == "-" ? "stdin" : input.c_str(),
                 summary.status().message().c_str());
    return 1;
  }
  if (summary->skipped_bad > 0) {
    std::fprintf(stderr, "skipped %llu bad line(s); first: %s\n",
                 static_cast<unsigned long long>(summary->skipped_bad), summary->first_bad.c_str());
  }
  std::printf("imported %llu messages from %s into %s (scenario %s)\n",
              static_cast<unsigned long long>(summary->imported),
              input == "-" ? "stdin" : input.c_str(), log_path.c_str(), summary->scenario.c_str());
  return 0;
}

int RunNats(int argc, char** argv) {
  const std::string command = "import nats";
  harness::JetStreamImportOptions options;
  std::string log_path;
  std::optional<std::string> from_seq, max, timeout;
  bool quiet = false;
  CLI::App app{kNatsDescription, "ingestlab import nats"};
  SetUpApp(app, "usage: ingestlab import nats --url URL --stream NAME -o LOG [options]");
  app.add_option("--url", options.url, "NATS server URL(s), comma-separated (required)")
      ->type_name("URL")
      ->check(NonEmpty("needs a NATS URL"));
  app.add_option("--stream", options.stream, "the stream to read (required)")
      ->type_name("NAME")
      ->check(NonEmpty("needs a stream name"));
  AddOutOption(app, &log_path);
  app.add_option("--subject", options.subject_filter,
                 "only messages on this subject (wildcards allowed)")
      ->type_name("FILTER")
      ->check(NonEmpty("needs a subject filter"));
  app.add_option("--from-seq", from_seq, "start at stream sequence N (default: the first message)")
      ->type_name("N");
  app.add_option("--max", max, "at most N messages")->type_name("N");
  app.add_option("--timeout", timeout, "give up after D, connecting included (default 10s)")
      ->type_name("D");
  AddScenarioOption(app, &options.scenario_name,
                    "scenario name in the log (default import-<stream>)");
  app.add_option("--credentials", options.security.credentials,
                 "NATS credentials file: a .creds file, or key = value lines (user, password, "
                 "token, nkey-seed, tls-ca, tls-cert, tls-key, tls) as `ingestlab up --secure` "
                 "writes it")
      ->type_name("FILE");
  AddQuietFlag(app, &quiet);
  if (auto exit_code = ParseCommandLine(app, command, argc, argv)) return *exit_code;
  if (!options.security.credentials.empty()) {
    NatsSecurity probe;
    if (Status st = ReadNatsCredentialsFile(options.security.credentials, &probe); !st.ok()) {
      return UsageError(command, st.message());
    }
  }
  if (from_seq && (!ParseUnsigned(*from_seq, &options.from_seq) || options.from_seq == 0)) {
    return UsageError(command, "--from-seq needs a stream sequence >= 1");
  }
  if (max && (!ParseUnsigned(*max, &options.max_messages) || options.max_messages == 0)) {
    return UsageError(command, "--max needs a count >= 1");
  }
  if (timeout) {
    auto seconds = ParseDurationSeconds(*timeout);
    if (!seconds.ok() || *seconds <= 0) {
      return UsageError(command,
                        "--timeout needs a positive duration like 10s, got '" + *timeout + "'");
    }
    options.timeout_ms = static_cast<int64_t>(std::llround(*seconds * 1000));
  }
  if (options.url.empty()) return UsageError(command, "missing --url");
  if (options.stream.empty()) return UsageError(command, "missing --stream");
  if (log_path.empty()) return UsageError(command, "missing -o LOG");
  options.progress = StderrProgress(quiet);
  if (!quiet) {
    std::fprintf(stderr, "import: reading stream %s\n", options.stream.c_str());
  }

  auto summary = harness::ImportJetStream(options, log_path);
  if (!summary.ok()) {
    std::fprintf(stderr, "ingestlab import nats: %s\n", summary.status().message().c_str());
    return 1;
  }
  std::printf("imported %llu messages from stream %s into %s (scenario %s)\n",
              static_cast<unsigned long long>(summary->imported), options.stream.c_str(),
              log_path.c_str(), summary->scenario.c_str());
  return 0;
}

}  // namespace

int RunImportCommand(int argc, char** argv) {
  if (auto done = AnswerHelp(argc, argv, kImportHelp)) return *done;
  const std::string source = argv[1];
  // The source's own arguments start after its name (argv[0] = the source).
  if (source == "kcat") return RunKcat(argc - 1, argv + 1);
  if (source == "nats") return RunNats(argc - 1, argv + 1);
  return UsageError("import", "unknown source '" + source + "' (kcat or nats)");
}

}  // namespace ingestlab
