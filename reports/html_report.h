// HTML reports: one self-contained page per run (verdict, scenario, assertions, charts with
// fault bands, per-service and per-type tables, offending events) and a suite index.
//
// Input is a run's result.json (format 1, see docs/reports.md). The renderer is tolerant: a
// missing or mistyped field shows as "—" or an empty section instead of failing, so even a
// run that errored before producing measurements gets a readable page. Every value taken from
// the result is HTML-escaped; the page loads nothing from the network (a Content-Security-Policy
// forbids it) and works opened from disk or as a CI artifact.
// Thread-safety: pure functions of their arguments; safe from any thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace ingestlab {

// Checks that a parsed result.json is usable: an object with string "scenario" and a
// "verdict" of "pass", "fail" or "error". The message names the first problem.
Status ValidateResult(const nlohmann::json& result);

// The run report as an HTML document.
std::string RenderRunReport(const nlohmann::json& result);

// A suite index: one row per run (verdict, scenario, seed, published, applied, p99, duration,
// link), failed runs first, then errored, then passed; within a group by scenario and seed.
// Each pair is (link to the run's report, relative to the index; result.json). A load result
// (load_report.h) is a row too, named by its workload and tagged "load", with sent, committed
// and p99 from its "summary"; an index holding one gains a throughput column.
std::string RenderSuiteIndex(const std::vector<std::pair<std::string, nlohmann::json>>& runs);

// Writes RenderRunReport(result) to out_html (replacing it). Fails with InvalidArgument when
// ValidateResult fails, Io when the file cannot be written.
Status WriteRunReport(const nlohmann::json& result, const std::string& out_html);

// Writes RenderSuiteIndex(runs) to out_html. Fails with InvalidArgument when a result is not
// valid (ValidateResult, or ValidateLoadResult for a load result; naming its link), Io when the
// file cannot be written.
Status WriteSuiteIndex(
    const std::vector<std::pair<std::string /*run dir relative link*/, nlohmann::json /*result*/>>&
        runs,
    const std::string& out_html);

}  // namespace ingestlab
