// Summary table and JUnit XML.
#include "harness/run_output.h"

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "reports/html_util.h"

namespace ingestlab {
namespace {

// Text for JUnit XML: control characters XML 1.0 forbids become spaces, then the HTML escapes
// (which XML reads the same way).
std::string XmlEscape(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') c = ' ';
  }
  return reports::HtmlEscape(s);
}

std::string Dots(const std::string& label, size_t width) {
  std::string out = label + " ";
  while (out.size() < width) out += '.';
  return out + " ";
}

std::string Fixed(double v, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << v;
  return out.str();
}

double J(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0;
}

}  // namespace

std::string FormatMeasured(double value, const std::string& unit) {
  if (!std::isfinite(value)) return "never";
  std::ostringstream out;
  if (value == std::floor(value) && std::fabs(value) < 1e12) {
    out << static_cast<int64_t>(value);
  } else {
    out << std::fixed << std::setprecision(std::fabs(value) < 10 ? 3 : 1) << value;
  }
  if (!unit.empty()) out << " " << unit;
  return out.str();
}

std::string FormatRunSummary(const RunOutcome& run, bool color) {
  const char* green = color ? "\x1b[32m" : "";
  const char* red = color ? "\x1b[31m" : "";
  const char* reset = color ? "\x1b[0m" : "";
  std::ostringstream out;
  const bool pass = run.verdict == "pass";
  out << "\n  scenario " << run.scenario << " (seed " << run.seed << ")  " << (pass ? green : red)
      << (run.verdict == "pass"   ? "PASS"
          : run.verdict == "fail" ? "FAIL"
                                  : "ERROR")
      << reset << "  " << Fixed(run.duration_s, 1) << "s  " << run.run_dir << "\n";
  if (!run.error.empty()) out << "    " << red << "error: " << run.error << reset << "\n";
  for (const auto& a : run.evaluation.results) {
    out << "    " << (a.passed ? green : red) << (a.passed ? "✓ " : "✗ ") << reset
        << Dots(a.name, 34) << FormatMeasured(a.measured, a.unit) << "  (" << a.op << " "
        << FormatMeasured(a.threshold, a.unit) << ")\n";
    if (!a.passed) out << "        " << a.detail << "\n";
  }
  const auto& r = run.result;
  if (r.contains("metrics")) {
    const auto& m = r["metrics"];
    const double secs = std::max(0.001, J(r, "duration_s"));
    out << "\n";
    out << "    " << Dots("published", 26) << FormatMeasured(J(m, "published"), "") << "  acked "
        << FormatMeasured(J(m, "acked"), "") << ", failed "
        << FormatMeasured(J(m, "publish_failed"), "") << ", shortfall "
        << FormatMeasured(J(m, "shortfall"), "") << "\n";
    out << "    " << Dots("applied", 26) << FormatMeasured(J(m, "applied"), "") << "  "
        << Fixed(J(m, "throughput_eps"), 1) << "/s during load\n";
    // A system under test without metrics has no counters to show.
    const bool counters = !r.contains("system") || r["system"].value("counters", true);
    if (counters) {
      out << "    " << Dots("duplicates / redeliveries", 26) << FormatMeasured(J(m, "duplicates"), "")
          << " / " << FormatMeasured(J(m, "redeliveries"), "") << "\n";
    }
    if (m.contains("dead_letters")) {
      const auto& d = m["dead_letters"];
      out << "    " << Dots("dead letters", 26) << "parse " << FormatMeasured(J(d, "parse"), "")
          << ", schema " << FormatMeasured(J(d, "schema"), "") << ", max_deliveries "
          << FormatMeasured(J(d, "max_deliveries"), "") << "\n";
    }
    if (m.contains("latency_ms")) {
      const auto& l = m["latency_ms"];
      out << "    " << Dots("latency", 26) << "p50=" << Fixed(J(l, "p50"), 1)
          << "ms p95=" << Fixed(J(l, "p95"), 1) << "ms p99=" << Fixed(J(l, "p99"), 1)
          << "ms max=" << Fixed(J(l, "max"), 1) << "ms\n";
    }
    if (counters) {
      out << "    " << Dots("retries / reconnects", 26) << FormatMeasured(J(m, "retries"), "")
          << " / " << FormatMeasured(J(m, "reconnects"), "") << "\n";
    } else {
      out << "    " << Dots("counters", 26) << "none: the system under test exports no metrics\n";
    }
    (void)secs;
  }
  if (run.verdict == "fail" && !run.run_dir.empty() && !r.contains("replay_of")) {
    out << "\n    reproduce: ingestlab replay " << run.run_dir
        << "    smallest failing log: ingestlab shrink " << run.run_dir << "\n";
  }
  return out.str();
}

std::string FormatJUnit(const std::vector<RunOutcome>& runs) {
  size_t tests = 0, failures = 0, errors = 0;
  double time = 0;
  for (const auto& r : runs) {
    tests += r.evaluation.results.empty() ? 1 : r.evaluation.results.size();
    for (const auto& a : r.evaluation.results) failures += a.passed ? 0 : 1;
    if (r.verdict == "error") ++errors;
    time += r.duration_s;
  }
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << "<testsuites name=\"ingestlab\" tests=\"" << tests << "\" failures=\"" << failures
      << "\" errors=\"" << errors << "\" time=\"" << Fixed(time, 3) << "\">\n";
  for (const auto& r : runs) {
    size_t f = 0;
    for (const auto& a : r.evaluation.results) f += a.passed ? 0 : 1;
    const size_t n = r.evaluation.results.empty() ? 1 : r.evaluation.results.size();
    out << "  <testsuite name=\"" << XmlEscape(r.scenario) << "\" tests=\"" << n << "\" failures=\""
        << f << "\" errors=\"" << (r.verdict == "error" ? 1 : 0) << "\" time=\""
        << Fixed(r.duration_s, 3) << "\">\n";
    out << "    <properties><property name=\"seed\" value=\"" << r.seed
        << "\"/><property name=\"run_dir\" value=\"" << XmlEscape(r.run_dir)
        << "\"/></properties>\n";
    const std::string classname = "ingestlab." + XmlEscape(r.scenario);
    if (r.evaluation.results.empty()) {
      out << "    <testcase classname=\"" << classname << "\" name=\"run\" time=\""
          << Fixed(r.duration_s, 3) << "\">";
      if (r.verdict == "error") {
        out << "<error message=\"" << XmlEscape(r.error) << "\">" << XmlEscape(r.error)
            << "</error>";
      }
      out << "</testcase>\n";
    }
    for (const auto& a : r.evaluation.results) {
      out << "    <testcase classname=\"" << classname << "\" name=\"" << XmlEscape(a.name)
          << "\" time=\"0\">";
      if (!a.passed) {
        const std::string message = "measured " + FormatMeasured(a.measured, a.unit) +
                                    ", threshold " + a.op + " " +
                                    FormatMeasured(a.threshold, a.unit);
        out << "<failure message=\"" << XmlEscape(message) << "\" type=\"" << XmlEscape(a.kind)
            << "\">" << XmlEscape(message + "\n" + a.detail) << "</failure>";
      }
      if (r.verdict == "error" && !r.error.empty() && &a == &r.evaluation.results.front()) {
        out << "<system-err>" << XmlEscape(r.error) << "</system-err>";
      }
      out << "</testcase>\n";
    }
    out << "  </testsuite>\n";
  }
  out << "</testsuites>\n";
  return out.str();
}

}  // namespace ingestlab
