// `ingestlab replay` (re-drive a recorded run into a fresh environment and compare outcomes)
// and `ingestlab shrink` (cut a failing run's log down to a smaller log that still fails).
// Exit codes: replay → 0 the outcome matches the original (or, with no original result, every
// assertion held), 1 it differs (or failed), 2 bad usage or an unreadable log; shrink → 0 a
// smaller failing log was written, 1 the failure did not reproduce, 2 bad usage.
// Thread-safety: call from the main thread; they install signal handling for their duration.
#pragma once

namespace ingestlab {

int RunReplayCommand(int argc, char** argv);  // argv[0] == "replay"
int RunShrinkCommand(int argc, char** argv);  // argv[0] == "shrink"

}  // namespace ingestlab
