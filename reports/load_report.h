// The HTML report of a load test (`ingestlab load`): verdict, workload, target and mode; the
// find-max result when the test searched for the highest sustainable rate; thresholds; summary
// numbers; throughput and latency against the offered rate; offered vs committed rate, lag and
// latency over time; one row per step; the latency histogram.
//
// Input is a load result.json (format 1 with "kind": "load", see docs/reports.md). The rules are
// the run report's (html_report.h): a missing or mistyped field shows as "—" or an empty section
// instead of failing, every value taken from the result is HTML-escaped (URL credentials are
// redacted first), and the page loads nothing from the network.
// Thread-safety: pure functions of their arguments; safe from any thread.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace ingestlab {

// True when result is an object whose "kind" is "load" (a run result has no "kind").
bool IsLoadResult(const nlohmann::json& result);

// Checks that a parsed load result.json is usable: an object with "kind" "load", a string
// "workload" and a "verdict" of "pass", "fail" or "error"; "format", when a number, must be 1.
// The message names the first problem.
Status ValidateLoadResult(const nlohmann::json& result);

// The load report as an HTML document. Never throws, whatever the JSON holds.
std::string RenderLoadReport(const nlohmann::json& result);

// Writes RenderLoadReport(result) to out_html (replacing it). Fails with InvalidArgument when
// ValidateLoadResult fails, Io when the file cannot be written.
Status WriteLoadReport(const nlohmann::json& result, const std::string& out_html);

}  // namespace ingestlab
