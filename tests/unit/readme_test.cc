// The README is the user's reference for event types and tables: it must name every event type
// ingestd has a schema for and every table (with every column) a user can query.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "system/schema.h"
#include "tests/support/event_fixture.h"

using namespace ingestlab;

namespace {
std::string ReadReadme() {
  std::ifstream in(std::string(INGESTLAB_SOURCE_DIR) + "/README.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("the README lists every event type that has a schema") {
  const std::string readme = ReadReadme();
  REQUIRE(!readme.empty());
  auto registry = SchemaRegistry::LoadEmbedded();
  REQUIRE(registry.ok());
  const auto types = (*registry)->List();
  REQUIRE(types.size() > 40);
  for (const auto& type_version : types) {
    const std::string type = type_version.substr(0, type_version.rfind(' '));
    INFO(type_version);
    CHECK(readme.find("`" + type) != std::string::npos);
  }
}

TEST_CASE("the README documents every table of a new store with all its columns") {
  const std::string readme = ReadReadme();
  testing::StoreHarness harness;
  const int64_t tables = harness.Int(
      "SELECT count(*) FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite%' "
      "AND name NOT LIKE '%fts%'");
  REQUIRE(tables > 20);
  for (int64_t i = 0; i < tables; ++i) {
    const std::string name = harness.Text(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite%' AND name "
        "NOT LIKE '%fts%' ORDER BY name LIMIT 1 OFFSET " + std::to_string(i));
    const std::string columns =
        harness.Text("SELECT group_concat(name, ', ') FROM pragma_table_info('" + name + "')");
    INFO(name);
    CHECK(readme.find("| `" + name + "` | " + columns + " |") != std::string::npos);
  }
}
