// ingestlab: the command-line entry point. Dispatches to the subcommands; every one answers
// --help, bad input gets a one-line error and a non-zero exit, never a crash.
#include <cstdio>
#include <exception>
#include <string>

#include "common/cli.h"
#include "common/version.h"
#include "harness/commands.h"
#include "harness/import_command.h"
#include "harness/load_command.h"
#include "harness/replay_command.h"
#include "simulators/simulate_command.h"

#if __has_include("reports/report_command.h")
#include "reports/report_command.h"
#define INGESTLAB_HAVE_REPORTS 1
#endif

namespace {

const char* kHelp =
    "usage: ingestlab COMMAND [ARGS...]\n"
    "\n"
    "Runs end-to-end tests of ingestd against real NATS JetStream and Kafka infrastructure.\n"
    "\n"
    "commands:\n"
    "  up        start nats-server, an embedded Kafka cluster and ingestd; print endpoints as "
    "JSON\n"
    "  run       run scenario files or folders; exit 0 all assertions held, 1 some failed\n"
    "  simulate  drive one simulated service against any endpoints\n"
    "  report    HTML report for run directories or a suite\n"
    "  replay    re-drive a recorded run's exact messages and faults; compare the outcome\n"
    "  shrink    cut a failing run's log down to a smaller one that still fails\n"
    "  import    turn a kcat dump or a JetStream stream into a replayable event log\n"
    "  load      open-model load test and saturation search (embedded cluster or endpoints)\n"
    "\n"
    "  --version  print the version\n"
    "  --help     this text; `ingestlab COMMAND --help` for a command\n";

int Dispatch(int argc, char** argv) {
  if (auto done = ingestlab::AnswerHelp(argc, argv, kHelp)) return *done;
  const std::string command = argv[1];
  if (command == "--version" || command == "version") {
    std::printf("ingestlab %s (%s)\n", ingestlab::kVersion, ingestlab::kGitCommit);
    return 0;
  }
  // Subcommands see argv[0] = their own name.
  int sub_argc = argc - 1;
  char** sub_argv = argv + 1;
  if (command == "up") return ingestlab::RunUpCommand(sub_argc, sub_argv);
  if (command == "run") return ingestlab::RunRunCommand(sub_argc, sub_argv);
  if (command == "simulate") return ingestlab::sim::RunSimulateCommand(sub_argc, sub_argv);
  if (command == "report") {
#ifdef INGESTLAB_HAVE_REPORTS
    return ingestlab::RunReportCommand(sub_argc, sub_argv);
#else
    std::fprintf(stderr, "report: not available in this build\n");
    return 2;
#endif
  }
  if (command == "replay") return ingestlab::RunReplayCommand(sub_argc, sub_argv);
  if (command == "shrink") return ingestlab::RunShrinkCommand(sub_argc, sub_argv);
  if (command == "import") return ingestlab::RunImportCommand(sub_argc, sub_argv);
  if (command == "load") return ingestlab::RunLoadCommand(sub_argc, sub_argv);
  std::fprintf(stderr, "ingestlab: unknown command '%s' (see ingestlab --help)\n", command.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Dispatch(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ingestlab: internal error: %s\n", e.what());
    return 70;
  } catch (...) {
    std::fprintf(stderr, "ingestlab: internal error\n");
    return 70;
  }
}
