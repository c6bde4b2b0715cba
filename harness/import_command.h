// `ingestlab import`: turns real message data into a replayable event log.
//   ingestlab import kcat FILE|- -o LOG [--scenario NAME] [--nats-nodes N] [--skip-bad]
//   ingestlab import nats --url URL --stream NAME -o LOG [--subject FILTER] [--from-seq N]
//                         [--max N] [--timeout 10s] [--scenario NAME]
// The work is done by harness/log_import.h; this file parses arguments and reports.
// Exit codes: 0 imported, 1 the import failed (unreadable input, unreachable server, missing
// stream, timeout, unwritable log), 2 bad usage. Errors are one line on stderr.
// Thread-safety: call from the main thread.
#pragma once

namespace ingestlab {

// argv[0] is the command word ("import").
int RunImportCommand(int argc, char** argv);

}  // namespace ingestlab
