// `ingestlab simulate`: runs simulated services against any NATS / Kafka endpoints.
//   ingestlab simulate SERVICE|all [--nats URLS] [--kafka BOOTSTRAP] [--rate R] [--duration D]
//       [--count N] [--seed N] [--faults SPEC] [--shape SHAPE] [--log FILE] [--event TYPE] ...
// Exit codes: 0 every publish acked; 1 some publishes failed or an endpoint was unreachable;
// 2 bad usage. Progress lines go to stderr (log), the summary to stdout.
// Thread-safety: not reentrant (installs SIGINT/SIGTERM handlers while it runs).
#pragma once

#include <cstdio>

namespace ingestlab::sim {

// argv[0] is "simulate" (or the program name); the rest are the command's arguments.
int RunSimulateCommand(int argc, char** argv);
// The same, writing the summary/--help to `out` and errors to `err` (for tests).
int RunSimulateCommand(int argc, char** argv, std::FILE* out, std::FILE* err);

}  // namespace ingestlab::sim
