// Building blocks shared by the report pages (see report_page.h).
#include "reports/report_page.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>

#include "reports/html_util.h"
#include "reports/report_assets.h"

namespace ingestlab::reports {

using nlohmann::json;

const json& Field(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

double Number(const json& value) {
  return value.is_number() ? value.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

std::string Text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  if (value.is_number()) return FormatNumber(value.get<double>(), 3);
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<double> Numbers(const json& array) {
  std::vector<double> out;
  if (!array.is_array()) return out;
  out.reserve(array.size());
  for (const json& v : array) out.push_back(Number(v));
  return out;
}

std::string Verdict(const json& result) {
  const std::string v = Text(Field(result, "verdict"));
  return v == "pass" || v == "fail" || v == "error" ? v : "error";
}

std::string VerdictWord(const std::string& verdict) {
  return verdict == "pass" ? "PASS" : verdict == "fail" ? "FAIL" : "ERROR";
}

std::vector<const json*> FailedChecks(const json& result, const char* key) {
  std::vector<const json*> failed;
  const json& checks = Field(result, key);
  if (!checks.is_array()) return failed;
  for (const json& check : checks) {
    const json& passed = Field(check, "passed");
    if (!passed.is_boolean() || !passed.get<bool>()) failed.push_back(&check);
  }
  return failed;
}

std::string CheckNames(const std::vector<const json*>& checks) {
  std::string names;
  for (size_t i = 0; i < checks.size(); ++i) {
    names += (i ? ", " : "") + Text(Field(*checks[i], "name"));
  }
  return names;
}

std::string VerdictBannerHtml(const json& result, const std::string& summary) {
  const std::string verdict = Verdict(result);
  std::string out = "<section id=\"verdict\" class=\"verdict " + verdict + "\" data-verdict=\"" +
                    verdict + "\"><span class=\"word\">" + VerdictWord(verdict) +
                    "</span><span class=\"summary\">" + HtmlEscape(summary) + "</span>";
  const std::string error = Text(Field(result, "error"));
  if (!error.empty()) {
    out += "<div class=\"error-text\"><strong>Error:</strong> <span class=\"mono\">" +
           HtmlEscape(error) + "</span></div>";
  }
  return out + "</section>\n";
}

std::string Cell(const json& value, int decimals) {
  if (value.is_number()) return HtmlEscape(FormatNumber(value.get<double>(), decimals));
  const std::string text = Text(value);
  return text.empty() ? "—" : HtmlEscape(text);
}

std::string NumCell(const json& value, int decimals) {
  std::string sort_value = value.is_number() ? FormatNumber(value.get<double>(), 6) : "";
  sort_value.erase(std::remove(sort_value.begin(), sort_value.end(), ','), sort_value.end());
  return "<td class=\"num\" data-value=\"" + HtmlEscape(sort_value) + "\">" +
         Cell(value, decimals) + "</td>";
}

std::string OpSymbol(const std::string& op) {
  if (op == "<=") return "≤";
  if (op == ">=") return "≥";
  if (op == "==") return "=";
  if (op == "!=") return "≠";
  return op;
}

std::string Tile(const std::string& label, const std::string& value) {
  return "<div class=\"tile\"><div class=\"label\">" + HtmlEscape(label) +
         "</div><div class=\"value\">" + HtmlEscape(value) + "</div></div>";
}

std::string PassBadge(bool passed) {
  return std::string("<span class=\"badge ") + (passed ? "pass\">pass" : "fail\">FAIL") + "</span>";
}

std::string Fact(const std::string& name, const std::string& escaped_value) {
  return "<dt>" + HtmlEscape(name) + "</dt><dd>" + escaped_value + "</dd>";
}

std::string StartedAndDurationFacts(const json& result) {
  const double started = Number(Field(result, "started_at_ms"));
  return Fact("started", HtmlEscape(std::isfinite(started) && started > 0 && started < 1e15
                                        ? FormatUtcTime(static_cast<int64_t>(started))
                                        : "—")) +
         Fact("duration", HtmlEscape(FormatDuration(Number(Field(result, "duration_s")))));
}

std::string PageHead(const std::string& title, const char* extra_css) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      // The page is self-contained: forbid every network request, allow only inline code.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
      "base-uri 'none'; form-action 'none'\">"
      "<meta name=\"generator\" content=\"ingestlab report\">";
  out += "<title>" + HtmlEscape(title) + "</title>";
  out += "<script>";
  out += kCaptureErrorsJs;
  out += "</script><style>";
  out += kReportCss;
  out += extra_css;
  out += "</style></head>\n<body>\n";
  return out;
}

std::string PageTail() {
  std::string out =
      "<footer>Generated by <code>ingestlab report</code> from result.json "
      "(format 1). Self-contained: open from disk, no network needed.</footer>\n";
  out += "<script>";
  out += kReportJs;
  out += "</script>\n</body></html>\n";
  return out;
}

Status WriteHtmlFile(const std::string& path, const std::string& content) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return Status::Io("cannot open " + path + " for writing");
  file.write(content.data(), static_cast<std::streamsize>(content.size()));
  file.close();
  if (!file) return Status::Io("cannot write " + path);
  return Status::Ok();
}

Status ValidateVerdictAndFormat(const nlohmann::json& result) {
  const nlohmann::json& verdict = Field(result, "verdict");
  if (!verdict.is_string()) return Status::InvalidArgument("missing string field 'verdict'");
  const std::string v = verdict.get<std::string>();
  if (v != "pass" && v != "fail" && v != "error") {
    return Status::InvalidArgument("'verdict' must be pass, fail or error, got \"" + v + "\"");
  }
  const nlohmann::json& format = Field(result, "format");
  if (format.is_number() && format.get<double>() != 1) {
    return Status::InvalidArgument("unsupported result format " + Text(format) + " (expected 1)");
  }
  return Status::Ok();
}

Status ValidateNamedResult(const nlohmann::json& result, const char* name_key) {
  if (!result.is_object()) return Status::InvalidArgument("result is not a JSON object");
  if (!Field(result, name_key).is_string()) {
    return Status::InvalidArgument(std::string("missing string field '") + name_key + "'");
  }
  return ValidateVerdictAndFormat(result);
}

std::string SectionStart(const std::string& id, const std::string& title) {
  return "<section id=\"" + HtmlEscape(id) + "\"><h2>" + HtmlEscape(title) + "</h2>";
}

std::string EmptySection(const std::string& id, const std::string& title, const std::string& note) {
  return SectionStart(id, title) + "<p class=\"empty\">" + HtmlEscape(note) + "</p></section>\n";
}

std::string TableSection(const std::string& id, const std::string& title,
                         const nlohmann::json& rows, const std::string& empty_note,
                         const std::string& table_open,
                         const std::function<std::string(const nlohmann::json&)>& row,
                         const std::string& table_close) {
  if (!rows.is_array() || rows.empty()) return EmptySection(id, title, empty_note);
  std::string out = SectionStart(id, title) + table_open;
  for (const nlohmann::json& element : rows) out += row(element);
  return out + table_close + "</section>\n";
}

std::vector<double> SampleTimes(const nlohmann::json& series) {
  std::vector<double> t = Numbers(Field(series, "t_s"));
  if (t.empty() && series.is_object()) {
    size_t longest = 0;
    for (const nlohmann::json& values : series) {
      if (values.is_array()) longest = std::max(longest, values.size());
    }
    for (size_t i = 0; i < longest; ++i) t.push_back(static_cast<double>(i));
  }
  return t;
}

std::string ChartsSectionHtml(const std::vector<ChartSpec>& specs, const nlohmann::json& series,
                              const std::vector<double>& t, const std::vector<FaultBand>& bands,
                              double min_span_s) {
  std::string out = "<section id=\"charts\"><h2>Over time</h2><div class=\"charts\">";
  for (const ChartSpec& spec : specs) {
    TimeChart chart;
    chart.id = spec.id;
    chart.title = spec.title;
    chart.y_label = spec.y_label;
    chart.value_unit = spec.value_unit;
    chart.t_s = t;
    for (const SeriesLine& l : spec.lines) {
      chart.lines.push_back({l.name, l.color, Numbers(Field(series, l.key)), l.dashed});
    }
    chart.bands = bands;
    chart.min_span_s = std::isfinite(min_span_s) ? min_span_s : 0;
    chart.log_scale_when_wide = spec.log_scale_when_wide;
    out += "<figure class=\"chart-box time-chart\"><figcaption>" + HtmlEscape(spec.title) +
           "</figcaption>" + RenderTimeChart(chart) + "</figure>";
  }
  return out + "</div></section>\n";
}

std::string LatencyHistogramSection(const nlohmann::json& result, const std::string& caption_note) {
  const nlohmann::json& histogram = Field(result, "latency_histogram");
  Histogram h;
  h.id = "chart-latency-histogram";
  h.title = "End-to-end latency distribution";
  h.bounds_ms = Numbers(Field(histogram, "bounds_ms"));
  h.counts = Numbers(Field(histogram, "counts"));
  return "<section id=\"latency\"><h2>Latency distribution</h2>"
         "<figure class=\"chart-box\"><figcaption>" +
         HtmlEscape(h.title) + caption_note + "</figcaption>" + RenderHistogram(h) +
         "</figure></section>\n";
}

}  // namespace ingestlab::reports
