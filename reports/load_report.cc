// The HTML report of a load test (see load_report.h).
#include "reports/load_report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "common/redact.h"
#include "reports/html_util.h"
#include "reports/report_assets.h"
#include "reports/report_page.h"
#include "reports/svg_chart.h"

namespace ingestlab {
namespace {

using nlohmann::json;
using reports::Cell;
using reports::Fact;
using reports::Field;
using reports::FormatNumber;
using reports::HtmlEscape;
using reports::Number;
using reports::NumCell;
using reports::Text;
using reports::Tile;
using reports::Verdict;

bool IsTrue(const json& value) { return value.is_boolean() && value.get<bool>(); }

// "12.5 ms", "4,990 ev/s"; "—" when the value is not a number.
std::string WithUnit(const json& value, int decimals, const std::string& unit) {
  const double v = Number(value);
  return std::isfinite(v) ? FormatNumber(v, decimals) + (unit.empty() ? "" : " " + unit) : "—";
}

std::string VerdictBanner(const json& result) {
  const std::string verdict = Verdict(result);
  const json& thresholds = Field(result, "thresholds");
  const size_t total = thresholds.is_array() ? thresholds.size() : 0;
  const std::vector<const json*> failed = reports::FailedChecks(result, "thresholds");
  std::string summary;
  if (verdict == "error") {
    summary = "the load test could not be carried out";
  } else if (!failed.empty()) {
    summary = std::to_string(failed.size()) + " of " + std::to_string(total) +
              " thresholds failed: " + reports::CheckNames(failed);
  } else if (verdict == "fail") {
    summary = "the load test failed";
  } else {
    summary = total == 0   ? "no thresholds were checked"
              : total == 1 ? "the one threshold held"
                           : "all " + std::to_string(total) + " thresholds held";
  }
  return reports::VerdictBannerHtml(result, summary);
}

// The highest sustainable rate a find_max test found, highlighted; nothing for other modes.
std::string FindMaxSection(const json& result) {
  const json& find_max = Field(result, "find_max");
  if (!find_max.is_object()) return "";
  std::string out =
      "<section id=\"find-max\" class=\"find-max\"><div class=\"headline\">highest sustainable "
      "rate <span class=\"rate\">" +
      HtmlEscape(WithUnit(Field(find_max, "max_rate_eps"), 0, "")) + "</span>events/s";
  const double target = Number(Field(find_max, "p99_target_ms"));
  if (std::isfinite(target)) {
    out += " with p99 ≤ " + HtmlEscape(FormatNumber(target, 2)) + " ms";
  }
  out += "</div>";
  const double first_failed = Number(Field(find_max, "first_failed_rate_eps"));
  out +=
      "<div class=\"first-failed\">first failed rate: " +
      HtmlEscape(std::isfinite(first_failed) ? FormatNumber(first_failed, 0) + " events/s" : "—") +
      "</div>";
  const std::string limited_by = Text(Field(find_max, "limited_by"));
  out += "<div class=\"limited-by\">limited by: <span>" +
         (limited_by.empty() ? std::string("—") : HtmlEscape(limited_by)) + "</span></div>";
  return out + "</section>\n";
}

std::string TargetDescription(const json& target) {
  const json& embedded = Field(target, "embedded");
  if (!embedded.is_boolean()) return "—";
  return embedded.get<bool>() ? "embedded (started by ingestlab for this test)"
                              : "external endpoints";
}

// "a, b" for an array of strings; Text() for anything else.
std::string JoinedText(const json& value) {
  if (!value.is_array()) return Text(value);
  std::string out;
  for (const json& v : value) out += (out.empty() ? "" : ", ") + Text(v);
  return out;
}

std::string WorkloadSection(const json& result) {
  const auto text_fact = [](const std::string& name, const std::string& text) {
    return Fact(name, text.empty() ? "—" : "<span class=\"mono\">" + HtmlEscape(text) + "</span>");
  };
  std::string out = "<section id=\"workload\"><h2>Workload and target</h2><dl class=\"facts\">";
  out += Fact("workload", Cell(Field(result, "workload")));
  out += Fact("mode", Cell(Field(result, "mode")));
  out += Fact("seed", Cell(Field(result, "seed"), 0));
  out += reports::StartedAndDurationFacts(result);
  const json& target = Field(result, "target");
  out += Fact("target", HtmlEscape(TargetDescription(target)));
  out += text_fact("NATS", JoinedText(Field(target, "nats_urls")));
  out += text_fact("Kafka", Text(Field(target, "kafka_bootstrap")));
  out += text_fact("store", Text(Field(target, "db")));
  out += text_fact("metrics", Text(Field(target, "metrics")));
  out += Fact("latency from", Cell(Field(target, "latency_source")));
  return out + "</dl></section>\n";
}

std::string ThresholdTable(const json& result) {
  const auto row = [](const json& t) {
    const bool passed = IsTrue(Field(t, "passed"));
    const std::string unit = Text(Field(t, "unit"));
    const std::string unit_suffix = unit.empty() ? "" : " " + HtmlEscape(unit);
    const auto value = [&](const char* key) {
      const json& v = Field(t, key);
      return Cell(v, 3) + (v.is_number() ? unit_suffix : "");
    };
    std::string out =
        std::string("<tr class=\"threshold ") + (passed ? "passed" : "failed") + "\">";
    out += "<td>" + Cell(Field(t, "name")) + "</td>";
    out += "<td class=\"mono\">" + HtmlEscape(reports::OpSymbol(Text(Field(t, "op")))) + "</td>";
    out += "<td class=\"num\">" + value("threshold") + "</td>";
    out += "<td class=\"num\">" + value("measured") + "</td>";
    return out + "<td>" + reports::PassBadge(passed) + "</td></tr>";
  };
  return reports::TableSection(
      "thresholds", "Thresholds", Field(result, "thresholds"), "No thresholds were checked.",
      "<table class=\"thresholds\"><thead><tr><th>threshold</th><th>op</th>"
      "<th class=\"num\">limit</th><th class=\"num\">measured</th><th>result</th></tr>"
      "</thead><tbody>",
      row);
}

std::string SummarySection(const json& result) {
  const json& s = Field(result, "summary");
  const json& latency = Field(s, "latency_ms");
  const json& publish = Field(s, "publish_latency_ms");
  std::string out = "<section id=\"summary\"><h2>Summary</h2><div class=\"tiles\">";
  out += Tile("offered", WithUnit(Field(s, "offered_eps"), 0, "ev/s"));
  out += Tile("sent", WithUnit(Field(s, "sent"), 0, ""));
  out += Tile("acked", WithUnit(Field(s, "acked"), 0, ""));
  out += Tile("committed", WithUnit(Field(s, "committed"), 0, ""));
  out += Tile("throughput", WithUnit(Field(s, "throughput_eps"), 1, "ev/s"));
  out += Tile("not committed", WithUnit(Field(s, "uncommitted"), 0, ""));
  out += Tile("sent late", WithUnit(Field(s, "late"), 0, ""));
  out += Tile("max lag", WithUnit(Field(s, "max_lag"), 0, ""));
  out += Tile("latency p50", WithUnit(Field(latency, "p50"), 1, "ms"));
  out += Tile("latency p90", WithUnit(Field(latency, "p90"), 1, "ms"));
  out += Tile("latency p99", WithUnit(Field(latency, "p99"), 1, "ms"));
  out += Tile("latency p99.9", WithUnit(Field(latency, "p999"), 1, "ms"));
  out += Tile("latency max", WithUnit(Field(latency, "max"), 1, "ms"));
  out += Tile("publish p50", WithUnit(Field(publish, "p50"), 2, "ms"));
  out += Tile("publish p99", WithUnit(Field(publish, "p99"), 2, "ms"));
  out += Tile("publish max", WithUnit(Field(publish, "max"), 2, "ms"));
  return out + "</div></section>\n";
}

reports::XYChart NewXYChart(std::string id, std::string title, std::string x_label,
                            std::string y_label, std::string value_unit,
                            std::vector<reports::XYSeries> series) {
  reports::XYChart chart;
  chart.id = std::move(id);
  chart.title = std::move(title);
  chart.x_label = std::move(x_label);
  chart.y_label = std::move(y_label);
  chart.value_unit = std::move(value_unit);
  chart.series = std::move(series);
  return chart;
}

std::string XYFigure(const reports::XYChart& chart) {
  return "<figure class=\"chart-box xy-chart\"><figcaption>" + HtmlEscape(chart.title) +
         "</figcaption>" + reports::RenderXYChart(chart) + "</figure>";
}

// A step's offered rate: what it offered, or the rate it asked for when that is missing.
double OfferedRate(const json& step) {
  const double offered = Number(Field(step, "offered_eps"));
  return std::isfinite(offered) ? offered : Number(Field(step, "rate_eps"));
}

// Throughput and latency of every step against its offered rate (steps in offered-rate order,
// so a search that tried rates out of order still draws one line).
std::string RateChartsSection(const json& result) {
  std::vector<const json*> steps;
  const json& all_steps = Field(result, "steps");
  if (all_steps.is_array()) {
    for (const json& step : all_steps) steps.push_back(&step);
  }
  std::stable_sort(steps.begin(), steps.end(), [](const json* a, const json* b) {
    const double ra = OfferedRate(*a), rb = OfferedRate(*b);
    if (std::isnan(ra) || std::isnan(rb)) return !std::isnan(ra) && std::isnan(rb);
    return ra < rb;
  });
  std::vector<double> offered, committed, p50, p99, p999;
  for (const json* step : steps) {
    const json& latency = Field(*step, "latency_ms");
    offered.push_back(OfferedRate(*step));
    committed.push_back(Number(Field(*step, "throughput_eps")));
    p50.push_back(Number(Field(latency, "p50")));
    p99.push_back(Number(Field(latency, "p99")));
    p999.push_back(Number(Field(latency, "p999")));
  }

  reports::XYChart throughput = NewXYChart(
      "chart-throughput-vs-offered", "Throughput against offered rate", "offered rate (events/s)",
      "committed (events/s)", "events/s", {{"committed/s", "#2ca02c", offered, committed, false}});
  throughput.identity_line = true;
  throughput.identity_label = "committed = offered";

  reports::XYChart latency = NewXYChart("chart-latency-vs-offered", "Latency against offered rate",
                                        "offered rate (events/s)", "latency (ms)", "ms",
                                        {{"p50", "#2ca02c", offered, p50, false},
                                         {"p99", "#d62728", offered, p99, false},
                                         {"p99.9", "#9467bd", offered, p999, true}});
  latency.log_scale_when_wide = true;
  const double target = Number(Field(Field(result, "find_max"), "p99_target_ms"));
  if (std::isfinite(target)) {
    latency.markers.push_back({"p99 target " + FormatNumber(target, 2) + " ms", "#d62728", target});
  }

  std::string out =
      "<section id=\"rate-charts\"><h2>Against offered rate</h2><p>One point per step.</p>"
      "<div class=\"charts\">";
  return out + XYFigure(throughput) + XYFigure(latency) + "</div></section>\n";
}

// A sibling directory name safe to link to: letters, digits, '.', '-', '_', no "..".
bool IsPlainDirName(const std::string& name) {
  if (name.empty() || name.find("..") != std::string::npos) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      return false;
    }
  }
  return true;
}

