// Specification of the HTML reports: sections, assertion rows, fault bands in every chart,
// escaping of hostile values, size bounds, suite ordering and the `report` command's errors.
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
#include "reports/html_util.h"
#include "reports/report_command.h"
#include "reports/svg_chart.h"
#include "simulators/encoding.h"
#include "tests/support/cli.h"
#include "tests/support/report_cli.h"
#include "tests/support/result_json.h"
#include "tests/support/text_checks.h"

using namespace ingestlab;
using nlohmann::json;
using namespace ingestlab::testing;  // RunAssertion, RunMetricsJson, ... (result_json.h)
namespace fs = std::filesystem;

namespace {

// A result.json as `ingestlab run` writes it (format 1): `samples` one-second samples, two
// faults, three assertions of which no_loss fails, and `offending` missing events.
json SampleResult(int samples, int offending = 2, const std::string& verdict = "fail") {
  json series = {{"t_s", json::array()},
                 {"publish_rate", json::array()},
                 {"ingest_rate", json::array()},
                 {"lag", json::array()},
                 {"latency_p50_ms", json::array()},
                 {"latency_p95_ms", json::array()},
                 {"latency_p99_ms", json::array()},
                 {"retries", json::array()},
                 {"dead_letters", json::array()},
                 {"reconnects", json::array()}};
  for (int i = 0; i < samples; ++i) {
    const bool down = i >= 10 && i < 15;
    series["t_s"].push_back(i);
    series["publish_rate"].push_back(400 + (i % 7) * 3.25);
    series["ingest_rate"].push_back(down ? 0.0 : 398.5 + (i % 5));
    series["lag"].push_back(down ? 400.0 * (i - 9) : 12.0 + i % 3);
    series["latency_p50_ms"].push_back(3.1 + (i % 4) * 0.1);
    series["latency_p95_ms"].push_back(8.2 + (i % 4) * 0.3);
    series["latency_p99_ms"].push_back(down ? 900.0 : 14.0 + (i % 6));
    series["retries"].push_back(i == 15 ? 5 : 0);
    series["dead_letters"].push_back(i % 20 == 3 ? 2 : 0);
    series["reconnects"].push_back(i == 16 ? 2 : 0);
  }
  json events = json::array();
  for (int i = 0; i < offending; ++i) {
    const std::string payload = "{\"specversion\":\"1.0\",\"id\":\"billing-1-" +
                                std::to_string(40 + i) +
                                "\",\"type\":\"billing.purchase.completed\"}";
    events.push_back({{"event_id", "billing-1-" + std::to_string(40 + i)},
                      {"problem", "missing"},
                      {"expected", "applied"},
                      {"observed", "absent"},
                      {"service", "billing"},
                      {"type", "billing.purchase.completed"},
                      {"subject", "billing.purchase.completed"},
                      {"payload_b64", sim::Base64Encode(payload)}});
  }
  return {{"format", 1},
          {"scenario", "kill-ingestd"},
          {"description", "ingestd is killed with SIGKILL mid-stream and restarted"},
          {"seed", 7},
          {"verdict", verdict},
          {"error", ""},
          {"started_at_ms", 1763900000000LL},
          {"duration_s", samples},
          {"command", "ingestlab run scenarios/kill_ingestd.yaml --seed 7"},
          {"versions", RunVersions("abc123")},
          {"topology", {{"nats_nodes", 1}, {"kafka_brokers", 3}, {"ingestd", 1}}},
          {"assertions",
           {RunAssertion("no loss", "no_loss", false, offending, 0, "<=", "events",
                         "12000 acked: 11998 applied, 2 missing"),
            RunAssertion("exactly once", "exactly_once", true, 0, 0, "<=", "events",
                         "0 applied twice"),
            RunAssertion("latency p99", "latency", true, 14.0, 25, "<=", "ms", "")}},
          {"metrics",
           RunMetricsJson({.published = 12000, .acked = 12000, .applied = 11998,
                           .duplicates = 150, .redeliveries = 3, .parse_dead_letters = 20,
                           .schema_dead_letters = 30, .p50_ms = 3.1, .p95_ms = 8.2, .p99_ms = 14.0,
                           .max_ms = 40.5, .throughput_eps = 400.0, .retries = 5,
                           .reconnects = 2,
                           .per_service = {{"billing", ServiceMetrics(3000, 2998, 10, 12.0)},
                                           {"auth", ServiceMetrics(9000, 9000, 40, 15.5)}},
                           .per_type = {{"billing.purchase.completed", TypeMetrics(900, 3.0, 11.0)},
                                        {"auth.user.login.failed", TypeMetrics(300, 2.5, 9.0)},
                                        {"focus.session.started", TypeMetrics(8000, 2.0, 7.0)}}})},
          {"timeline",
           {RunFault(10.0, 15.0, "kill_ingestd", "ingestd-0", json::object()),
            RunFault(20.0, 24.0, "kafka_broker_down", "broker-2", {{"broker", 2}})}},
          {"series", series},
          {"latency_histogram",
           {{"bounds_ms", {0.5, 1, 2, 5, 10, 25, 50, 100}},
            {"counts", {10, 200, 3000, 6000, 2500, 200, 80, 8, 2}}}},
          {"offending_events", events},
          {"state_digest", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}};
}

size_t Count(const std::string& haystack, const std::string& needle) {
  return ingestlab::testing::CountOccurrences(haystack, needle);
}

// The markup of the <svg> element with this id.
std::string SvgById(const std::string& html, const std::string& id) {
  const size_t start = html.find("<svg class=\"chart\" id=\"" + id + "\"");
  if (start == std::string::npos) return "";
  const size_t end = html.find("</svg>", start);
  return html.substr(start, end - start);
}

// The markup of the <section> with this id.
std::string SectionById(const std::string& html, const std::string& id) {
  const size_t start = html.find("<section id=\"" + id + "\"");
  if (start == std::string::npos) return "";
  return html.substr(start, html.find("</section>", start) - start);
}

const std::vector<std::string> kTimeCharts = {"chart-rates", "chart-latency", "chart-lag",
                                              "chart-failures", "chart-reconnects"};

fs::path TempDir(const std::string& name) {
  static int counter = 0;
  fs::path dir = fs::temp_directory_path() / ("ingestlab-report-test-" + std::to_string(getpid()) +
                                              "-" + std::to_string(++counter) + "-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void WriteText(const fs::path& path, const std::string& text) {
  ingestlab::testing::WriteTextFile(path, text);
}

std::string ReadText(const fs::path& path) { return ingestlab::testing::ReadFileBytes(path); }

using ingestlab::testing::CommandOutcome;
using ingestlab::testing::RunReportCli;

}  // namespace

TEST_CASE("a run report shows verdict, scenario, assertions, charts and breakdowns") {
  const json result = SampleResult(30);
  const std::string html = RenderRunReport(result);

  SECTION("it is one HTML document with inline style and script and no network reference") {
    CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK(html.find("<style>") != std::string::npos);
    CHECK(html.find("Content-Security-Policy") != std::string::npos);
    CHECK_FALSE(std::regex_search(html, std::regex(R"((src|href)\s*=\s*"?(https?:)?//)")));
    CHECK(html.find("url(http") == std::string::npos);
    CHECK(html.find("@import") == std::string::npos);
    CHECK(html.find("@media print") != std::string::npos);
  }
  SECTION("the verdict banner says which assertions failed") {
    const std::string banner = SectionById(html, "verdict");
    ingestlab::testing::CheckContainsAll(
        banner, {"class=\"verdict fail\"", "FAIL", "1 of 3 assertions failed: no loss"});
  }
  SECTION("the scenario header has seed, duration, topology, versions and the command") {
    const std::string header = SectionById(html, "scenario");
    CHECK(header.find("<dt>seed</dt><dd>7</dd>") != std::string::npos);
    CHECK(header.find("30.0 s") == std::string::npos);  // FormatNumber drops trailing zeros
    ingestlab::testing::CheckContainsAll(
        header, {"<dd>30 s</dd>", "kafka_brokers 3", "nats_server 2.9.10",
                 "2025-11-23 12:13:20 UTC", "ingestlab run scenarios/kill_ingestd.yaml --seed 7"});
  }
  SECTION("the assertion table has one row per assertion, failed rows highlighted") {
    const std::string table = SectionById(html, "assertions");
    CHECK(Count(table, "<tr class=\"assertion ") == 3);
    CHECK(Count(table, "<tr class=\"assertion failed\"") == 1);
    ingestlab::testing::CheckContainsAll(
        table, {"<tr class=\"assertion failed\" data-kind=\"no_loss\">", "≤ 25 ms", "14 ms",
                "12000 acked: 11998 applied, 2 missing"});
  }
  SECTION("every time chart and the histogram are inline SVG with axes, units and legends") {
    for (const std::string& id : kTimeCharts) {
      const std::string svg = SvgById(html, id);
      INFO(id);
      REQUIRE_FALSE(svg.empty());
      CHECK(svg.find("time since start (s)") != std::string::npos);
      CHECK(svg.find("class=\"legend\"") != std::string::npos);
      CHECK(Count(svg, "<path class=\"series\"") >= 1);
      CHECK(svg.find("no samples recorded") == std::string::npos);
    }
    CHECK(SvgById(html, "chart-rates").find("rate (events/s)") != std::string::npos);
    CHECK(SvgById(html, "chart-latency").find("latency (ms)") != std::string::npos);
    CHECK(Count(SvgById(html, "chart-latency"), "<path class=\"series\"") == 3);
    CHECK(SvgById(html, "chart-lag").find("log scale") == std::string::npos);
    const std::string histogram = SvgById(html, "chart-latency-histogram");
    CHECK(Count(histogram, "<g class=\"bar\">") == 9);
    CHECK(histogram.find("&gt;100") != std::string::npos);
  }
  SECTION("per-service, per-type and dead-letter tables have a row per entry") {
    CHECK(Count(SectionById(html, "services"), "<tr><td") == 2);
    CHECK(Count(SectionById(html, "types"), "<tr><td") == 3);
    CHECK(SectionById(html, "types").find("p99 (ms)") != std::string::npos);
    CHECK(Count(SectionById(html, "dead-letters"), "<tr><td") == 3);
  }
  SECTION("offending events show the decoded payload and what happened") {
    const std::string offending = SectionById(html, "offending");
    CHECK(Count(offending, "<tr class=\"offending-event") == 2);
    ingestlab::testing::CheckContainsAll(offending, {"billing-1-41", "applied → absent",
                                                     "&quot;specversion&quot;: &quot;1.0&quot;"});
  }
}

TEST_CASE("stalls no fault explains get their own section, and none shows no section") {
  json result = SampleResult(30);
  CHECK(RenderRunReport(result).find("id=\"stalls\"") == std::string::npos);
  result["stalls"] = {{{"from_s", 11.0}, {"to_s", 13.0}, {"max_lag", 150}}};
  const std::string html = RenderRunReport(result);
  const std::string section = SectionById(html, "stalls");
  REQUIRE_FALSE(section.empty());
  CHECK(section.find(">11 s<") != std::string::npos);
  CHECK(section.find(">13 s<") != std::string::npos);
  CHECK(section.find(">2 s<") != std::string::npos);  // lasting
  CHECK(section.find(">150<") != std::string::npos);
  CHECK(html.find("href=\"#stalls\"") != std::string::npos);
}

TEST_CASE("context reads get their own section with each breaker's changes, escaped") {
  json result = SampleResult(30);
  CHECK(RenderRunReport(result).find("id=\"context\"") == std::string::npos);
  result["context"] = {
      {"reads", 1202},
      {"cross_tenant_reads", 130},
      {"statuses", {{"200", 838}, {"404", 364}}},
      {"partial", 308},
      {"missing_sources", {{"crm", 173}}},
      {"latency_ms", {{"p50", 1}, {"p95", 2}, {"p99", 2}, {"max", 202}}},
      {"breakers",
       {{"ingestd-0/crm", {{0, "closed"}, {6.4, "open"}, {16.4, "closed"}}},
        {"ingestd-0/<script>", {{0, "<b>x</b>"}}}}}};
  const std::string html = RenderRunReport(result);
  const std::string section = SectionById(html, "context");
  REQUIRE_FALSE(section.empty());
  INFO(section);
  CHECK(section.find("1,202 reads (130 with another organisation's token)") != std::string::npos);
  CHECK(section.find("200: 838, 404: 364") != std::string::npos);
  CHECK(section.find("p95 2 ms") != std::string::npos);
  CHECK(section.find("308 partial (missing crm 173)") != std::string::npos);
  CHECK(section.find("0 s: closed → 6.4 s: open → 16.4 s: closed") != std::string::npos);
  CHECK(section.find("<script>") == std::string::npos);
  CHECK(section.find("&lt;b&gt;x&lt;/b&gt;") != std::string::npos);
  CHECK(html.find("href=\"#context\"") != std::string::npos);
}

TEST_CASE("each time chart carries its samples for the hover readout, inert as data") {
  const std::string html = RenderRunReport(SampleResult(30));
  for (const std::string& id : kTimeCharts) {
    CHECK(Count(html, "<script type=\"application/json\" class=\"chart-data\" data-for=\"" + id +
                          "\">") == 1);
  }
  const std::string latency_marker = "data-for=\"chart-latency\">";
  const size_t start = html.find(latency_marker) + latency_marker.size();
  const json data = json::parse(html.substr(start, html.find("</script>", start) - start));
  CHECK(data["t"].size() == 30);
  REQUIRE(data["lines"].size() == 3);
  CHECK(data["lines"][2]["name"] == "p99");
  CHECK(data["lines"][2]["values"][12] == 900.0);
  CHECK(SvgById(html, "chart-latency").find("data-x0=\"0\" data-x1=\"30\"") != std::string::npos);

  SECTION("a value cannot close the data block") {
    reports::TimeChart chart;
    chart.id = "c";
    chart.t_s = {0, 1};
    chart.lines = {{"</script><script>alert(1)</script>", "#000", {1, 2}, false}};
    const std::string svg = reports::RenderTimeChart(chart);
    CHECK(Count(svg, "</script>") == 1);
    CHECK(svg.find("\\u003c/script>\\u003cscript>alert(1)") != std::string::npos);
  }
  SECTION("long series are strided to a bounded number of points") {
    const std::string long_run = RenderRunReport(SampleResult(2000, 0));
    const std::string lag_marker = "data-for=\"chart-lag\">";
    const size_t at = long_run.find(lag_marker) + lag_marker.size();
    const json lag = json::parse(long_run.substr(at, long_run.find("</script>", at) - at));
    CHECK(lag["t"].size() <= reports::kMaxReadoutPoints);
    CHECK(lag["t"].size() >= reports::kMaxReadoutPoints / 2);
  }
}

TEST_CASE("latency is drawn on a log axis only when a spike would flatten the rest") {
  json result = SampleResult(30);  // p99 reaches 900 ms during the fault, p50 is ~3 ms
  CHECK(SvgById(RenderRunReport(result), "chart-latency").find("latency (ms), log scale") !=
        std::string::npos);
  for (json& v : result["series"]["latency_p99_ms"]) v = 20.0;
  const std::string calm = SvgById(RenderRunReport(result), "chart-latency");
  CHECK(calm.find("log scale") == std::string::npos);
  CHECK(calm.find(">25</text>") != std::string::npos);  // linear ticks 0, 5, ..., 25
}

TEST_CASE("every timeline fault is one shaded, labelled band in every time chart") {
  json result = SampleResult(60);
  result["timeline"].push_back({{"at_s", 40.0},
                                {"action", "nats_restart"},
                                {"target", "nats-0"},
                                {"params", json::object()}});  // no until_s: an instant
  const std::string html = RenderRunReport(result);
  for (const std::string& id : kTimeCharts) {
    const std::string svg = SvgById(html, id);
    INFO(id);
    CHECK(Count(svg, "<g class=\"fault-band\"") == 3);
    ingestlab::testing::CheckContainsAll(
        svg, {"data-fault=\"1\"", "F1 kill_ingestd", "F2 kafka_broker_down", "F3 nats_restart"});
  }
  CHECK(Count(SvgById(html, "chart-latency-histogram"), "fault-band") == 0);
  CHECK(Count(SectionById(html, "timeline"), "<tr class=\"fault\">") == 3);

  SECTION("a band spans its fault's time on the axis") {
    // 60 s over a 880-unit plot starting at x=64: 10 s -> 210.7, 15 s -> 284.0 (width 73.3).
    const std::string svg = SvgById(html, "chart-lag");
    CHECK(svg.find("<rect x=\"210.7\" y=\"30.0\" width=\"73.3\"") != std::string::npos);
  }
  SECTION("the time axis reaches faults scheduled past the last sample") {
    json early_end = SampleResult(10, 0);
    early_end["duration_s"] = 10;
    const std::string page = RenderRunReport(early_end);
    CHECK(SvgById(page, "chart-lag").find("data-x1=\"24\"") != std::string::npos);
  }
  SECTION("charts without samples still draw every band") {
    json empty = SampleResult(0, 0, "error");
    empty["error"] = "nats-server did not start";
    const std::string page = RenderRunReport(empty);
    for (const std::string& id : kTimeCharts) {
      CHECK(Count(SvgById(page, id), "<g class=\"fault-band\"") == 2);
      CHECK(SvgById(page, id).find("no samples recorded") != std::string::npos);
    }
  }
}

TEST_CASE("hostile values from result.json are escaped, never interpreted") {
  json result = SampleResult(20, 1);
  const std::string hostile = "<script>alert(\"pwn\")</script>";
  result["scenario"] = hostile;
  result["description"] = "\"><img src=x onerror=alert(1)>";
  result["command"] = "ingestlab run '<b>x</b>'";
  result["assertions"][0]["name"] = "<iframe src=javascript:alert(2)>";
  result["timeline"][0]["action"] = "<svg onload=alert(3)>";
  result["metrics"]["per_type"]["</td><script>alert(4)</script>"] = {{"applied", 1}};
  result["offending_events"][0]["event_id"] = "id\"onmouseover=\"alert(5)";
  result["offending_events"][0]["payload_b64"] =
      sim::Base64Encode("</pre><script>alert(6)</script>\x01\xff tail");
  const std::string html = RenderRunReport(result);

  // The only scripts are the two embedded assets and one data block per time chart.
  CHECK(Count(html, "<script>") == 2);
  CHECK(Count(html, "<script") == 2 + 5);
  ingestlab::testing::CheckContainsNone(
      html, {"<img", "<iframe", "<svg onload", "\"onmouseover", "<b>x</b>"});
  ingestlab::testing::CheckContainsAll(
      html, {"&lt;script&gt;alert(&quot;pwn&quot;)&lt;/script&gt;", "<title>FAIL · &lt;script&gt;",
             "F1 &lt;svg onload=alert(3)&gt;"});
  SECTION("a payload is decoded, non-text bytes shown as \\xNN, then escaped") {
    CHECK(html.find("&lt;/pre&gt;&lt;script&gt;alert(6)&lt;/script&gt;\\x01\\xff tail") !=
          std::string::npos);
  }
  SECTION("suite index links and names are escaped and encoded") {
    const std::string index =
        RenderSuiteIndex({{"runs/\"x\" javascript:alert(7)/report.html", result}});
    CHECK(Count(index, "<script") == 2);
    CHECK(Count(index, "<script>") == 2);
    CHECK(index.find("href=\"runs/%22x%22%20javascript%3Aalert%287%29/report.html\"") !=
          std::string::npos);
    CHECK(index.find("&lt;script&gt;alert(&quot;pwn&quot;)") != std::string::npos);
  }
}

TEST_CASE("a long run's report stays small: series are downsampled") {
  const json result = SampleResult(600, 100);
  const std::string html = RenderRunReport(result);
  INFO("report size " << html.size() << " bytes");
  CHECK(html.size() < 300 * 1024);
  for (const std::string& id : kTimeCharts) {
    const std::string svg = SvgById(html, id);
    const std::string first_path = svg.substr(svg.find("<path class=\"series\""));
    const std::string d = first_path.substr(0, first_path.find("/>"));
    CHECK(Count(d, "L") + 1 <= reports::kMaxPointsPerLine);
  }
  SECTION("downsampling keeps every spike") {
    std::vector<double> values(5000, 1.0);
    values[1234] = 99;
    values[4321] = -5;
    const std::vector<size_t> kept = reports::DownsampleMinMax(values, 200);
    CHECK(kept.size() <= 200);
    CHECK(std::find(kept.begin(), kept.end(), 1234u) != kept.end());
    CHECK(std::find(kept.begin(), kept.end(), 4321u) != kept.end());
    CHECK(std::is_sorted(kept.begin(), kept.end()));
    CHECK(kept.front() == 0);
    CHECK(kept.back() == 4999);
  }
  SECTION("long payloads are cut with a note") {
    json big = SampleResult(10, 1);
    big["offending_events"][0]["payload_b64"] = sim::Base64Encode(std::string(100000, 'a'));
    const std::string page = RenderRunReport(big);
    CHECK(page.size() < 100 * 1024);
    CHECK(page.find("98500 more characters not shown; the payload is 100000 bytes") !=
          std::string::npos);
  }
}

TEST_CASE("a run that errored before measuring still gets a readable report") {
  const json minimal = {{"format", 1},
                        {"scenario", "smoke"},
                        {"seed", 1},
                        {"verdict", "error"},
                        {"error", "nats-server exited with status 1 before becoming ready"}};
  REQUIRE(ValidateResult(minimal).ok());
  const std::string html = RenderRunReport(minimal);
  CHECK(SectionById(html, "verdict").find("class=\"verdict error\"") != std::string::npos);
  ingestlab::testing::CheckContainsAll(html,
                                       {"nats-server exited with status 1 before becoming ready",
                                        "No assertions were checked.", "No faults were injected."});
  CHECK(Count(html, "<svg class=\"chart\"") == 6);

  SECTION("mistyped fields show as absent instead of failing") {
    json odd = minimal;
    odd["metrics"] = {{"published", "many"}, {"latency_ms", 5}, {"per_service", {1, 2}}};
    odd["series"] = {{"t_s", "soon"}, {"lag", {1, "x", nullptr, 4}}};
    odd["timeline"] = {{{"at_s", "ten"}}};
    const std::string page = RenderRunReport(odd);
    CHECK(page.find("</html>") != std::string::npos);
    CHECK(Count(SvgById(page, "chart-lag"), "<g class=\"fault-band\"") == 1);
  }
  SECTION("results that are not run results are rejected with the reason") {
    CHECK(ValidateResult(json::array()).message() == "result is not a JSON object");
    CHECK(ValidateResult({{"scenario", "x"}}).message() == "missing string field 'verdict'");
    CHECK(ValidateResult({{"scenario", "x"}, {"verdict", "maybe"}}).message().find("maybe") !=
          std::string::npos);
    CHECK(ValidateResult({{"format", 2}, {"scenario", "x"}, {"verdict", "pass"}})
              .message()
              .find("unsupported result format 2") != std::string::npos);
  }
}

TEST_CASE("absurd numbers render without hanging, crashing or printing nan") {
  json result = SampleResult(10);
  result["started_at_ms"] = 1e300;
  result["duration_s"] = -5;
  result["series"]["t_s"] = {-1e308, 0, 1, 1e308};
  result["series"]["lag"] = {1e308, 1.7e308, nullptr, -1e308};
  result["series"]["latency_p50_ms"] = {1e-320, 1e308, 0, 1};
  result["latency_histogram"] = {{"bounds_ms", {1, 2}}, {"counts", {1.7e308, 1e308, -3}}};
  result["timeline"][0]["until_s"] = 1e308;
  result["metrics"]["published"] = -1e308;
  const std::string html = RenderRunReport(result);
  CHECK(html.find("</html>") != std::string::npos);
  CHECK(html.find("nan") == std::string::npos);
  CHECK(html.find("inf\"") == std::string::npos);
}

TEST_CASE("the suite index lists every run, failed first, with key numbers and links") {
  auto run = [](const std::string& name, int seed, const std::string& verdict) {
    json r = SampleResult(5, 0, verdict);
    r["scenario"] = name;
    r["seed"] = seed;
    if (verdict == "pass") {
      for (json& a : r["assertions"]) a["passed"] = true;
    }
    if (verdict == "error") r["error"] = "kafka mock cluster did not start";
    return r;
  };
  const std::vector<std::pair<std::string, json>> runs = {
      {"smoke-1/report.html", run("smoke", 1, "pass")},
      {"kill-3/report.html", run("kill", 3, "fail")},
      {"broker-1/report.html", run("broker", 1, "error")},
      {"alpha-2/report.html", run("alpha", 2, "pass")},
      {"kill-1/report.html", run("kill", 1, "fail")},
  };
  const std::string html = RenderSuiteIndex(runs);
  std::vector<std::string> order;
  const std::regex row(R"re(<tr class="run[^"]*" data-verdict="(\w+)">.*?<a href="([^"]+)">)re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), row); it != std::sregex_iterator();
       ++it) {
    order.push_back((*it)[1].str() + " " + (*it)[2].str());
  }
  CHECK(order == std::vector<std::string>{"fail kill-1/report.html", "fail kill-3/report.html",
                                          "error broker-1/report.html", "pass alpha-2/report.html",
                                          "pass smoke-1/report.html"});
  CHECK(SectionById(html, "verdict").find("2 passed, 2 failed, 1 could not run") !=
        std::string::npos);
  CHECK(html.find("kafka mock cluster did not start") != std::string::npos);
  CHECK(Count(html, "<tr class=\"run failed\"") == 2);
  CHECK(html.find("data-value=\"12000\">12,000</td>") != std::string::npos);  // published
  CHECK(html.find(">14</td>") != std::string::npos);                          // p99
}

TEST_CASE("the report command writes reports and refuses bad input with one clear line") {
  const fs::path dir = TempDir("command");
  const fs::path run_a = dir / "out" / "kill-ingestd-7";
  const fs::path run_b = dir / "out" / "smoke-1";
  WriteText(run_a / "result.json", SampleResult(20).dump());
  json passing = SampleResult(20, 0, "pass");
  passing["scenario"] = "smoke";
  WriteText(run_b / "result.json", passing.dump());

  SECTION("--help prints usage and exits 0") {
    const CommandOutcome r = RunReportCli({"--help"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("usage: ingestlab report RUN_DIR... -o FILE.html") != std::string::npos);
  }
  SECTION("bad usage exits 2 with one line") {
    for (const auto& args :
         std::vector<std::vector<std::string>>{{},
                                               {run_a.string()},
                                               {"--bogus", run_a.string(), "-o", "x.html"},
                                               {run_a.string(), "-o"}}) {
      const CommandOutcome r = RunReportCli(args);
      CHECK(r.exit_code == 2);
      CHECK(Count(r.err, "\n") == 1);
      CHECK(r.err.rfind("ingestlab report: ", 0) == 0);
    }
    CHECK(RunReportCli({run_a.string()}).err.find("-o FILE.html") != std::string::npos);
  }
  SECTION("a missing result.json is named") {
    fs::create_directories(dir / "empty-run");
    const CommandOutcome r =
        RunReportCli({(dir / "empty-run").string(), "-o", (dir / "x.html").string()});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find((dir / "empty-run" / "result.json").string() + ": no such file") !=
          std::string::npos);
    CHECK_FALSE(fs::exists(dir / "x.html"));
  }
  SECTION("an invalid result.json is named with what is wrong") {
    WriteText(dir / "broken" / "result.json", "{\"scenario\": \"x\", ");
    CommandOutcome r = RunReportCli({(dir / "broken").string(), "-o", (dir / "x.html").string()});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find((dir / "broken" / "result.json").string() + ": not valid JSON") !=
          std::string::npos);
    WriteText(dir / "wrong" / "result.json", "{\"scenario\": \"x\"}");
    r = RunReportCli({(dir / "wrong").string(), "-o", (dir / "x.html").string()});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("result.json: not a result.json: missing string field 'verdict'") !=
          std::string::npos);
    // Rendering walks a result recursively: a deeply nested one is refused, not followed down.
    std::string deep = SampleResult(20).dump();
    deep.insert(1, "\"extra\":" + std::string(100000, '[') + std::string(100000, ']') + ",");
    WriteText(dir / "deep" / "result.json", deep);
    r = RunReportCli({(dir / "deep").string(), "-o", (dir / "x.html").string()});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("result.json: not a result.json: nested deeper than 64 levels") !=
          std::string::npos);
  }
  SECTION("an unwritable output exits 1") {
    const CommandOutcome r =
        RunReportCli({run_a.string(), "-o", (dir / "no" / "such" / "dir" / "r.html").string()});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("cannot open") != std::string::npos);
  }
  SECTION("one run directory writes that run's report") {
    const CommandOutcome r = RunReportCli({run_a.string(), "-o", (dir / "run.html").string()});
    CHECK(r.exit_code == 0);
    const std::string html = ReadText(dir / "run.html");
    CHECK(html.find("<h1>kill-ingestd <small>seed 7</small></h1>") != std::string::npos);
    CHECK(Count(html, "<tr class=\"assertion ") == 3);
  }
  SECTION("several run directories write a suite index linking each run's report") {
    const CommandOutcome r =
        RunReportCli({run_b.string(), run_a.string(), "-o", (dir / "suite.html").string()});
    CHECK(r.exit_code == 0);
    CHECK(fs::exists(run_a / "report.html"));
    CHECK(fs::exists(run_b / "report.html"));
    const std::string index = ReadText(dir / "suite.html");
    const size_t failed_at = index.find("href=\"out/kill-ingestd-7/report.html\"");
    const size_t passed_at = index.find("href=\"out/smoke-1/report.html\"");
    CHECK(failed_at != std::string::npos);
    CHECK(passed_at != std::string::npos);
    CHECK(failed_at < passed_at);
  }
  SECTION("a folder of run directories stands for all of them") {
    const CommandOutcome r =
        RunReportCli({(dir / "out").string(), "-o", (dir / "all.html").string()});
    CHECK(r.exit_code == 0);
    CHECK(Count(ReadText(dir / "all.html"), "<tr class=\"run") == 2);
  }
  fs::remove_all(dir);
}

