// How every ingestlab command parses its options with CLI11: --help prints the help to stdout
// (exit 0); bad usage prints one line, "ingestlab COMMAND: <what> (see ingestlab COMMAND
// --help)", to stderr (exit 2). In common/ so that every layer's commands (harness, simulators,
// reports) share it.
// Thread-safety: call from the main thread.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <ostream>
#include <string>

namespace ingestlab {

// The exit status of bad usage.
constexpr int kExitUsage = 2;

// "ingestlab COMMAND: MESSAGE (see ingestlab COMMAND --help)\n".
std::string UsageLine(const std::string& command, const std::string& message);

// Prints UsageLine to `err`; returns kExitUsage.
int UsageError(const std::string& command, const std::string& message, std::FILE* err = stderr);
int UsageError(const std::string& command, const std::string& message, std::ostream& err);

// For a command that dispatches on its first argument (ingestlab itself, `ingestlab import`):
// with no argument prints `help` to `err` (kExitUsage); with --help, -h or help prints it to
// `out` (0). std::nullopt when argv[1] is for the caller to dispatch on.
std::optional<int> AnswerHelp(int argc, char** argv, const char* help, std::FILE* out = stdout,
                              std::FILE* err = stderr);

// Parses argv (argv[0] is the command's name) into `app`. std::nullopt when the command should
// go on; otherwise the exit code to return, the help or the usage line already printed.
std::optional<int> ParseCommandLine(CLI::App& app, const std::string& command, int argc,
                                    char** argv, std::FILE* out = stdout, std::FILE* err = stderr);
// The same for commands that write through iostreams.
std::optional<int> ParseCommandLine(CLI::App& app, const std::string& command, int argc,
                                    char** argv, std::ostream& out, std::ostream& err);

// A check for a string option: an empty value is bad usage, "--url: needs a NATS URL".
CLI::Validator NonEmpty(const std::string& what);

// Makes the help start with `usage` (e.g. "usage: ingestlab report RUN_DIR... -o FILE.html")
// and a blank line instead of CLI11's generated "Usage:" line, for commands whose arguments
// a generated line describes less well.
void SetUsageLine(CLI::App& app, const std::string& usage);

}  // namespace ingestlab
