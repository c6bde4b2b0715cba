// Specification of the load-test report: every section with the result's numbers, the x-y
// charts against offered rate, escaping of hostile values, tolerance of missing and mistyped
// fields, the suite index with load and run results together, and `ingestlab report` choosing
// the load report for a load result.json (in process; the built binary is run by
// tests/integration/load_report_cli_test.cc).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/html_report.h"
#include "reports/load_report.h"
#include "reports/report_command.h"
#include "reports/svg_chart.h"
#include "tests/support/cli.h"  // FreshTempDir, ReadFileBytes, CountOccurrences
#include "tests/support/report_cli.h"
#include "tests/support/result_json.h"
#include "tests/support/text_checks.h"

using namespace ingestlab;
using ingestlab::testing::LoadThreshold;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// One step of a load result as `ingestlab load` writes it.
json Step(int index, double rate, double throughput, double p50, double p90, double p99,
          double p999, double max, bool passed, const std::string& reason) {
  return {{"index", index},
          {"rate_eps", rate},
          {"duration_s", 10},
          {"offered_eps", rate},
          {"sent", rate * 10},
          {"committed", throughput * 10},
          {"throughput_eps", throughput},
          {"uncommitted", passed ? 0 : 900},
          {"late", 0},
          {"end_lag", passed ? 0 : 900},
          {"max_lag", passed ? 150 : 4200},
          {"latency_ms", {{"p50", p50}, {"p90", p90}, {"p99", p99}, {"p999", p999}, {"max", max}}},
          {"publish_latency_ms", {{"p50", 0.7}, {"p99", 2.25}, {"max", 5}}},
          {"passed", passed},
          {"reason", reason}};
}

// A find_max load result (format 1, "kind": "load"): four steps tried out of rate order (a
// search), the rate at 16000/s failing on p99, one of two thresholds failing, 40 one-second
// samples and a four-bucket histogram.
json SampleLoadResult() {
  json series = {{"t_s", json::array()},           {"offered_eps", json::array()},
                 {"sent_eps", json::array()},      {"committed_eps", json::array()},
                 {"lag", json::array()},           {"latency_p50_ms", json::array()},
                 {"latency_p99_ms", json::array()}};
  for (int i = 0; i < 40; ++i) {
    const double offered = i < 10 ? 2000 : i < 20 ? 8000 : i < 30 ? 16000 : 14000;
    series["t_s"].push_back(i + 1);
    series["offered_eps"].push_back(offered);
    series["sent_eps"].push_back(offered - 10);
    series["committed_eps"].push_back(i == 25 ? 14777.5 : offered - 20);
    series["lag"].push_back(i >= 20 && i < 30 ? 4200 : 5 + i % 3);
    series["latency_p50_ms"].push_back(2 + i % 3);
    series["latency_p99_ms"].push_back(i == 25 ? 31 : 9 + i % 4);
  }
  return {{"format", 1},
          {"kind", "load"},
          {"workload", "seed-000-purchases"},
          {"verdict", "fail"},
          {"error", ""},
          {"mode", "find_max"},
          {"seed", 1},
          {"target",
           {{"embedded", true},
            {"nats_urls", {"nats://127.0.0.1:4222", "nats://127.0.0.1:4223"}},
            {"kafka_bootstrap", "127.0.0.1:9092"},
            {"db", "/tmp/load/ingest.db"},
            {"metrics", "http://127.0.0.1:8080/metrics"},
            {"latency_source", "store"}}},
          {"started_at_ms", 1764000000000LL},
          {"duration_s", 40.5},
          {"thresholds", json::array({LoadThreshold("p99_ms", "<=", 25, 12.5, true, "ms"),
                                      LoadThreshold("uncommitted", "<=", 0, 37, false, "events")})},
          {"summary",
           {{"offered_eps", 5000},
            {"sent", 300000},
            {"acked", 299999},
            {"committed", 299990},
            {"throughput_eps", 4990.2},
            {"uncommitted", 37},
            {"late", 4},
            {"max_lag", 1200},
            {"latency_ms", {{"p50", 3.1}, {"p90", 6}, {"p99", 12.5}, {"p999", 40}, {"max", 80}}},
            {"publish_latency_ms", {{"p50", 0.8}, {"p99", 3}, {"max", 10}}}}},
          {"steps",
           {Step(0, 2000, 1998.5, 2, 4, 9, 20, 30, true, ""),
            Step(1, 8000, 7990.25, 3, 6, 12, 25, 40, true, ""),
            Step(2, 16000, 14800.75, 9, 20, 31, 60, 90, false, "p99 31 ms > 25 ms"),
            Step(3, 14000, 13950, 5, 10, 22, 35, 50, true, "")}},
          {"find_max",
           {{"p99_target_ms", 25},
            {"max_rate_eps", 14000},
            {"first_failed_rate_eps", 16000},
            {"limited_by", "p99 31 ms > 25 ms at 16000/s"}}},
          {"series", series},
          {"latency_histogram", {{"bounds_ms", {0.5, 1, 2}}, {"counts", {10, 20, 30, 1}}}}};
}