// With `scaling` rows (`ingestlab load --instances 1,2,4`): the rate each number of ingestd
// instances reached, as a curve and a table with what limited it.
std::string ScalingSection(const json& result) {
  const json& rows = Field(result, "scaling");
  if (!rows.is_array() || rows.empty()) return "";
  std::vector<double> instances, rate, p99;
  std::string table =
      "<table class=\"scaling\"><thead><tr><th class=\"num\">ingestd</th>"
      "<th class=\"num\">rate (ev/s)</th><th class=\"num\">p99 (ms)</th>"
      "<th class=\"num\">CPU busy</th><th>limited by</th><th>verdict</th><th>report</th></tr>"
      "</thead><tbody>";
  for (const json& row : rows) {
    instances.push_back(Number(Field(row, "instances")));
    rate.push_back(Number(Field(row, "rate_eps")));
    p99.push_back(Number(Field(row, "p99_ms")));
    const double cpu = Number(Field(row, "cpu_busy"));
    table += "<tr>" + NumCell(Field(row, "instances"), 0) + NumCell(Field(row, "rate_eps"), 0) +
             NumCell(Field(row, "p99_ms"), 1) + "<td class=\"num\">" +
             (std::isfinite(cpu) ? FormatNumber(cpu * 100, 0) + " %" : std::string("—")) +
             "</td><td>" + HtmlEscape(Text(Field(row, "limited_by"))) + "</td><td>" +
             HtmlEscape(Text(Field(row, "verdict"))) + "</td><td>" +
             (IsPlainDirName(Text(Field(row, "dir")))
                  ? "<a href=\"" + HtmlEscape(Text(Field(row, "dir"))) + "/report.html\">" +
                        HtmlEscape(Text(Field(row, "dir"))) + "</a>"
                  : std::string("—")) +
             "</td></tr>";
  }
  table += "</tbody></table>";
  const reports::XYChart chart =
      NewXYChart("chart-scaling", "Rate against ingestd instances", "ingestd instances",
                 "rate (events/s)", "events/s", {{"rate", "#1f77b4", instances, rate, false}});
  return "<section id=\"scaling\"><h2>Scaling</h2><p>The same load with each number of "
         "ingestd instances, each in a fresh environment; the rate is the highest that held "
         "(a search) or the committed rate. The sections below are the last count's run; each "
         "count has its own report.</p><div class=\"charts\">" +
         XYFigure(chart) + "</div>" + table + "</section>\n";
}

