// The built `ingestlab report` on a load test's run directory: the load report is written, and a
// folder holding a run and a load test gets a suite index linking both reports. No
// infrastructure is started; the binary only reads result.json files and writes HTML.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/cli.h"
#include "tests/support/result_json.h"

using namespace ingestlab::testing;  // RunIngestlab, LoadThreshold, ReadFileBytes, ...
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A small find_max load result as `ingestlab load` writes it (docs/reports.md).
json LoadResult() {
  return {
      {"format", 1},
      {"kind", "load"},
      {"workload", "seed-000-purchases"},
      {"verdict", "pass"},
      {"mode", "find_max"},
      {"seed", 1},
      {"target", {{"embedded", true}, {"nats_urls", {"nats://127.0.0.1:4222"}}}},
      {"duration_s", 20},
      {"thresholds", json::array({LoadThreshold("p99_ms", "<=", 25, 12.5, true, "ms")})},
      {"summary",
       {{"sent", 20000},
        {"committed", 20000},
        {"throughput_eps", 1998.5},
        {"latency_ms", {{"p99", 12.5}}}}},
      {"steps",
       {{{"index", 0},
         {"offered_eps", 1000},
         {"throughput_eps", 999.5},
         {"latency_ms", {{"p50", 2}, {"p99", 9}, {"p999", 20}}},
         {"passed", true}},
        {{"index", 1},
         {"offered_eps", 2000},
         {"throughput_eps", 1998.5},
         {"latency_ms", {{"p50", 3}, {"p99", 12.5}, {"p999", 30}}},
         {"passed", true}}}},
      {"find_max",
       {{"p99_target_ms", 25}, {"max_rate_eps", 2000}, {"limited_by", "the generator's top rate"}}},
      {"series", {{"t_s", {1, 2}}, {"offered_eps", {1000, 2000}}, {"committed_eps", {999, 1998}}}},
      {"latency_histogram", {{"bounds_ms", {1, 10}}, {"counts", {5, 10, 1}}}}};
}

}  // namespace

TEST_CASE("ingestlab report writes the load report for a load test's result.json") {
  const fs::path dir = FreshTempDir("load-report-cli");
  WriteTextFile(dir / "runs" / "load-1" / "result.json", LoadResult().dump());

  SECTION("one load run directory") {
    const auto r = RunIngestlab("report '" + (dir / "runs" / "load-1").string() + "' -o '" +
                                (dir / "load.html").string() + "'");
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("ingestlab report: wrote ") != std::string::npos);
    const std::string html = ReadFileBytes(dir / "load.html");
    CHECK(html.find("<title>PASS · load seed-000-purchases (find_max) · ingestlab</title>") !=
          std::string::npos);
    CHECK(html.find("<span class=\"rate\">2,000</span>") != std::string::npos);
    CHECK(html.find("limited by: <span>the generator&#39;s top rate</span>") != std::string::npos);
    CHECK(html.find("id=\"chart-latency-vs-offered\"") != std::string::npos);
  }
  SECTION("a folder with a run and a load test") {
    const json run = {{"format", 1}, {"scenario", "smoke"}, {"seed", 1}, {"verdict", "pass"}};
    WriteTextFile(dir / "runs" / "smoke-1" / "result.json", run.dump());
    const auto r = RunIngestlab("report '" + (dir / "runs").string() + "' -o '" +
                                (dir / "index.html").string() + "'");
    CHECK(r.exit_code == 0);
    const std::string index = ReadFileBytes(dir / "index.html");
    CHECK(index.find("href=\"runs/load-1/report.html\"") != std::string::npos);
    CHECK(index.find("href=\"runs/smoke-1/report.html\"") != std::string::npos);
    CHECK(index.find("data-value=\"1998.5\">1,998.5</td>") != std::string::npos);
    CHECK(ReadFileBytes(dir / "runs" / "load-1" / "report.html").find("id=\"find-max\"") !=
          std::string::npos);
  }
  SECTION("a load result.json without its workload is refused, naming the file") {
    json bad = LoadResult();
    bad.erase("workload");
    WriteTextFile(dir / "bad" / "result.json", bad.dump());
    const auto r = RunIngestlab("report '" + (dir / "bad").string() + "' -o '" +
                                (dir / "bad.html").string() + "'");
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("bad/result.json: not a result.json: missing string field 'workload'") !=
          std::string::npos);
    CHECK_FALSE(fs::exists(dir / "bad.html"));
  }
  fs::remove_all(dir);
}
