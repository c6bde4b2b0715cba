// The CI recipe (docs/ci.md, examples/ci/github-actions.yml) is copied into other people's
// repositories: it must keep naming scripts that exist, paths the suite writes, and the exit
// codes ingestlab really returns.
#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace std::string_literals;

namespace {
const std::string kRoot = INGESTLAB_SOURCE_DIR;

std::string Read(const std::string& relative) {
  std::ifstream in(kRoot + "/" + relative);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Executable(const std::string& relative) {
  struct stat st {};
  return ::stat((kRoot + "/" + relative).c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         (st.st_mode & S_IXUSR) != 0;
}

// Every `run:` of every step of every job.
std::vector<std::string> RunCommands(const YAML::Node& jobs) {
  std::vector<std::string> out;
  for (auto job = jobs.begin(); job != jobs.end(); ++job) {
    for (const auto& step : job->second["steps"]) {
      if (step["run"]) out.push_back(step["run"].as<std::string>());
    }
  }
  return out;
}

// Checks every scripts/*.sh a command names, and returns how many there were.
int CheckScripts(const std::string& commands) {
  static const std::regex kScript(R"((scripts/[A-Za-z0-9_.-]+\.sh))");
  int n = 0;
  for (std::sregex_iterator it(commands.begin(), commands.end(), kScript), end; it != end; ++it) {
    const std::string script = (*it)[1];
    INFO(script);
    CHECK(Executable(script));
    ++n;
  }
  return n;
}

// The fenced ```yaml block after `heading` in docs/ci.md.
std::string YamlBlockAfter(const std::string& doc, const std::string& heading) {
  const size_t at = doc.find(heading);
  if (at == std::string::npos) return "";
  const size_t open = doc.find("```yaml\n", at);
  if (open == std::string::npos) return "";
  const size_t start = open + 8;
  const size_t close = doc.find("```", start);
  return doc.substr(start, close - start);
}
}  // namespace

TEST_CASE("the GitHub Actions workflow runs scripts that exist and publishes what they write") {
  const std::string text = Read("examples/ci/github-actions.yml");
  REQUIRE(!text.empty());
  YAML::Node wf;
  REQUIRE_NOTHROW(wf = YAML::Load(text));
  REQUIRE(wf["jobs"].IsMap());
  REQUIRE(wf["on"]);
  std::string commands;
  for (const auto& c : RunCommands(wf["jobs"])) commands += c + "\n";
  CHECK(CheckScripts(commands) >= 1);
  CHECK(commands.find("scripts/suite.sh") != std::string::npos);

  // What the suite writes: the JUnit file and the run directories under runs/.
  const std::string suite = Read("scripts/suite.sh");
  REQUIRE(suite.find("--out runs ") != std::string::npos);
  REQUIRE(suite.find("--junit runs/junit.xml") != std::string::npos);
  std::set<std::string> published;
  for (auto job = wf["jobs"].begin(); job != wf["jobs"].end(); ++job) {
    for (const auto& step : job->second["steps"]) {
      const auto with = step["with"];
      if (!with) continue;
      for (const char* key : {"report_paths", "path"}) {
        if (!with[key]) continue;
        std::istringstream lines(with[key].as<std::string>());
        for (std::string line; std::getline(lines, line);) {
          if (!line.empty()) published.insert(line);
        }
      }
    }
  }
  CHECK(published.count("runs/junit.xml"));
  CHECK(published.count("runs/"));
  CHECK(published.count("runs/*/report.html"));
  CHECK(published.count("runs/index.html"));
  for (const auto& p : published) {
    INFO(p);
    CHECK(p.rfind("runs/", 0) == 0);
  }
  // The reports it uploads are the files a run directory and a suite have.
  CHECK(Read("harness/runner.cc").find("/report.html") != std::string::npos);
  CHECK(Read("harness/commands.cc").find("/index.html") != std::string::npos);
}

TEST_CASE("docs/ci.md: the workflow is linked, the GitLab job parses, the exit codes are real") {
  const std::string doc = Read("docs/ci.md");
  REQUIRE(!doc.empty());
  CHECK(doc.find("(../examples/ci/github-actions.yml)") != std::string::npos);
  CHECK(Read("README.md").find("(docs/ci.md)") != std::string::npos);

  const std::string gitlab = YamlBlockAfter(doc, "## GitLab CI");
  REQUIRE(!gitlab.empty());
  YAML::Node job;
  REQUIRE_NOTHROW(job = YAML::Load(gitlab)["ingestlab-suite"]);
  REQUIRE(job["script"].IsSequence());
  std::string commands;
  for (const auto& c : job["script"]) commands += c.as<std::string>() + "\n";
  CHECK(CheckScripts(commands) >= 1);
  CHECK(job["artifacts"]["reports"]["junit"].as<std::string>() == "runs/junit.xml");

  const std::string github = YamlBlockAfter(doc, "The core of it:");
  REQUIRE(!github.empty());
  REQUIRE_NOTHROW(YAML::Load(github));

  // Each exit code of the table, and where ingestlab returns it.
  const std::string run_command = Read("harness/commands.cc");
  const std::string main_source = Read("harness/ingestlab_main.cc");
  const std::string suite = Read("scripts/suite.sh");
  CHECK(suite.find("exit $status") != std::string::npos);  // suite.sh passes run's status on
  for (const auto& [code, evidence, source] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"0", "return passed == runs.size() ? 0 : 1;", run_command},
           {"1", "if (AbortRequested()) return 1;", run_command},
           {"2", "return UsageError(\"run\"", run_command},
           {"130", "_exit(130);", run_command},
           {"70", "return 70;", main_source}}) {
    INFO("exit " << code);
    CHECK(doc.find("| `" + code + "` |") != std::string::npos);
    CHECK(source.find(evidence) != std::string::npos);
  }
}
