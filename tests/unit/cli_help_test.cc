// Specification of AnswerHelp (common/cli.h): how a command that dispatches on its first
// argument answers no argument and --help / -h / help.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "common/cli.h"

using namespace ingestlab;

namespace {

// A FILE* that keeps what is written to it in memory.
class MemoryFile {
 public:
  MemoryFile() : file_(open_memstream(&data_, &size_)) {}
  ~MemoryFile() {
    std::fclose(file_);
    std::free(data_);
  }
  std::FILE* get() const { return file_; }
  std::string text() {
    std::fflush(file_);
    return std::string(data_, size_);
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  std::FILE* file_;
};

struct Answer {
  std::optional<int> exit_code;
  std::string out;
  std::string err;
};

Answer Ask(std::vector<std::string> args) {
  args.insert(args.begin(), "import");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  MemoryFile out, err;
  Answer a;
  a.exit_code =
      AnswerHelp(static_cast<int>(argv.size()), argv.data(), "usage: x\n", out.get(), err.get());
  a.out = out.text();
  a.err = err.text();
  return a;
}

}  // namespace

TEST_CASE("AnswerHelp: no argument is bad usage, the help on stderr") {
  const Answer a = Ask({});
  CHECK(a.exit_code == std::optional<int>(kExitUsage));
  CHECK(a.out.empty());
  CHECK(a.err == "usage: x\n");
}

TEST_CASE("AnswerHelp: --help, -h and help print the help on stdout and exit 0") {
  for (const char* flag : {"--help", "-h", "help"}) {
    INFO(flag);
    const Answer a = Ask({flag, "ignored"});
    CHECK(a.exit_code == std::optional<int>(0));
    CHECK(a.out == "usage: x\n");
    CHECK(a.err.empty());
  }
}

TEST_CASE("AnswerHelp: anything else is left to the caller, nothing printed") {
  for (const char* first : {"kcat", "--version", "-x", "helpful"}) {
    INFO(first);
    const Answer a = Ask({first});
    CHECK_FALSE(a.exit_code.has_value());
    CHECK(a.out.empty());
    CHECK(a.err.empty());
  }
}
