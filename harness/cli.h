// How every ingestlab command built on CLI11 parses its options: --help prints the help to
// stdout (exit 0); bad usage prints one line, "ingestlab COMMAND: <what> (see ingestlab COMMAND
// --help)", to stderr (exit 2).
// Thread-safety: call from the main thread.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>

#include "harness/run_output.h"

namespace ingestlab {

// std::nullopt when the command should go on; otherwise the exit code to return.
inline std::optional<int> ParseCommandLine(CLI::App& app, const std::string& command, int argc,
                                           char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    return UsageError(command, e.what());
  }
  return std::nullopt;
}

}  // namespace ingestlab