size_t Count(const std::string& haystack, const std::string& needle) {
  return ingestlab::testing::CountOccurrences(haystack, needle);
}

// The markup of the element that starts with `open` up to the first `close` after it.
std::string Between(const std::string& html, const std::string& open, const std::string& close) {
  const size_t start = html.find(open);
  if (start == std::string::npos) return "";
  const size_t end = html.find(close, start);
  return html.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string SvgById(const std::string& html, const std::string& id) {
  return Between(html, "<svg class=\"chart\" id=\"" + id + "\"", "</svg>");
}

std::string SectionById(const std::string& html, const std::string& id) {
  return Between(html, "<section id=\"" + id + "\"", "</section>");
}

// The data-x / data-y of every point of one series in an x-y chart, in drawing order.
std::vector<std::pair<std::string, std::string>> Points(const std::string& svg,
                                                        const std::string& series) {
  const std::string group =
      Between(svg, "<g class=\"xy-series\" data-series=\"" + series + "\"", "</g>");
  std::vector<std::pair<std::string, std::string>> points;
  const std::regex point(R"re(<circle class="point"[^>]* data-x="([^"]*)" data-y="([^"]*)")re");
  for (auto it = std::sregex_iterator(group.begin(), group.end(), point);
       it != std::sregex_iterator(); ++it) {
    points.emplace_back((*it)[1].str(), (*it)[2].str());
  }
  return points;
}

// The samples behind a time chart's hover readout.
json ReadoutData(const std::string& html, const std::string& id) {
  const std::string marker = "data-for=\"" + id + "\">";
  const size_t start = html.find(marker);
  if (start == std::string::npos) return json();
  const size_t from = start + marker.size();
  return json::parse(html.substr(from, html.find("</script>", from) - from));
}

void WriteText(const fs::path& path, const std::string& text) {
  ingestlab::testing::WriteTextFile(path, text);
}

using ingestlab::testing::CommandOutcome;
using ingestlab::testing::RunReportCli;

}  // namespace

