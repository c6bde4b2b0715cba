// HTML run reports and suite indexes (see html_report.h).
#include "reports/html_report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "common/redact.h"
#include "reports/html_util.h"
#include "reports/load_report.h"
#include "reports/report_assets.h"
#include "reports/report_page.h"
#include "reports/svg_chart.h"

namespace ingestlab {
namespace {

using nlohmann::json;
using reports::FormatCompact;
using reports::FormatDuration;
using reports::FormatNumber;
using reports::HtmlEscape;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Payload text shown per offending event; the rest is summarised ("… N more bytes").
constexpr size_t kMaxPayloadChars = 1500;
constexpr size_t kMaxOffendingEvents = 400;  // 100 of each problem the checks name

// Tolerant access to result.json (a missing or mistyped field never throws), table cells and
// the page frame: reports/report_page.h.
using reports::Cell;
using reports::Fact;
using reports::Field;
using reports::Number;
using reports::NumCell;
using reports::OpSymbol;
using reports::PageHead;
using reports::PageTail;
using reports::Text;
using reports::Tile;
using reports::Verdict;

// "p99_ms" -> "p99 (ms)", "dead_letters" -> "dead letters".
std::string ColumnLabel(std::string key) {
  std::string unit;
  if (key.size() > 3 && key.compare(key.size() - 3, 3, "_ms") == 0) {
    key.resize(key.size() - 3);
    unit = " (ms)";
  }
  std::replace(key.begin(), key.end(), '_', ' ');
  return key + unit;
}

// ---- Run report sections ----

std::string VerdictBanner(const json& result) {
  const std::string verdict = Verdict(result);
  const json& assertions = Field(result, "assertions");
  const size_t total = assertions.is_array() ? assertions.size() : 0;
  const std::vector<const json*> failed = reports::FailedChecks(result, "assertions");
  std::string summary;
  if (verdict == "error") {
    summary = "the run could not be carried out";
  } else if (failed.empty()) {
    summary = total == 0 ? "no assertions were checked"
                         : "all " + std::to_string(total) + " assertions held";
  } else {
    summary = std::to_string(failed.size()) + " of " + std::to_string(total) +
              " assertions failed: " + reports::CheckNames(failed);
  }
  return reports::VerdictBannerHtml(result, summary);
}

std::string ObjectSummary(const json& object) {
  if (!object.is_object() || object.empty()) return "—";
  std::string out;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (!out.empty()) out += ", ";
    out += it.key() + " " + Text(it.value());
  }
  return HtmlEscape(out);
}

std::string ScenarioSection(const json& result) {
  std::string out = "<section id=\"scenario\"><h2>Scenario</h2><dl class=\"facts\">";
  out += Fact("scenario", Cell(Field(result, "scenario")));
  out += Fact("seed", Cell(Field(result, "seed"), 0));
  out += reports::StartedAndDurationFacts(result);
  out += Fact("topology", ObjectSummary(Field(result, "topology")));
  out += Fact("versions", ObjectSummary(Field(result, "versions")));
  const json& replay_of = Field(result, "replay_of");
  if (replay_of.is_object()) out += Fact("replay of", ObjectSummary(replay_of));
  const std::string digest = Text(Field(result, "state_digest"));
  out += Fact("state digest",
              "<span class=\"mono\">" + (digest.empty() ? "—" : HtmlEscape(digest)) + "</span>");
  out += "</dl>";
  const std::string command = Text(Field(result, "command"));
  const std::string run_dir = Text(Field(result, "run_dir"));
  out += "<h3>Reproduce</h3><pre class=\"command\"><code>" +
         (command.empty() ? "(not recorded)" : HtmlEscape(command)) + "</code></pre>";
  if (!run_dir.empty()) {
    out += "<p>or re-send this run's exact messages and faults:</p><pre class=\"command\"><code>" +
           HtmlEscape("ingestlab replay " + run_dir) + "</code></pre>";
  }
  out += "</section>\n";
  return out;
}

double DeadLetterTotal(const json& metrics) {
  const json& dead = Field(metrics, "dead_letters");
  if (dead.is_number()) return dead.get<double>();
  if (!dead.is_object()) return kNaN;
  double total = 0;
  for (const json& v : dead) total += v.is_number() ? v.get<double>() : 0;
  return total;
}

std::string KeyNumbers(const json& result) {
  const json& m = Field(result, "metrics");
  const json& latency = Field(m, "latency_ms");
  const auto count = [&](const char* key) { return FormatNumber(Number(Field(m, key)), 0); };
  const auto ms = [&](const char* key) {
    const double v = Number(Field(latency, key));
    return std::isfinite(v) ? FormatNumber(v, 1) + " ms" : "—";
  };
  std::string out = "<section id=\"summary\"><h2>Key numbers</h2><div class=\"tiles\">";
  out += Tile("published", count("published"));
  out += Tile("acked", count("acked"));
  out += Tile("publish failed", count("publish_failed"));
  out += Tile("shortfall", count("shortfall"));
  out += Tile("applied", count("applied"));
  out += Tile("duplicates", count("duplicates"));
  out += Tile("redeliveries", count("redeliveries"));
  out += Tile("dead letters", FormatNumber(DeadLetterTotal(m), 0));
  out += Tile("latency p50", ms("p50"));
  out += Tile("latency p95", ms("p95"));
  out += Tile("latency p99", ms("p99"));
  out += Tile("latency max", ms("max"));
  const double eps = Number(Field(m, "throughput_eps"));
  out += Tile("throughput", std::isfinite(eps) ? FormatNumber(eps, 0) + " ev/s" : "—");
  out += Tile("retries", count("retries"));
  out += Tile("reconnects", count("reconnects"));
  out += "</div></section>\n";
  return out;
}

std::string AssertionTable(const json& result) {
  const auto row = [](const json& a) {
    const bool passed = Field(a, "passed").is_boolean() && Field(a, "passed").get<bool>();
    const std::string unit = Text(Field(a, "unit"));
    const std::string unit_suffix = unit.empty() ? "" : " " + HtmlEscape(unit);
    std::string out = std::string("<tr class=\"assertion ") + (passed ? "passed" : "failed") +
                      "\" data-kind=\"" + HtmlEscape(Text(Field(a, "kind"))) + "\">";
    out += "<td>" + reports::PassBadge(passed) + "</td>";
    out += "<td>" + Cell(Field(a, "name")) + "</td>";
    out += "<td class=\"mono\">" + Cell(Field(a, "kind")) + "</td>";
    out += "<td class=\"num\">" + Cell(Field(a, "measured"), 3) + unit_suffix + "</td>";
    const std::string op = Text(Field(a, "op"));
    out += "<td class=\"num\">" + HtmlEscape(OpSymbol(op)) + (op.empty() ? "" : " ") +
           Cell(Field(a, "threshold"), 3) + unit_suffix + "</td>";
    return out + "<td class=\"detail\">" + HtmlEscape(Text(Field(a, "detail"))) + "</td></tr>";
  };
  return reports::TableSection(
      "assertions", "Assertions", Field(result, "assertions"), "No assertions were checked.",
      "<table class=\"assertions\"><thead><tr><th>result</th><th>assertion</th><th>kind</th>"
      "<th class=\"num\">measured</th><th class=\"num\">threshold</th><th>detail</th></tr>"
      "</thead><tbody>",
      row);
}

// Stretches where events waited, nothing was committed and no fault was active (result.json
// "stalls"): latency that no fault explains. Nothing is shown for a run without any.
std::string StallsSection(const json& result) {
  const json& stalls = Field(result, "stalls");
  if (!stalls.is_array() || stalls.empty()) return "";
  std::string out =
      "<section id=\"stalls\"><h2>Stalls</h2><p>Nothing was committed or dead-lettered while "
      "events waited, and no fault was active (nor undone less than 5 s before): latency no "
      "fault explains.</p><table class=\"timeline\"><thead><tr><th class=\"num\">from</th>"
      "<th class=\"num\">until</th><th class=\"num\">lasting</th><th class=\"num\">events "
      "waiting (max)</th></tr></thead><tbody>";
  for (const json& st : stalls) {
    const double from = Number(Field(st, "from_s"));
    const double to = Number(Field(st, "to_s"));
    out +=
        "<tr class=\"stall\"><td class=\"num\">" + HtmlEscape(FormatNumber(from, 1)) +
        " s</td><td class=\"num\">" + HtmlEscape(FormatNumber(to, 1)) +
        " s</td><td class=\"num\">" +
        (std::isfinite(from) && std::isfinite(to) ? HtmlEscape(FormatDuration(to - from)) : "—") +
        "</td><td class=\"num\">" + Cell(Field(st, "max_lag")) + "</td></tr>";
  }
  return out + "</tbody></table></section>\n";
}

std::vector<reports::FaultBand> FaultBands(const json& result) {
  std::vector<reports::FaultBand> bands;
  const json& timeline = Field(result, "timeline");
  if (!timeline.is_array()) return bands;
  int number = 0;
  for (const json& fault : timeline) {
    reports::FaultBand band;
    band.number = ++number;
    band.from_s = Number(Field(fault, "at_s"));
    if (!std::isfinite(band.from_s)) band.from_s = 0;
    band.until_s = Number(Field(fault, "until_s"));
    if (!std::isfinite(band.until_s)) band.until_s = band.from_s;
    band.label = Text(Field(fault, "action"));
    const std::string target = Text(Field(fault, "target"));
    band.tooltip = "F" + std::to_string(band.number) + " " + band.label +
                   (target.empty() ? "" : " " + target) + ": " + FormatNumber(band.from_s, 1) +
                   " s";
    if (band.until_s > band.from_s) band.tooltip += " to " + FormatNumber(band.until_s, 1) + " s";
    bands.push_back(std::move(band));
  }
  return bands;
}

std::string TimelineSection(const json& result) {
  int number = 0;
  const auto row = [&number](const json& fault) {
    const double at = Number(Field(fault, "at_s"));
    const double until = Number(Field(fault, "until_s"));
    const json& params = Field(fault, "params");
    std::string out =
        "<tr class=\"fault\"><td class=\"fault-id\">F" + std::to_string(++number) + "</td>";
    out += "<td class=\"num\">" + HtmlEscape(FormatNumber(at, 1)) + " s</td>";
    out += "<td class=\"num\">" +
           (std::isfinite(until) ? HtmlEscape(FormatNumber(until, 1)) + " s" : "—") + "</td>";
    out += "<td class=\"num\">" +
           (std::isfinite(until) && std::isfinite(at) ? HtmlEscape(FormatDuration(until - at))
                                                      : "instant") +
           "</td>";
    out += "<td class=\"mono\">" + Cell(Field(fault, "action")) + "</td>";
    out += "<td class=\"mono\">" + Cell(Field(fault, "target")) + "</td>";
    return out + "<td class=\"mono\">" +
           (params.is_object() && !params.empty() ? HtmlEscape(Text(params)) : "—") + "</td></tr>";
  };
  return reports::TableSection(
      "timeline", "Fault timeline", Field(result, "timeline"), "No faults were injected.",
      "<table class=\"timeline\"><thead><tr><th>fault</th><th class=\"num\">from</th>"
      "<th class=\"num\">until</th><th class=\"num\">lasting</th><th>action</th><th>target</th>"
      "<th>parameters</th></tr></thead><tbody>",
      row);
}

std::string ChartsSection(const json& result) {
  const json& series = Field(result, "series");
  const std::vector<double> t = reports::SampleTimes(series);
  const std::vector<reports::FaultBand> bands = FaultBands(result);
  const double duration = Number(Field(result, "duration_s"));

  const std::vector<reports::ChartSpec> specs = {
      {"chart-rates",
       "Publish vs ingest rate",
       "rate (events/s)",
       "events/s",
       {{"publish_rate", "published/s", "#1f77b4", false},
        {"ingest_rate", "ingested/s", "#2ca02c", false}}},
      {"chart-latency",
       "End-to-end latency (publish to commit)",
       "latency (ms)",
       "ms",
       {{"latency_p50_ms", "p50", "#2ca02c", false},
        {"latency_p95_ms", "p95", "#ff7f0e", false},
        {"latency_p99_ms", "p99", "#d62728", false}},
       true},
      {"chart-lag",
       "Consumer lag (published, not yet applied)",
       "lag (events)",
       "events",
       {{"lag", "lag", "#9467bd", false}}},
      {"chart-failures",
       "Retries and dead letters",
       "events per second",
       "/s",
       {{"retries", "retries", "#ff7f0e", false},
        {"dead_letters", "dead letters", "#d62728", true}}},
      {"chart-reconnects",
       "Reconnects (NATS and Kafka clients)",
       "reconnects per second",
       "/s",
       {{"reconnects", "reconnects", "#8c564b", false}}},
  };
  return reports::ChartsSectionHtml(specs, series, t, bands, duration) +
         reports::LatencyHistogramSection(result, " (events per latency bucket)");
}

// A table with one row per key of `rows` (an object of objects); columns are the preferred
// keys that occur, then any other keys in name order.
std::string BreakdownTable(const char* section_id, const char* heading, const char* first_column,
                           const json& rows, const std::vector<std::string>& preferred) {
  if (!rows.is_object() || rows.empty()) {
    return reports::EmptySection(section_id, heading, "Nothing recorded.");
  }
  std::set<std::string> present;
  for (const json& row : rows) {
    if (!row.is_object()) continue;
    for (auto it = row.begin(); it != row.end(); ++it) present.insert(it.key());
  }
  std::vector<std::string> columns;
  for (const std::string& key : preferred) {
    if (present.erase(key)) columns.push_back(key);
  }
  columns.insert(columns.end(), present.begin(), present.end());
  std::string out = reports::SectionStart(section_id, heading) +
                    "<table class=\"breakdown sortable\"><thead><tr><th>" + first_column + "</th>";
  for (const std::string& c : columns) {
    out += "<th class=\"num\">" + HtmlEscape(ColumnLabel(c)) + "</th>";
  }
  out += "</tr></thead><tbody>";
  for (auto it = rows.begin(); it != rows.end(); ++it) {
    out += "<tr><td class=\"mono\">" + HtmlEscape(it.key()) + "</td>";
    for (const std::string& c : columns) {
      const bool is_ms = c.size() > 3 && c.compare(c.size() - 3, 3, "_ms") == 0;
      out += NumCell(Field(it.value(), c.c_str()), is_ms ? 1 : 0);
    }
    out += "</tr>";
  }
  out += "</tbody></table></section>\n";
  return out;
}

std::string DeadLetterSection(const json& result) {
  const json& dead = Field(Field(result, "metrics"), "dead_letters");
  if (!dead.is_object() || dead.empty()) {
    return reports::EmptySection("dead-letters", "Dead letters by reason", "Nothing recorded.");
  }
  std::string out = reports::SectionStart("dead-letters", "Dead letters by reason") +
                    "<table class=\"dead-letter-reasons\"><thead><tr><th>reason</th>"
                    "<th class=\"num\">events</th></tr></thead><tbody>";
  for (auto it = dead.begin(); it != dead.end(); ++it) {
    out += "<tr><td class=\"mono\">" + HtmlEscape(it.key()) + "</td>" + NumCell(it.value(), 0) +
           "</tr>";
  }
  out += "</tbody></table></section>\n";
  return out;
}

// A `context:` run's reads of the context API (result.json "context"): how many, their
// answers and latency, the sources partial answers missed, and each circuit breaker's state
// changes. Nothing is shown for a run without context reads.
std::string ContextSection(const json& result) {
  const json& context = Field(result, "context");
  if (!context.is_object()) return "";
  std::string out = reports::SectionStart("context", "Context API reads");
  const json& latency = Field(context, "latency_ms");
  std::string statuses;
  if (Field(context, "statuses").is_object()) {
    for (const auto& [status, count] : Field(context, "statuses").items()) {
      statuses += (statuses.empty() ? "" : ", ") + HtmlEscape(status) + ": " + Cell(count, 0);
    }
  }
  std::string missing;
  if (Field(context, "missing_sources").is_object()) {
    for (const auto& [source, count] : Field(context, "missing_sources").items()) {
      missing += (missing.empty() ? "" : ", ") + HtmlEscape(source) + " " + Cell(count, 0);
    }
  }
  out += "<p>" + Cell(Field(context, "reads"), 0) + " reads (" +
         Cell(Field(context, "cross_tenant_reads"), 0) + " with another organisation's token); " +
         "answers " + (statuses.empty() ? "none" : statuses) + "; latency p50 " +
         Cell(Field(latency, "p50"), 0) + " ms, p95 " + Cell(Field(latency, "p95"), 0) + " ms, p99 " +
         Cell(Field(latency, "p99"), 0) + " ms, max " + Cell(Field(latency, "max"), 0) + " ms; " +
         Cell(Field(context, "partial"), 0) + " partial" +
         (missing.empty() ? "" : " (missing " + missing + ")") +
         ". Every read is in <code>context-reads.jsonl</code>.</p>";
  const json& breakers = Field(context, "breakers");
  if (breakers.is_object() && !breakers.empty()) {
    out +=
        "<table class=\"timeline\"><thead><tr><th>instance / service</th><th>circuit breaker "
        "(seconds after the start: state)</th></tr></thead><tbody>";
    for (const auto& [name, changes] : breakers.items()) {
      std::string cell;
      if (changes.is_array()) {
        for (const json& c : changes) {
          if (!c.is_array() || c.size() != 2) continue;
          cell += (cell.empty() ? "" : " → ") + HtmlEscape(FormatNumber(Number(c[0]), 1)) +
                  " s: " + Cell(c[1]);
        }
      }
      out += "<tr><td class=\"mono\">" + HtmlEscape(name) + "</td><td>" + cell + "</td></tr>";
    }
    out += "</tbody></table>";
  }
  return out + "</section>\n";
}

// The reference model's comparison, table by table: rows compared, mismatches, and the first
// differing rows of each table that has any.
std::string ReferenceModelSection(const json& result) {
  const json& model = Field(result, "reference_model");
  if (!model.is_object()) return "";
  std::string out = reports::SectionStart("reference-model", "Reference model");
  const std::string note = Text(Field(model, "note"));
  if (!Field(model, "checked").is_boolean() || !Field(model, "checked").get<bool>()) {
    return out + "<p class=\"failed\">The reference model did not run: " + HtmlEscape(note) +
           "</p></section>\n";
  }
  const json& tables = Field(model, "tables");
  if (!tables.is_array() || tables.empty()) {
    return reports::EmptySection("reference-model", "Reference model", "Nothing compared.");
  }
  out +=
      "<p>The final state of every table, recomputed from the recorded publishes and compared "
      "with the store row by row and column by column.</p>"
      "<table class=\"reference-model\"><thead><tr><th>table</th><th class=\"num\">rows "
      "compared</th><th class=\"num\">expected</th><th class=\"num\">in the store</th>"
      "<th class=\"num\">mismatches</th></tr></thead><tbody>";
  for (const json& t : tables) {
    const bool bad = Number(Field(t, "mismatches")) > 0;
    out += std::string("<tr") + (bad ? " class=\"failed\"" : "") + "><td class=\"mono\">" +
           Cell(Field(t, "table")) + "</td>" + NumCell(Field(t, "rows_compared"), 0) +
           NumCell(Field(t, "expected_rows"), 0) + NumCell(Field(t, "observed_rows"), 0) +
           NumCell(Field(t, "mismatches"), 0) + "</tr>";
  }
  out += "</tbody></table>";
  for (const json& t : tables) {
    const json& first = Field(t, "first_differences");
    if (!first.is_array() || first.empty()) continue;
    out += "<h3 class=\"mono\">" + Cell(Field(t, "table")) + "</h3>";
    out +=
        "<table class=\"model-differences\"><thead><tr><th>column</th><th>key</th>"
        "<th>expected</th><th>observed</th></tr></thead><tbody>";
    for (const json& d : first) {
      out += "<tr class=\"failed\"><td class=\"mono\">" + Cell(Field(d, "what")) +
             "</td><td class=\"mono\">" + Cell(Field(d, "key")) + "</td><td class=\"mono\">" +
             Cell(Field(d, "expected")) + "</td><td class=\"mono\">" + Cell(Field(d, "observed")) +
             "</td></tr>";
    }
    out += "</tbody></table>";
    const double more = Number(Field(t, "mismatches")) - static_cast<double>(first.size());
    if (more > 0) {
      out += "<p class=\"more\">" + std::to_string(static_cast<int64_t>(more)) +
             " more differences in this table not shown.</p>";
    }
  }
  return out + "</section>\n";
}

std::string OffendingEventsSection(const json& result) {
  const json& events = Field(result, "offending_events");
  bool event_check_failed = false;
  for (const json* a : reports::FailedChecks(result, "assertions")) {
    const std::string kind = Text(Field(*a, "kind"));
    if (kind == "no_loss" || kind == "exactly_once" || kind == "dlq" || kind == "dead_letters" ||
        kind == "state") {
      event_check_failed = true;
    }
  }
  const bool any = events.is_array() && !events.empty();
  if (!any && !event_check_failed) return "";
  std::string out = "<section id=\"offending\"><h2>Offending events</h2>";
  if (!any) {
    return out +
           "<p class=\"empty\">An event check failed but the run recorded no offending "
           "events.</p></section>\n";
  }
  out +=
      "<p>Events behind the failed no-loss / exactly-once / dead-letter checks: what was "
      "expected of each, what was observed, and the payload as published (decoded from "
      "base64).</p>";
  out +=
      "<table class=\"offending\"><thead><tr><th>#</th><th>event</th><th>problem</th>"
      "<th>expected → observed</th><th>payload</th></tr></thead><tbody>";
  size_t shown = 0;
  for (const json& e : events) {
    if (shown == kMaxOffendingEvents) break;
    ++shown;
    out +=
        "<tr class=\"offending-event failed\"><td class=\"num\">" + std::to_string(shown) + "</td>";
    out += "<td><div class=\"mono\">" + Cell(Field(e, "event_id")) + "</div>";
    const auto line = [&](const char* label, const char* key) {
      const std::string v = Text(Field(e, key));
      if (!v.empty()) {
        out += "<div class=\"detail\">" + std::string(label) + ": <span class=\"mono\">" +
               HtmlEscape(v) + "</span></div>";
      }
    };
    line("service", "service");
    line("type", "type");
    line("subject", "subject");
    out += "</td><td><strong>" + Cell(Field(e, "problem")) + "</strong></td>";
    out += "<td>" + Cell(Field(e, "expected")) + " → " + Cell(Field(e, "observed")) + "</td>";
    const std::string payload =
        reports::DisplayPayload(Text(Field(e, "payload_b64")), kMaxPayloadChars);
    out += "<td class=\"payload\">" +
           (payload.empty() ? std::string("<span class=\"empty\">(no payload recorded)</span>")
                            : "<pre>" + HtmlEscape(payload) + "</pre>") +
           "</td></tr>";
  }
  out += "</tbody></table>";
  if (events.size() > shown) {
    out += "<p class=\"detail\">" + std::to_string(events.size() - shown) +
           " more offending events not shown.</p>";
  }
  return out + "</section>\n";
}

}  // namespace

