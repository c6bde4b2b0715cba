// Running a command's entry point (int(int argc, char** argv)) inside the test process with
// std::cout and std::cerr captured.
// Thread-safety: swaps the global stream buffers; one call at a time, on the test thread.
#pragma once

#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace ingestlab::testing {

struct CommandOutcome {
  int exit_code;
  std::string out;
  std::string err;
};

// Calls command(argc, argv) with `args` as argv (args[0] being the command's name).
template <typename Command>
CommandOutcome RunCapturing(Command&& command, std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  std::streambuf* old_out = std::cout.rdbuf(out.rdbuf());
  std::streambuf* old_err = std::cerr.rdbuf(err.rdbuf());
  const int code = std::forward<Command>(command)(static_cast<int>(argv.size()), argv.data());
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  return {code, out.str(), err.str()};
}

}  // namespace ingestlab::testing