TEST_CASE("a load report shows every section with the result's numbers") {
  const json result = SampleLoadResult();
  const std::string html = RenderLoadReport(result);

  SECTION("it is one HTML document with inline style and script and no network reference") {
    CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK(html.find("Content-Security-Policy") != std::string::npos);
    CHECK(html.find(".find-max {") != std::string::npos);  // the load stylesheet is inline
    CHECK_FALSE(std::regex_search(html, std::regex(R"((src|href)\s*=\s*"?(https?:)?//)")));
    CHECK(html.find("<title>FAIL · load seed-000-purchases (find_max) · ingestlab</title>") !=
          std::string::npos);
    CHECK(html.find("</html>") != std::string::npos);
  }
  SECTION("the verdict names the failed thresholds") {
    const std::string banner = SectionById(html, "verdict");
    CHECK(banner.find("class=\"verdict fail\"") != std::string::npos);
    CHECK(banner.find("1 of 2 thresholds failed: uncommitted") != std::string::npos);
  }
  SECTION("the find-max result is highlighted right below the verdict") {
    const std::string box = SectionById(html, "find-max");
    REQUIRE_FALSE(box.empty());
    CHECK(box.find("<span class=\"rate\">14,000</span>events/s with p99 ≤ 25 ms") !=
          std::string::npos);
    CHECK(box.find("first failed rate: 16,000 events/s") != std::string::npos);
    CHECK(box.find("limited by: <span>p99 31 ms &gt; 25 ms at 16000/s</span>") !=
          std::string::npos);
    const size_t verdict_at = html.find("<section id=\"verdict\"");
    const size_t find_max_at = html.find("<section id=\"find-max\"");
    CHECK(verdict_at < find_max_at);
    CHECK(find_max_at < html.find("<section id=\"workload\""));
    CHECK(find_max_at < html.find("<section id=\"thresholds\""));
    CHECK(html.find("href=\"#find-max\"") != std::string::npos);
  }
  SECTION("workload, mode and target") {
    const std::string facts = SectionById(html, "workload");
    ingestlab::testing::CheckContainsAll(
        facts,
        {"<dt>workload</dt><dd>seed-000-purchases</dd>", "<dt>mode</dt><dd>find_max</dd>",
         "<dt>seed</dt><dd>1</dd>", "<dt>duration</dt><dd>40.5 s</dd>",
         "<dt>started</dt><dd>2025-11-24 16:00:00 UTC</dd>",
         "<dd>embedded (started by ingestlab for this test)</dd>",
         "nats://127.0.0.1:4222, nats://127.0.0.1:4223", "127.0.0.1:9092", "/tmp/load/ingest.db",
         "http://127.0.0.1:8080/metrics", "<dt>latency from</dt><dd>store</dd>"});
  }
  SECTION("external endpoints are said to be external") {
    json external = result;
    external["target"]["embedded"] = false;
    CHECK(SectionById(RenderLoadReport(external), "workload").find("<dd>external endpoints</dd>") !=
          std::string::npos);
  }
  SECTION("one threshold row each: name, op, limit, measured, pass/fail") {
    const std::string table = SectionById(html, "thresholds");
    CHECK(Count(table, "<tr class=\"threshold ") == 2);
    CHECK(table.find("<tr class=\"threshold passed\"><td>p99_ms</td><td class=\"mono\">≤</td>"
                     "<td class=\"num\">25 ms</td><td class=\"num\">12.5 ms</td>"
                     "<td><span class=\"badge pass\">pass</span></td></tr>") != std::string::npos);
    CHECK(table.find("<tr class=\"threshold failed\"><td>uncommitted</td><td class=\"mono\">≤</td>"
                     "<td class=\"num\">0 events</td><td class=\"num\">37 events</td>"
                     "<td><span class=\"badge fail\">FAIL</span></td></tr>") != std::string::npos);
  }
  SECTION("summary tiles carry the summary's numbers") {
    const std::string summary = SectionById(html, "summary");
    const auto tile = [&](const std::string& label, const std::string& value) {
      INFO(label);
      CHECK(summary.find("<div class=\"label\">" + label + "</div><div class=\"value\">" + value +
                         "</div>") != std::string::npos);
    };
    tile("offered", "5,000 ev/s");
    tile("sent", "300,000");
    tile("acked", "299,999");
    tile("committed", "299,990");
    tile("throughput", "4,990.2 ev/s");
    tile("not committed", "37");
    tile("sent late", "4");
    tile("max lag", "1,200");
    tile("latency p50", "3.1 ms");
    tile("latency p90", "6 ms");
    tile("latency p99", "12.5 ms");
    tile("latency p99.9", "40 ms");
    tile("latency max", "80 ms");
    tile("publish p50", "0.8 ms");
    tile("publish p99", "3 ms");
    tile("publish max", "10 ms");
  }
  SECTION("throughput against offered rate: one point per step in rate order, and y = x") {
    const std::string svg = SvgById(html, "chart-throughput-vs-offered");
    REQUIRE_FALSE(svg.empty());
    CHECK(Points(svg, "committed/s") ==
          std::vector<std::pair<std::string, std::string>>{
              {"2000", "1998.5"}, {"8000", "7990.25"}, {"14000", "13950"}, {"16000", "14800.8"}});
    CHECK(Count(svg, "<line class=\"identity\"") == 1);
    ingestlab::testing::CheckContainsAll(
        svg, {"committed = offered", "offered rate (events/s)", "committed (events/s)"});
  }
  SECTION("latency against offered rate: p50, p99 and p99.9 per step, and the p99 target") {
    const std::string svg = SvgById(html, "chart-latency-vs-offered");
    REQUIRE_FALSE(svg.empty());
    CHECK(Points(svg, "p50") == std::vector<std::pair<std::string, std::string>>{
                                    {"2000", "2"}, {"8000", "3"}, {"14000", "5"}, {"16000", "9"}});
    CHECK(Points(svg, "p99") ==
          std::vector<std::pair<std::string, std::string>>{
              {"2000", "9"}, {"8000", "12"}, {"14000", "22"}, {"16000", "31"}});
    CHECK(Points(svg, "p99.9") ==
          std::vector<std::pair<std::string, std::string>>{
              {"2000", "20"}, {"8000", "25"}, {"14000", "35"}, {"16000", "60"}});
    CHECK(Count(svg, "<g class=\"marker\" data-y=\"25\">") == 1);
    CHECK(svg.find("p99 target 25 ms") != std::string::npos);
  }
  SECTION("over time: offered vs committed rate, lag and latency per second") {
    for (const char* id : {"chart-load-rates", "chart-load-lag", "chart-load-latency"}) {
      INFO(id);
      const std::string svg = SvgById(html, id);
      REQUIRE_FALSE(svg.empty());
      CHECK(svg.find("time since start (s)") != std::string::npos);
      CHECK(svg.find("no samples recorded") == std::string::npos);
    }
    CHECK(Count(SvgById(html, "chart-load-rates"), "<path class=\"series\"") == 3);
    CHECK(Count(SvgById(html, "chart-load-latency"), "<path class=\"series\"") == 2);
    const json rates = ReadoutData(html, "chart-load-rates");
    REQUIRE(rates["lines"].size() == 3);
    CHECK(rates["lines"][0]["name"] == "offered/s");
    CHECK(rates["lines"][0]["values"][15] == 8000.0);
    CHECK(rates["lines"][2]["name"] == "committed/s");
    CHECK(rates["lines"][2]["values"][25] == 14777.5);
    CHECK(ReadoutData(html, "chart-load-lag")["lines"][0]["values"][22] == 4200.0);
    const json latency = ReadoutData(html, "chart-load-latency");
    CHECK(latency["lines"][1]["name"] == "p99");
    CHECK(latency["lines"][1]["values"][25] == 31.0);
    CHECK(latency["t"][0] == 1.0);
  }
  SECTION("one row per step with its numbers, the failed step highlighted") {
    const std::string steps = SectionById(html, "steps");
    CHECK(Count(steps, "<tr class=\"step ") == 4);
    CHECK(Count(steps, "<tr class=\"step failed\"") == 1);
    const std::string failed = Between(steps, "<tr class=\"step failed\"", "</tr>");
    CHECK(failed.find(">16,000<") != std::string::npos);                   // rate, offered
    CHECK(failed.find(">160,000<") != std::string::npos);                  // sent
    CHECK(failed.find(">14,800.8<") != std::string::npos);                 // throughput
    CHECK(failed.find("data-value=\"31\">31</td>") != std::string::npos);  // p99
    CHECK(failed.find(">60<") != std::string::npos);                       // p99.9
    CHECK(failed.find(">4,200<") != std::string::npos);                    // max lag
    CHECK(failed.find(">2.25<") != std::string::npos);                     // publish p99
    CHECK(failed.find("p99 31 ms &gt; 25 ms") != std::string::npos);       // reason
    CHECK(failed.find("badge fail") != std::string::npos);
  }
  SECTION("the latency histogram has one bar per bucket and the overflow") {
    const std::string svg = SvgById(html, "chart-latency-histogram");
    CHECK(Count(svg, "<g class=\"bar\">") == 4);
    CHECK(svg.find("≤0.5 ms: 10 events") != std::string::npos);
    CHECK(svg.find("&gt;2 ms: 1 events") != std::string::npos);
  }
  SECTION("without find_max there is no find-max box and no target line") {
    json fixed = result;
    fixed.erase("find_max");
    fixed["mode"] = "fixed";
    fixed["steps"] = json::array({result["steps"][0]});  // (braces alone copy under clang)
    const std::string page = RenderLoadReport(fixed);
    CHECK(page.find("id=\"find-max\"") == std::string::npos);
    CHECK(page.find("href=\"#find-max\"") == std::string::npos);
    CHECK(SvgById(page, "chart-latency-vs-offered").find("class=\"marker\"") == std::string::npos);
    CHECK(Count(SectionById(page, "steps"), "<tr class=\"step ") == 1);
  }
}

TEST_CASE("hostile values in a load result are escaped, and URL credentials redacted") {
  json result = SampleLoadResult();
  result["workload"] = "<script>alert(1)</script>";
  result["mode"] = "\"><img src=x onerror=alert(2)>";
  result["error"] = "<b>boom</b>";
  result["thresholds"][0]["name"] = "<iframe src=javascript:alert(3)>";
  result["steps"][2]["reason"] = "</td><script>alert(4)</script>";
  result["find_max"]["limited_by"] = "<svg onload=alert(5)>";
  result["target"]["nats_urls"] = {"nats://ingest:hunter22@127.0.0.1:4222"};
  const std::string html = RenderLoadReport(result);
  ingestlab::testing::CheckContainsNone(
      html, {"<script>alert", "<img src=x", "<iframe", "<svg onload", "<b>boom"});
  ingestlab::testing::CheckContainsAll(
      html, {"<h1>&lt;script&gt;alert(1)&lt;/script&gt; <small>",
             "&lt;/td&gt;&lt;script&gt;alert(4)&lt;/script&gt;", "&lt;svg onload=alert(5)&gt;"});
  CHECK(html.find("hunter22") == std::string::npos);
  CHECK(html.find("nats://ingest:***@127.0.0.1:4222") != std::string::npos);
}

TEST_CASE("a scaling result shows the rate against ingestd instances") {
  json result = SampleLoadResult();
  CHECK(SectionById(RenderLoadReport(result), "scaling").empty());  // none without rows
  result["scaling"] = json::array(
      {{{"instances", 1}, {"rate_eps", 9000}, {"p99_ms", 21.5}, {"cpu_busy", 0.97},
        {"limited_by", "CPU: the machine's 2 cores were 97% busy"}, {"verdict", "pass"}},
       {{"instances", 2}, {"rate_eps", 9500}, {"p99_ms", 24}, {"cpu_busy", 0.99},
        {"limited_by", "<b>CPU</b>"}, {"verdict", "pass"}, {"dir", "ingestd-2"}}});
  const std::string html = RenderLoadReport(result);
  const std::string section = SectionById(html, "scaling");
  REQUIRE_FALSE(section.empty());
  CHECK_THAT(section, Catch::Contains("id=\"chart-scaling\""));
  CHECK_THAT(section, Catch::Contains("data-value=\"9500\">9,500</td>"));
  CHECK_THAT(section, Catch::Contains("<td class=\"num\">97 %</td>"));
  CHECK_THAT(section, Catch::Contains("cores were 97% busy"));
  CHECK_THAT(section, Catch::Contains("&lt;b&gt;CPU&lt;/b&gt;"));
  CHECK(section.find("<b>CPU</b>") == std::string::npos);
  CHECK_THAT(section, Catch::Contains("<a href=\"ingestd-2/report.html\">ingestd-2</a>"));
  CHECK_THAT(html, Catch::Contains("<a href=\"#scaling\">scaling</a>"));
  result["scaling"][1]["dir"] = "javascript:alert(1)";  // not a directory name: no link
  CHECK(RenderLoadReport(result).find("javascript:alert(1)/report.html") == std::string::npos);
}

TEST_CASE("a load result with fields missing or of the wrong type still renders") {
  SECTION("an errored test with nothing measured") {
    const json minimal = {{"format", 1},
                          {"kind", "load"},
                          {"workload", "w"},
                          {"verdict", "error"},
                          {"error", "ingestd did not become ready"}};
    REQUIRE(ValidateLoadResult(minimal).ok());
    const std::string html = RenderLoadReport(minimal);
    CHECK(SectionById(html, "verdict").find("class=\"verdict error\"") != std::string::npos);
    ingestlab::testing::CheckContainsAll(
        html, {"the load test could not be carried out", "ingestd did not become ready",
               "No thresholds were checked.", "No steps were recorded."});
    CHECK(SectionById(html, "summary").find("<div class=\"value\">—</div>") != std::string::npos);
    CHECK(Count(SectionById(html, "summary"), "<div class=\"value\">—</div>") == 16);
    CHECK(SectionById(html, "workload").find("<dt>mode</dt><dd>—</dd>") != std::string::npos);
    CHECK(SvgById(html, "chart-throughput-vs-offered").find("no points recorded") !=
          std::string::npos);
    CHECK(SvgById(html, "chart-load-rates").find("no samples recorded") != std::string::npos);
    CHECK(Count(html, "<svg class=\"chart\"") == 6);
  }
  SECTION("mistyped fields show as absent instead of failing") {
    json odd = SampleLoadResult();
    odd["verdict"] = 3;
    odd["target"] = json::array({1, 2});
    odd["thresholds"] = {{{"name", 7}, {"passed", "yes"}, {"threshold", "low"}}, "x"};
    odd["summary"] = {{"offered_eps", "lots"}, {"latency_ms", 5}, {"publish_latency_ms", {1}}};
    odd["steps"] = {1, "a", {{"latency_ms", 5}, {"offered_eps", nullptr}, {"passed", 0}}};
    odd["find_max"] = {{"max_rate_eps", "fast"}, {"limited_by", {{"a", 1}}}};
    odd["series"] = {{"t_s", "soon"}, {"lag", {1, "x", nullptr, 4}}, {"offered_eps", 5}};
    odd["latency_histogram"] = {{"bounds_ms", "log"}, {"counts", {1, "two"}}};
    std::string html;
    REQUIRE_NOTHROW(html = RenderLoadReport(odd));
    CHECK(html.find("</html>") != std::string::npos);
    CHECK(html.find("nan") == std::string::npos);
    CHECK(SectionById(html, "verdict").find("class=\"verdict error\"") != std::string::npos);
    CHECK(SectionById(html, "find-max").find("<span class=\"rate\">—</span>") != std::string::npos);
    CHECK(Count(SectionById(html, "thresholds"), "<tr class=\"threshold failed\"") == 2);
    CHECK(Count(SectionById(html, "steps"), "<tr class=\"step") == 3);
    CHECK(SectionById(html, "summary")
              .find("<div class=\"label\">offered</div><div class=\"value\">—</div>") !=
          std::string::npos);
    CHECK(Count(SvgById(html, "chart-load-lag"), "<path class=\"series\"") == 1);
  }
  SECTION("anything at all, even not an object, renders") {
    for (const json& value :
         {json(nullptr), json::array(), json("load"), json(42),
          json{{"kind", "load"}, {"steps", {{"latency_ms", {{"p99", 1e308}}}}}}}) {
      std::string html;
      REQUIRE_NOTHROW(html = RenderLoadReport(value));
      CHECK(html.find("</html>") != std::string::npos);
    }
  }
}

TEST_CASE("a load result is told apart from a run result and validated") {
  const json load = SampleLoadResult();
  CHECK(IsLoadResult(load));
  CHECK_FALSE(IsLoadResult({{"scenario", "smoke"}, {"verdict", "pass"}}));
  CHECK_FALSE(IsLoadResult({{"kind", "run"}}));
  CHECK_FALSE(IsLoadResult(json::array()));
  CHECK(ValidateLoadResult(load).ok());
  CHECK(ValidateLoadResult(json::array()).message() == "result is not a JSON object");
  CHECK(ValidateLoadResult({{"workload", "w"}, {"verdict", "pass"}}).message() ==
        "'kind' must be \"load\"");
  CHECK(ValidateLoadResult({{"kind", "load"}, {"verdict", "pass"}}).message() ==
        "missing string field 'workload'");
  CHECK(ValidateLoadResult({{"kind", "load"}, {"workload", "w"}}).message() ==
        "missing string field 'verdict'");
  CHECK(ValidateLoadResult({{"kind", "load"}, {"workload", "w"}, {"verdict", "maybe"}})
            .message()
            .find("got \"maybe\"") != std::string::npos);
  CHECK(
      ValidateLoadResult({{"format", 2}, {"kind", "load"}, {"workload", "w"}, {"verdict", "pass"}})
          .message() == "unsupported result format 2 (expected 1)");
}

TEST_CASE("x-y charts place points on a numeric axis with y = x and markers") {
  reports::XYChart chart;
  chart.id = "xy";
  chart.title = "t";
  chart.x_label = "offered";
  chart.y_label = "committed";
  chart.series = {{"s", "#000", {0, 5, 10}, {0, std::nan(""), 10}, false}};
  chart.identity_line = true;
  chart.identity_label = "y = x";
  const std::string svg = reports::RenderXYChart(chart);
  // Both axes 0..10 over the 880 x 178 plot at (64, 30): (0,0) is the bottom left corner,
  // (10,10) the top right, and the diagonal joins them.
  CHECK(svg.find("cx=\"64.0\" cy=\"208.0\"") != std::string::npos);
  CHECK(svg.find("cx=\"944.0\" cy=\"30.0\"") != std::string::npos);
  CHECK(svg.find("<line class=\"identity\" x1=\"64.0\" y1=\"208.0\" x2=\"944.0\" y2=\"30.0\"") !=
        std::string::npos);
  CHECK(Count(svg, "<circle class=\"point\"") == 2);  // the NaN point is left out
  CHECK(svg.find("d=\"M64.0 208.0M944.0 30.0\"") != std::string::npos);  // and breaks the line
  CHECK(svg.find("data-x0") == std::string::npos);  // no time-chart hover readout

  SECTION("a marker stretches the value axis to reach it") {
    chart.identity_line = false;
    chart.markers = {{"target 40", "#d62728", 40}};
    const std::string with_marker = reports::RenderXYChart(chart);
    CHECK(with_marker.find("<g class=\"marker\" data-y=\"40\">") != std::string::npos);
    CHECK(with_marker.find(">40</text>") != std::string::npos);  // a y tick at 40
    CHECK(with_marker.find("class=\"identity\"") == std::string::npos);
  }
  SECTION("a wide value range gets a log axis when asked") {
    chart.identity_line = false;
    chart.log_scale_when_wide = true;
    chart.series = {{"p99", "#000", {1, 2}, {0.5, 900}, false}};
    CHECK(reports::RenderXYChart(chart).find("committed, log scale") != std::string::npos);
  }
}

TEST_CASE("a suite index lists load tests beside runs, with numbers from their summary") {
  json run = {{"format", 1},
              {"scenario", "smoke"},
              {"seed", 3},
              {"verdict", "pass"},
              {"duration_s", 12},
              {"metrics",
               {{"published", 1200},
                {"applied", 1200},
                {"throughput_eps", 100},
                {"latency_ms", {{"p99", 14}}}}}};
  const std::vector<std::pair<std::string, json>> runs_only = {{"smoke-3/report.html", run}};
  const std::string plain = RenderSuiteIndex(runs_only);
  CHECK(plain.find("throughput (ev/s)") == std::string::npos);
  CHECK(plain.find("kind-tag") == std::string::npos);

  const std::vector<std::pair<std::string, json>> mixed = {
      {"smoke-3/report.html", run}, {"load-1/report.html", SampleLoadResult()}};
  const std::string html = RenderSuiteIndex(mixed);
  CHECK(Count(html, "<tr class=\"run") == 2);
  const std::string load_row =
      Between(html, "<tr class=\"run failed\" data-verdict=\"fail\">", "</tr>");
  REQUIRE_FALSE(load_row.empty());
  CHECK(load_row.find(">seed-000-purchases</a><span class=\"kind-tag\">load</span>") !=
        std::string::npos);
  CHECK(load_row.find("data-value=\"300000\">300,000</td>") != std::string::npos);   // sent
  CHECK(load_row.find("data-value=\"299990\">299,990</td>") != std::string::npos);   // committed
  CHECK(load_row.find("data-value=\"4990.2\">4,990.2</td>") != std::string::npos);   // throughput
  CHECK(load_row.find("data-value=\"12.5\">12.5</td>") != std::string::npos);        // p99
  CHECK(load_row.find("<td class=\"detail\">uncommitted</td>") != std::string::npos);  // failed
  const std::string run_row = Between(html, "<tr class=\"run\" data-verdict=\"pass\">", "</tr>");
  CHECK(run_row.find("data-value=\"100\">100</td>") != std::string::npos);  // run throughput
  CHECK(html.find("throughput (ev/s)") != std::string::npos);
  CHECK(html.find(".kind-tag {") != std::string::npos);
}

TEST_CASE("`ingestlab report` renders a load result.json with the load report") {
  const fs::path dir = testing::FreshTempDir("load-report-command");
  const fs::path load_dir = dir / "runs" / "load-1";
  WriteText(load_dir / "result.json", SampleLoadResult().dump());

  SECTION("one load run directory writes the load report") {
    const CommandOutcome r = RunReportCli({load_dir.string(), "-o", (dir / "load.html").string()});
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    const std::string html = testing::ReadFileBytes(dir / "load.html");
    CHECK(html.find("<h1>seed-000-purchases <small>load test, find_max</small></h1>") !=
          std::string::npos);
    CHECK(html.find("<section id=\"find-max\"") != std::string::npos);
    CHECK(html.find("id=\"chart-throughput-vs-offered\"") != std::string::npos);
  }
  SECTION("a folder with a run and a load test writes both reports and the index") {
    json run = {{"format", 1}, {"scenario", "smoke"}, {"seed", 1}, {"verdict", "pass"}};
    WriteText(dir / "runs" / "smoke-1" / "result.json", run.dump());
    const CommandOutcome r =
        RunReportCli({(dir / "runs").string(), "-o", (dir / "suite.html").string()});
    CHECK(r.exit_code == 0);
    CHECK(testing::ReadFileBytes(load_dir / "report.html").find("<section id=\"find-max\"") !=
          std::string::npos);
    CHECK(testing::ReadFileBytes(dir / "runs" / "smoke-1" / "report.html")
              .find("<section id=\"assertions\">") != std::string::npos);
    const std::string index = testing::ReadFileBytes(dir / "suite.html");
    CHECK(Count(index, "<tr class=\"run") == 2);
    CHECK(index.find("href=\"runs/load-1/report.html\"") != std::string::npos);
  }
  SECTION("a load result.json that is not usable is refused with the reason") {
    json bad = SampleLoadResult();
    bad.erase("workload");
    WriteText(dir / "bad" / "result.json", bad.dump());
    const CommandOutcome r =
        RunReportCli({(dir / "bad").string(), "-o", (dir / "bad.html").string()});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("result.json: not a result.json: missing string field 'workload'") !=
          std::string::npos);
    CHECK_FALSE(fs::exists(dir / "bad.html"));
  }
  fs::remove_all(dir);
}
