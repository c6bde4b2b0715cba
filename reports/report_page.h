// Building blocks shared by the report pages (the run report, the load report and the suite
// index): tolerant access to a parsed result.json, the verdict banner, facts, table cells and
// table sections, the page frame and the file write.
//
// The accessors never throw: a missing key or a value of another type reads as null, NaN or an
// empty string, so a renderer can walk any JSON. Cell and NumCell return escaped markup; the
// page frame carries the Content-Security-Policy that keeps every report self-contained.
// Thread-safety: pure functions of their arguments (WriteHtmlFile writes the named file); safe
// from any thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "reports/svg_chart.h"

namespace ingestlab::reports {

// object[key], or null when object is not an object or has no such key.
const nlohmann::json& Field(const nlohmann::json& object, const char* key);

// The value as a double; NaN when it is not a number.
double Number(const nlohmann::json& value);

// A string as is, null as "", a number formatted (3 decimals), anything else as compact JSON.
// Not HTML-escaped.
std::string Text(const nlohmann::json& value);

// Every element as Number(); empty when the value is not an array.
std::vector<double> Numbers(const nlohmann::json& array);

// "pass", "fail" or "error" (anything else, or nothing, reads as "error").
std::string Verdict(const nlohmann::json& result);
// A verdict's word on the page: "PASS", "FAIL" or "ERROR" (anything but pass and fail).
std::string VerdictWord(const std::string& verdict);
// The checks every result shares: a string "verdict" of pass, fail or error, and "format" 1
// when given. The message names the first problem.
Status ValidateVerdictAndFormat(const nlohmann::json& result);
// A JSON object with a string field `name_key` (what the run is called: "scenario",
// "workload") and ValidateVerdictAndFormat's checks; the message names the first problem.
Status ValidateNamedResult(const nlohmann::json& result, const char* name_key);

// The checks of result[key] (an array of objects, e.g. "assertions") whose "passed" is not
// true, in order; empty when there is no such array.
std::vector<const nlohmann::json*> FailedChecks(const nlohmann::json& result, const char* key);
// The checks' "name"s, ", "-separated. Not HTML-escaped.
std::string CheckNames(const std::vector<const nlohmann::json*>& checks);

// <section id="verdict">: the verdict's word, `summary` (escaped here) and the result's
// "error" when it has one.
std::string VerdictBannerHtml(const nlohmann::json& result, const std::string& summary);

// A value for a table cell: numbers formatted with up to `decimals` decimals, "—" when absent.
// HTML-escaped.
std::string Cell(const nlohmann::json& value, int decimals = 2);

// A <td class="num"> holding Cell(value) and its raw value in data-value (for sorting).
std::string NumCell(const nlohmann::json& value, int decimals = 2);

// "<=" -> "≤", ">=" -> "≥", "==" -> "=", "!=" -> "≠"; anything else unchanged.
std::string OpSymbol(const std::string& op);

// A key-number tile; label and value are escaped here.
std::string Tile(const std::string& label, const std::string& value);

// "pass" or "FAIL" as a badge.
std::string PassBadge(bool passed);

// One entry of a <dl class="facts">: the name is escaped here, the value is markup.
std::string Fact(const std::string& name, const std::string& escaped_value);
// The "started" (started_at_ms as UTC, "—" when absent or implausible) and "duration"
// (duration_s) facts of a result.
std::string StartedAndDurationFacts(const nlohmann::json& result);

// The page up to and including <body>: charset, the Content-Security-Policy that forbids every
// network request, the title (escaped), the error-capturing script and the stylesheet followed by
// extra_css (trusted markup, e.g. an embedded asset).
std::string PageHead(const std::string& title, const char* extra_css = "");

// The footer, the report script and the closing tags.
std::string PageTail();

// One chart of an "Over time" section; each line reads the series array named by its key.
struct SeriesLine {
  const char* key;    // e.g. "latency_p99_ms"
  const char* name;   // legend text
  const char* color;  // CSS colour
  bool dashed = false;
};
struct ChartSpec {
  const char* id;
  const char* title;
  const char* y_label;
  const char* value_unit;
  std::vector<SeriesLine> lines;
  bool log_scale_when_wide = false;  // see TimeChart
};

// A report section's opening, "<section id=ID><h2>TITLE</h2>", and a whole section that only
// says `note` (nothing to show). Title and note are escaped here.
std::string SectionStart(const std::string& id, const std::string& title);
std::string EmptySection(const std::string& id, const std::string& title, const std::string& note);

// A section holding one table row, row(element), per element of `rows`; EmptySection(id, title,
// empty_note) when rows is not a non-empty array. table_open is the markup from the table (or
// its wrapper) up to and including <tbody>; table_close ends what it opened.
std::string TableSection(const std::string& id, const std::string& title,
                         const nlohmann::json& rows, const std::string& empty_note,
                         const std::string& table_open,
                         const std::function<std::string(const nlohmann::json&)>& row,
                         const std::string& table_close = "</tbody></table>");

// A series object's "t_s"; without it, one second apart (the formats' sampling interval) for as
// many samples as its longest array.
std::vector<double> SampleTimes(const nlohmann::json& series);

// <section id="charts"> "Over time": one figure per spec, over sample times t with the fault
// bands, the x axis at least min_span_s wide (NaN: no minimum).
std::string ChartsSectionHtml(const std::vector<ChartSpec>& specs, const nlohmann::json& series,
                              const std::vector<double>& t, const std::vector<FaultBand>& bands,
                              double min_span_s);

// <section id="latency">: the histogram of the result's "latency_histogram" (bounds_ms and
// counts), captioned with its title followed by caption_note (markup).
std::string LatencyHistogramSection(const nlohmann::json& result, const std::string& caption_note);

// Writes content to path, replacing it. Io when the file cannot be opened or written.
Status WriteHtmlFile(const std::string& path, const std::string& content);

}  // namespace ingestlab::reports
