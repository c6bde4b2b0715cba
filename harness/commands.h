// The ingestlab subcommands implemented by the harness: `up` (embedded infrastructure until
// SIGINT/SIGTERM) and `run` (scenario files → run directories, summary, JUnit).
// Exit codes (CONTRACT.md section 5): run → 0 every assertion held, 1 some failed (or a run
// could not be carried out), 2 bad usage or a bad scenario; up → 0 after a clean teardown,
// 1 when the infrastructure failed to start, 2 bad usage.
// Thread-safety: call from the main thread; they install signal handling for their duration.
#pragma once

namespace ingestlab {

// argv[0] is the command word ("up" / "run").
int RunUpCommand(int argc, char** argv);
int RunRunCommand(int argc, char** argv);

}  // namespace ingestlab
