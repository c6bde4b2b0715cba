// Replays every fuzz seed (tests/fuzz/corpus/<target>/) and every input that once crashed a
// target (tests/fuzz/regressions/<target>/) through the fuzz targets' own functions, on every
// build and with any compiler: a fixed crash stays fixed even where libFuzzer is not built.
// Each input must come back without crashing and with the target's properties holding
// (tests/fuzz/fuzz_targets.h).
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "system/schema.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/support/cli.h"

using namespace ingestlab;
namespace fs = std::filesystem;

namespace {

struct Target {
  const char* name;
  std::string (*check)(std::string_view);
};

constexpr Target kTargets[] = {
    {"envelope", fuzz::CheckEnvelope}, {"schema", fuzz::CheckSchema},
    {"scenario", fuzz::CheckScenario}, {"event_log", fuzz::CheckEventLog},
    {"import", fuzz::CheckImport},
};

// The files of tests/fuzz/<kind>/<target>/, sorted; none if the folder does not exist.
std::vector<fs::path> Inputs(const std::string& kind, const std::string& target) {
  std::vector<fs::path> files;
  const fs::path dir = fs::path(INGESTLAB_SOURCE_DIR) / "tests" / "fuzz" / kind / target;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().filename().string()[0] != '.') {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadBytes(const fs::path& path) { return ingestlab::testing::ReadFileBytes(path); }

}  // namespace

TEST_CASE("every fuzz seed and regression input passes its target", "[fuzz]") {
  for (const Target& target : kTargets) {
    const auto corpus = Inputs("corpus", target.name);
    INFO("target " << target.name);
    CHECK(corpus.size() >= 10);  // the seeds are committed with the target
    for (const char* kind : {"corpus", "regressions"}) {
      for (const fs::path& file : Inputs(kind, target.name)) {
        INFO(kind << "/" << target.name << "/" << file.filename().string());
        CHECK(target.check(ReadBytes(file)) == "");
      }
    }
  }
}

TEST_CASE("the schema seeds reach Validate of every type and version", "[fuzz]") {
  // A schema input's first line names the type: "billing.invoice.issued v1[ structured]".
  auto registry = SchemaRegistry::LoadEmbedded();
  REQUIRE(registry.ok());
  const std::vector<std::string> types = registry.value()->List();
  REQUIRE(!types.empty());
  std::set<std::string> covered;
  for (const fs::path& file : Inputs("corpus", "schema")) {
    const std::string bytes = ReadBytes(file);
    std::string line = bytes.substr(0, bytes.find('\n'));
    const std::string structured = " structured";
    if (line.size() > structured.size() &&
        line.compare(line.size() - structured.size(), structured.size(), structured) == 0) {
      line.resize(line.size() - structured.size());
    }
    covered.insert(line);
  }
  for (const std::string& type : types) {
    INFO("no seed in tests/fuzz/corpus/schema/ for " << type);
    CHECK(covered.count(type) == 1);
  }
}
