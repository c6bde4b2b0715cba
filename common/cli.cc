// See cli.h.
#include "common/cli.h"

#include <memory>
#include <utility>

namespace ingestlab {
namespace {

class UsageLineFormatter : public CLI::Formatter {
 public:
  explicit UsageLineFormatter(std::string usage) : usage_(std::move(usage)) {}
  std::string make_help(const CLI::App* app, std::string name,
                        CLI::AppFormatMode mode) const override {
    return usage_ + "\n\n" + CLI::Formatter::make_help(app, std::move(name), mode);
  }
  std::string make_usage(const CLI::App*, std::string) const override { return ""; }

 private:
  std::string usage_;
};

// Help text to print, or a usage line, or neither (go on).
struct Parsed {
  std::optional<int> exit_code;
  std::string help;
  std::string usage_line;
};

Parsed Parse(CLI::App& app, const std::string& command, int argc, char** argv) {
  Parsed p;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    p.help = app.help();
    p.exit_code = 0;
  } catch (const CLI::ParseError& e) {
    p.usage_line = UsageLine(command, e.what());
    p.exit_code = kExitUsage;
  }
  return p;
}

}  // namespace

std::string UsageLine(const std::string& command, const std::string& message) {
  return "ingestlab " + command + ": " + message + " (see ingestlab " + command + " --help)\n";
}

std::optional<int> AnswerHelp(int argc, char** argv, const char* help, std::FILE* out,
                              std::FILE* err) {
  if (argc < 2) {
    std::fputs(help, err);
    return kExitUsage;
  }
  const std::string first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") {
    std::fputs(help, out);
    return 0;
  }
  return std::nullopt;
}

int UsageError(const std::string& command, const std::string& message, std::FILE* err) {
  std::fputs(UsageLine(command, message).c_str(), err);
  return kExitUsage;
}

int UsageError(const std::string& command, const std::string& message, std::ostream& err) {
  err << UsageLine(command, message);
  return kExitUsage;
}

std::optional<int> ParseCommandLine(CLI::App& app, const std::string& command, int argc,
                                    char** argv, std::FILE* out, std::FILE* err) {
  Parsed p = Parse(app, command, argc, argv);
  std::fputs(p.help.c_str(), out);
  std::fputs(p.usage_line.c_str(), err);
  return p.exit_code;
}

std::optional<int> ParseCommandLine(CLI::App& app, const std::string& command, int argc,
                                    char** argv, std::ostream& out, std::ostream& err) {
  Parsed p = Parse(app, command, argc, argv);
  out << p.help;
  err << p.usage_line;
  return p.exit_code;
}

CLI::Validator NonEmpty(const std::string& what) {
  return CLI::Validator([what](std::string& value) { return value.empty() ? what : std::string(); },
                        "");
}

void SetUsageLine(CLI::App& app, const std::string& usage) {
  app.formatter(std::make_shared<UsageLineFormatter>(usage));
}

}  // namespace ingestlab