std::string OverTimeSection(const json& result) {
  const json& series = Field(result, "series");
  const std::vector<double> t = reports::SampleTimes(series);
  const double duration = Number(Field(result, "duration_s"));
  const std::vector<reports::ChartSpec> specs = {
      {"chart-load-rates",
       "Offered vs committed rate",
       "rate (events/s)",
       "events/s",
       {{"offered_eps", "offered/s", "#7f7f7f", true},
        {"sent_eps", "sent/s", "#1f77b4", false},
        {"committed_eps", "committed/s", "#2ca02c", false}}},
      {"chart-load-lag",
       "Lag (sent, not yet committed)",
       "lag (events)",
       "events",
       {{"lag", "lag", "#9467bd", false}}},
      {"chart-load-latency",
       "End-to-end latency per second",
       "latency (ms)",
       "ms",
       {{"latency_p50_ms", "p50", "#2ca02c", false}, {"latency_p99_ms", "p99", "#d62728", false}},
       true},
  };
  return reports::ChartsSectionHtml(specs, series, t, {}, duration);
}

std::string StepsTable(const json& result) {
  const auto row = [](const json& step) {
    const json& passed = Field(step, "passed");
    const json& latency = Field(step, "latency_ms");
    std::string out = std::string("<tr class=\"step") +
                      (passed.is_boolean() ? (passed.get<bool>() ? " passed" : " failed") : "") +
                      "\">";
    out += NumCell(Field(step, "index"), 0) + NumCell(Field(step, "rate_eps"), 0) +
           NumCell(Field(step, "duration_s"), 1) + NumCell(Field(step, "offered_eps"), 0) +
           NumCell(Field(step, "sent"), 0) + NumCell(Field(step, "committed"), 0) +
           NumCell(Field(step, "throughput_eps"), 1) + NumCell(Field(step, "uncommitted"), 0) +
           NumCell(Field(step, "late"), 0) + NumCell(Field(step, "end_lag"), 0) +
           NumCell(Field(step, "max_lag"), 0);
    for (const char* key : {"p50", "p90", "p99", "p999", "max"}) {
      out += NumCell(Field(latency, key), 1);
    }
    out += NumCell(Field(Field(step, "publish_latency_ms"), "p99"), 2);
    out += "<td>" + (passed.is_boolean() ? reports::PassBadge(passed.get<bool>()) : "—") + "</td>";
    return out + "<td class=\"detail\">" + HtmlEscape(Text(Field(step, "reason"))) + "</td></tr>";
  };
  return reports::TableSection(
      "steps", "Steps", Field(result, "steps"), "No steps were recorded.",
      "<div class=\"table-scroll\"><table class=\"steps sortable\"><thead><tr><th "
      "class=\"num\">step</th>"
      "<th class=\"num\">rate (ev/s)</th><th class=\"num\">duration (s)</th>"
      "<th class=\"num\">offered (ev/s)</th><th class=\"num\">sent</th>"
      "<th class=\"num\">committed</th><th class=\"num\">throughput (ev/s)</th>"
      "<th class=\"num\">not committed</th><th class=\"num\">sent late</th>"
      "<th class=\"num\">end lag</th><th class=\"num\">max lag</th>"
      "<th class=\"num\">p50 (ms)</th><th class=\"num\">p90 (ms)</th><th class=\"num\">p99 (ms)"
      "</th><th class=\"num\">p99.9 (ms)</th><th class=\"num\">max (ms)</th>"
      "<th class=\"num\">publish p99 (ms)</th><th>result</th><th>reason</th></tr></thead><tbody>",
      row, "</tbody></table></div>");
}

}  // namespace

