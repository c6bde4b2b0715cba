// Running commands from tests: a shell command line or the built `ingestlab` binary, with its
// output captured, fresh temporary directories for their run directories, and the file and
// text helpers that go with reading what they wrote.
// Thread-safety: the functions are independent; each call runs its own child process.
#pragma once

#include <filesystem>
#include <string>

namespace ingestlab::testing {

struct ShellResult {
  int exit_code = -1;  // 128 + signal when the command was killed; -1 when it could not start
  std::string output;  // stdout (and stderr when the command line redirects it)
};

// Runs `command_line` through /bin/sh and waits for it.
ShellResult RunShell(const std::string& command_line);

// Runs the built ingestlab with `args` (shell syntax), stderr merged into the output; `env`
// (e.g. "INGESTLAB_INGESTD=/path") is put in front of the command. Needs INGESTLAB_CLI, which
// every test target defines.
#ifdef INGESTLAB_CLI
inline ShellResult RunIngestlab(const std::string& args, const std::string& env = "") {
  return RunShell(env + (env.empty() ? "" : " ") + INGESTLAB_CLI + " " + args + " 2>&1");
}
#endif

// An empty directory under the system temp dir, named for the test and this process.
std::filesystem::path FreshTempDir(const std::string& name);

// A whole file's bytes ("" when it cannot be read).
std::string ReadFileBytes(const std::filesystem::path& path);

// Writes `text` to `path` (replacing it), creating the parent directories first.
void WriteTextFile(const std::filesystem::path& path, const std::string& text);

// How many times `needle` (not empty) occurs in `haystack`, without overlaps.
size_t CountOccurrences(const std::string& haystack, const std::string& needle);

}  // namespace ingestlab::testing