Status ValidateResult(const json& result) {
  return reports::ValidateNamedResult(result, "scenario");
}

std::string RenderRunReport(const json& recorded) {
  // A result.json from anywhere (an older ingestlab, another tool): no secret reaches the page.
  json result = recorded;
  RedactJsonStrings(result);
  const std::string scenario = Text(Field(result, "scenario"));
  const std::string seed = Text(Field(result, "seed"));
  const std::string title = reports::VerdictWord(Verdict(result)) + " · " + scenario +
                            (seed.empty() ? "" : " seed " + seed) + " · ingestlab";

  std::string out = PageHead(title);
  out += "<header><h1>" + HtmlEscape(scenario.empty() ? "(unnamed scenario)" : scenario) +
         (seed.empty() ? "" : " <small>seed " + HtmlEscape(seed) + "</small>") + "</h1>";
  const std::string description = Text(Field(result, "description"));
  if (!description.empty()) {
    out += "<p class=\"description\">" + HtmlEscape(description) + "</p>";
  }
  out +=
      "<nav class=\"toc\"><a href=\"#assertions\">assertions</a><a href=\"#timeline\">faults"
      "</a><a href=\"#charts\">charts</a><a href=\"#latency\">latency</a><a href=\"#services\">"
      "services</a><a href=\"#types\">event types</a>";
  if (Field(result, "stalls").is_array() && !Field(result, "stalls").empty()) {
    out += "<a href=\"#stalls\">stalls</a>";
  }
  if (Field(result, "context").is_object()) out += "<a href=\"#context\">context reads</a>";
  if (Field(result, "reference_model").is_object()) {
    out += "<a href=\"#reference-model\">reference model</a>";
  }
  if (Field(result, "offending_events").is_array() && !Field(result, "offending_events").empty()) {
    out += "<a href=\"#offending\">offending events</a>";
  }
  out += "</nav></header>\n";
  out += VerdictBanner(result);
  out += ScenarioSection(result);
  out += AssertionTable(result);
  out += KeyNumbers(result);
  out += TimelineSection(result);
  out += StallsSection(result);
  out += ChartsSection(result);
  const json& metrics = Field(result, "metrics");
  out += BreakdownTable("services", "Per service", "service", Field(metrics, "per_service"),
                        {"published", "applied", "duplicates", "dead_letters", "p50_ms", "p99_ms"});
  out += BreakdownTable("types", "Per event type", "type", Field(metrics, "per_type"),
                        {"published", "applied", "duplicates", "dead_letters", "p50_ms", "p99_ms"});
  out += DeadLetterSection(result);
  out += ContextSection(result);
  out += ReferenceModelSection(result);
  out += OffendingEventsSection(result);
  out += PageTail();
  return out;
}