bool IsLoadResult(const json& result) {
  const json& kind = Field(result, "kind");
  return kind.is_string() && kind.get<std::string>() == "load";
}

Status ValidateLoadResult(const json& result) {
  if (result.is_object() && !IsLoadResult(result)) {
    return Status::InvalidArgument("'kind' must be \"load\"");
  }
  return reports::ValidateNamedResult(result, "workload");
}

std::string RenderLoadReport(const json& recorded) {
  // A result.json from anywhere: no secret (a password in a NATS URL) reaches the page.
  json result = recorded;
  RedactJsonStrings(result);
  const std::string workload = Text(Field(result, "workload"));
  const std::string mode = Text(Field(result, "mode"));
  const std::string title = reports::VerdictWord(Verdict(result)) + " · load " + workload +
                            (mode.empty() ? "" : " (" + mode + ")") + " · ingestlab";

  std::string out = reports::PageHead(title, reports::kLoadReportCss);
  out += "<header><h1>" + HtmlEscape(workload.empty() ? "(unnamed workload)" : workload) +
         " <small>load test" + (mode.empty() ? "" : ", " + HtmlEscape(mode)) + "</small></h1>";
  out += "<nav class=\"toc\">";
  if (Field(result, "find_max").is_object()) out += "<a href=\"#find-max\">highest rate</a>";
  if (Field(result, "scaling").is_array()) out += "<a href=\"#scaling\">scaling</a>";
  out +=
      "<a href=\"#thresholds\">thresholds</a><a href=\"#summary\">summary</a>"
      "<a href=\"#rate-charts\">against offered rate</a><a href=\"#charts\">over time</a>"
      "<a href=\"#steps\">steps</a><a href=\"#latency\">latency</a></nav></header>\n";
  out += VerdictBanner(result);
  out += FindMaxSection(result);
  out += ScalingSection(result);
  out += WorkloadSection(result);
  out += ThresholdTable(result);
  out += SummarySection(result);
  out += RateChartsSection(result);
  out += OverTimeSection(result);
  out += StepsTable(result);
  out += reports::LatencyHistogramSection(result, " (events per latency bucket, log-spaced)");
  out += reports::PageTail();
  return out;
}

Status WriteLoadReport(const json& result, const std::string& out_html) {
  INGEST_RETURN_IF_ERROR(ValidateLoadResult(result).Annotate("load report"));
  return reports::WriteHtmlFile(out_html, RenderLoadReport(result));
}

}  // namespace ingestlab
