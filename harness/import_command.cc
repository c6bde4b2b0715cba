// `ingestlab import`: see import_command.h.
#include "harness/import_command.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

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

constexpr const char* kKcatHelp =
    R"(usage: ingestlab import kcat FILE|- -o LOG [options]

Reads `kcat -C -J` output (one JSON object per message; blank lines are skipped), e.g.
  kcat -C -J -b BROKER -t TOPIC -e > dump.jsonl
and writes an event log with one kafka publish record per message (topic, key, headers and
payload bytes kept; offsets from the message timestamps relative to the first).

options:
  -o, --out LOG        the event log to write (required)
  --scenario NAME      scenario name in the log (default import-<topic of the first message>)
  --nats-nodes N       nats nodes of the generated topology: 1 or 3 (default 1)
  --skip-bad           skip malformed lines (counted and reported) instead of failing
  --quiet              no progress lines
  --help               this text
)";

constexpr const char* kNatsHelp =
    R"(usage: ingestlab import nats --url URL --stream NAME -o LOG [options]

Reads every message of a JetStream stream (through a temporary ephemeral consumer; the stream
and its consumers are not changed) and writes an event log with one jetstream publish record per
message (subject, headers including Nats-Msg-Id, payload bytes; offsets from the stored
timestamps relative to the first).

options:
  --url URL            NATS server URL(s), comma-separated (required)
  --stream NAME        the stream to read (required)
  -o, --out LOG        the event log to write (required)
  --subject FILTER     only messages on this subject (wildcards allowed)
  --from-seq N         start at stream sequence N (default: the first message)
  --max N              at most N messages
  --timeout D          give up after D, connecting included (default 10s)
  --scenario NAME      scenario name in the log (default import-<stream>)
  --quiet              no progress lines
  --help               this text
)";

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
  std::string input;
  std::string log_path;
  harness::KcatImportOptions options;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--help" || arg == "-h") {
      std::fputs(kKcatHelp, stdout);
      return 0;
    } else if (arg == "-o" || arg == "--out") {
      if (!value(&log_path) || log_path.empty()) return UsageError(command, arg + " needs a path");
    } else if (arg == "--scenario") {
      if (!value(&options.scenario_name) || options.scenario_name.empty())
        return UsageError(command, "--scenario needs a name");
    } else if (arg == "--nats-nodes") {
      if (!value(&v) || (v != "1" && v != "3")) {
        return UsageError(command, "--nats-nodes must be 1 or 3");
      }
      options.nats_nodes = v == "1" ? 1 : 3;
    } else if (arg == "--skip-bad") {
      options.skip_bad = true;
    } else if (arg == "--quiet") {
      quiet = true;
    } else if (arg != "-" && arg.rfind("-", 0) == 0) {
      return UsageError(command, "unknown option '" + arg + "'");
    } else if (input.empty()) {
      input = arg;
    } else {
      return UsageError(command, "one input only, got '" + input + "' and '" + arg + "'");
    }
  }
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
  std::string log_path;
  harness::JetStreamImportOptions options;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--help" || arg == "-h") {
      std::fputs(kNatsHelp, stdout);
      return 0;
    } else if (arg == "-o" || arg == "--out") {
      if (!value(&log_path) || log_path.empty()) return UsageError(command, arg + " needs a path");
    } else if (arg == "--url") {
      if (!value(&options.url) || options.url.empty())
        return UsageError(command, "--url needs a NATS URL");
    } else if (arg == "--stream") {
      if (!value(&options.stream) || options.stream.empty())
        return UsageError(command, "--stream needs a stream name");
    } else if (arg == "--subject") {
      if (!value(&options.subject_filter) || options.subject_filter.empty())
        return UsageError(command, "--subject needs a subject filter");
    } else if (arg == "--from-seq") {
      if (!value(&v) || !ParseUnsigned(v, &options.from_seq) || options.from_seq == 0)
        return UsageError(command, "--from-seq needs a stream sequence >= 1");
    } else if (arg == "--max") {
      if (!value(&v) || !ParseUnsigned(v, &options.max_messages) || options.max_messages == 0)
        return UsageError(command, "--max needs a count >= 1");
    } else if (arg == "--timeout") {
      if (!value(&v)) return UsageError(command, "--timeout needs a duration like 10s");
      auto seconds = ParseDurationSeconds(v);
      if (!seconds.ok() || *seconds <= 0) {
        return UsageError(command, "--timeout needs a positive duration like 10s, got '" + v + "'");
      }
      options.timeout_ms = static_cast<int64_t>(std::llround(*seconds * 1000));
    } else if (arg == "--scenario") {
      if (!value(&options.scenario_name) || options.scenario_name.empty())
        return UsageError(command, "--scenario needs a name");
    } else if (arg == "--quiet") {
      quiet = true;
    } else {
      return UsageError(command, "unknown argument '" + arg + "'");
    }
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
  if (argc < 2) {
    std::fputs(kImportHelp, stderr);
    return 2;
  }
  const std::string source = argv[1];
  if (source == "--help" || source == "-h" || source == "help") {
    std::fputs(kImportHelp, stdout);
    return 0;
  }
  // The source's own arguments start after its name (argv[0] = the source).
  if (source == "kcat") return RunKcat(argc - 1, argv + 1);
  if (source == "nats") return RunNats(argc - 1, argv + 1);
  return UsageError("import", "unknown source '" + source + "' (kcat or nats)");
}

}  // namespace ingestlab