TEST_CASE("text helpers decode, make printable, format and encode") {
  using namespace ingestlab::reports;
  CHECK(Base64Decode("aGVsbG8=").value() == "hello");
  CHECK(Base64Decode("aGVsbG8").value() == "hello");
  CHECK(Base64Decode("aGV s\nbG8=").value() == "hello");
  CHECK(Base64Decode("_-8").value() == "\xff\xef");
  CHECK_FALSE(Base64Decode("a*b").has_value());
  CHECK_FALSE(Base64Decode("aGVs=bG8").has_value());
  CHECK(PrintableText("ok\tline\n\x02\xc3\xa9\xe2\x82") == "ok\tline\n\\x02é\\xe2\\x82");
  CHECK(HtmlEscape("<a href='x'>&\"</a>") == "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  CHECK(UrlEncodePath("a b/c:d.html") == "a%20b/c%3Ad.html");
  CHECK(FormatNumber(12000, 0) == "12,000");
  CHECK(FormatNumber(-1234567.5, 1) == "-1,234,567.5");
  CHECK(FormatNumber(3.10, 2) == "3.1");
  CHECK(FormatCompact(12500) == "12.5k");
  CHECK(FormatDuration(125) == "2 min 5 s");
  CHECK(DisplayPayload(sim::Base64Encode("{\"a\":1}"), 100) == "{\n  \"a\": 1\n}");
  CHECK(DisplayPayload("not base64!", 100).rfind("(not base64)", 0) == 0);
  // A dead letter nested far deeper than ingestd accepts is shown as text: pretty-printing it
  // recursed once per level and overflowed the stack.
  const std::string deep = "{\"a\":" + std::string(200000, '[') + std::string(200000, ']') + "}";
  CHECK(DisplayPayload(sim::Base64Encode(deep), 100).rfind("{\"a\":[[[[", 0) == 0);
}

TEST_CASE("the reference model section lists each table and its first differing rows") {
  json result = SampleResult(30);
  result["reference_model"] = {
      {"checked", true},
      {"note", "12 events modelled"},
      {"mismatches", 2},
      {"tables", json::array({{{"table", "customers"},
                               {"rows_compared", 3},
                               {"expected_rows", 3},
                               {"observed_rows", 3},
                               {"mismatches", 0},
                               {"first_differences", json::array()}},
                              {{"table", "tickets"},
                               {"rows_compared", 5},
                               {"expected_rows", 4},
                               {"observed_rows", 5},
                               {"mismatches", 2},
                               {"first_differences", json::array({{{"what", "tickets.status"},
                                                                   {"key", "tk-1"},
                                                                   {"expected", "resolved"},
                                                                   {"observed", "open"}}})}}})}};
  const std::string html = RenderRunReport(result);
  ingestlab::testing::CheckContainsAll(
      html, {"<section id=\"reference-model\">", "href=\"#reference-model\"", ">tickets.status<",
             ">tk-1<", "1 more differences in this table not shown"});

  result["reference_model"] = {{"checked", false}, {"note", "cannot read crm_leads"}};
  const std::string failed = RenderRunReport(result);
  CHECK(failed.find("The reference model did not run: cannot read crm_leads") != std::string::npos);
}