namespace {

// What a suite index row calls a run: the scenario, or a load test's workload.
std::string RunName(const json& result) {
  return Text(Field(result, IsLoadResult(result) ? "workload" : "scenario"));
}

// The names of a run's failed checks (`key` "assertions" or "thresholds"), comma-separated;
// an empty name adds no separator.
std::string FailedCheckNames(const json& result, const char* key) {
  std::string names;
  for (const json* check : reports::FailedChecks(result, key)) {
    names += (names.empty() ? "" : ", ") + Text(Field(*check, "name"));
  }
  return names;
}

}  // namespace

std::string RenderSuiteIndex(const std::vector<std::pair<std::string, json>>& recorded) {
  std::vector<std::pair<std::string, json>> runs = recorded;
  for (auto& [link, result] : runs) RedactJsonStrings(result);
  // Load tests get a throughput column and a "load" tag; an index of runs alone stays as it was.
  const bool any_load = std::any_of(runs.begin(), runs.end(),
                                    [](const auto& run) { return IsLoadResult(run.second); });
  const auto rank = [](const json& r) {
    const std::string v = Verdict(r);
    return v == "fail" ? 0 : v == "error" ? 1 : 2;
  };
  std::vector<size_t> order(runs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const json& ra = runs[a].second;
    const json& rb = runs[b].second;
    if (rank(ra) != rank(rb)) return rank(ra) < rank(rb);
    const std::string sa = RunName(ra), sb = RunName(rb);
    if (sa != sb) return sa < sb;
    return Number(Field(ra, "seed")) < Number(Field(rb, "seed"));
  });

  size_t failed = 0, errored = 0;
  for (const auto& [link, r] : runs) {
    failed += Verdict(r) == "fail";
    errored += Verdict(r) == "error";
  }
  const std::string verdict = failed ? "fail" : errored ? "error" : "pass";
  std::string out = PageHead(std::string(verdict == "pass" ? "PASS" : "FAIL") +
                                 " · ingestlab suite of " + std::to_string(runs.size()) + " runs",
                             any_load ? reports::kLoadReportCss : "");
  out += "<header><h1>ingestlab suite: " + std::to_string(runs.size()) + " runs</h1></header>\n";
  std::string summary = std::to_string(runs.size() - failed - errored) + " passed, " +
                        std::to_string(failed) + " failed, " + std::to_string(errored) +
                        " could not run";
  out += "<section id=\"verdict\" class=\"verdict " + verdict + "\" data-verdict=\"" + verdict +
         "\"><span class=\"word\">" + (verdict == "pass" ? "PASS" : "FAIL") +
         "</span><span class=\"summary\">" + HtmlEscape(summary) + "</span></section>\n";

  if (any_load) {
    out +=
        "<section id=\"runs\"><h2>Runs</h2><table class=\"runs sortable\"><thead><tr>"
        "<th>verdict</th><th>scenario / workload</th><th class=\"num\">seed</th>"
        "<th class=\"num\">published (sent)</th><th class=\"num\">applied (committed)</th>"
        "<th class=\"num\">throughput (ev/s)</th>"
        "<th class=\"num\">p99 (ms)</th><th class=\"num\">duration (s)</th>"
        "<th>failed assertions / thresholds / error</th><th>report</th></tr></thead><tbody>";
  } else {
    out +=
        "<section id=\"runs\"><h2>Runs</h2><table class=\"runs sortable\"><thead><tr>"
        "<th>verdict</th><th>scenario</th><th class=\"num\">seed</th>"
        "<th class=\"num\">published</th><th class=\"num\">applied</th>"
        "<th class=\"num\">p99 (ms)</th><th class=\"num\">duration (s)</th>"
        "<th>failed assertions / error</th><th>report</th></tr></thead><tbody>";
  }
  for (size_t index : order) {
    const std::string& link = runs[index].first;
    const json& r = runs[index].second;
    const std::string v = Verdict(r);
    const bool load = IsLoadResult(r);
    // A load test's numbers are in "summary": sent, committed, throughput and p99.
    const json& m = Field(r, load ? "summary" : "metrics");
    const std::string href = reports::UrlEncodePath(link);
    out += "<tr class=\"run" +
           std::string(v == "fail"    ? " failed"
                       : v == "error" ? " errored"
                                      : "") +
           "\" data-verdict=\"" + v + "\">";
    out += "<td><span class=\"badge " + v + "\">" +
           (v == "pass"   ? "pass"
            : v == "fail" ? "FAIL"
                          : "ERROR") +
           "</span></td>";
    out += "<td><a href=\"" + href + "\">" + Cell(Field(r, load ? "workload" : "scenario")) +
           "</a>" + (load ? "<span class=\"kind-tag\">load</span>" : "") + "</td>";
    out += NumCell(Field(r, "seed"), 0);
    out += NumCell(Field(m, load ? "sent" : "published"), 0);
    out += NumCell(Field(m, load ? "committed" : "applied"), 0);
    if (any_load) out += NumCell(Field(m, "throughput_eps"), 1);
    out += NumCell(Field(Field(m, "latency_ms"), "p99"), 1);
    out += NumCell(Field(r, "duration_s"), 1);
    std::string problems;
    if (v == "error") {
      problems = Text(Field(r, "error"));
    } else {
      problems = FailedCheckNames(r, load ? "thresholds" : "assertions");
    }
    out += "<td class=\"detail\">" + HtmlEscape(problems) + "</td>";
    out += "<td><a href=\"" + href + "\">report</a></td></tr>";
  }
  out += "</tbody></table></section>\n";
  out += PageTail();
  return out;
}

Status WriteRunReport(const json& result, const std::string& out_html) {
  INGEST_RETURN_IF_ERROR(ValidateResult(result).Annotate("run report"));
  return reports::WriteHtmlFile(out_html, RenderRunReport(result));
}

Status WriteSuiteIndex(const std::vector<std::pair<std::string, json>>& runs,
                       const std::string& out_html) {
  for (const auto& [link, result] : runs) {
    const Status valid = IsLoadResult(result) ? ValidateLoadResult(result) : ValidateResult(result);
    INGEST_RETURN_IF_ERROR(valid.Annotate("suite index: run " + link));
  }
  return reports::WriteHtmlFile(out_html, RenderSuiteIndex(runs));
}

}  // namespace ingestlab
