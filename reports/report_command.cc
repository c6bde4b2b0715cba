// `ingestlab report` (see report_command.h).
#include "reports/report_command.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/cli.h"
#include "common/status.h"
#include "reports/html_report.h"
#include "reports/load_report.h"
#include "system/json_depth.h"

namespace ingestlab {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitWriteFailed = 1;

constexpr const char* kDescription =
    "Writes a self-contained HTML report (inline CSS, SVG charts, no network needed).\n"
    "  one RUN_DIR      the run's report: verdict, scenario, assertions, charts with fault\n"
    "                   bands, per-service and per-type tables, offending events\n"
    "  several RUN_DIRs a suite index (failed runs first) at FILE.html, and each run's report\n"
    "                   at RUN_DIR/report.html, linked from the index\n"
    "A RUN_DIR holds result.json (written by `ingestlab run`); a result.json path works too,\n"
    "and a folder of run directories (an `ingestlab run --out` folder) stands for all of them.\n"
    "A load test's result.json (written by `ingestlab load`) gets the load report: thresholds,\n"
    "throughput and latency against offered rate, steps, the highest sustainable rate.";

struct LoadedRun {
  fs::path dir;          // the run directory
  fs::path result_path;  // its result.json
  json result;
};

int ReportUsageError(const std::string& message) {
  return UsageError("report", message, std::cerr);
}

// The result.json files a RUN_DIR argument stands for, or an error naming what is missing.
Result<std::vector<fs::path>> ResultFilesFor(const std::string& arg) {
  std::error_code ec;
  const fs::path path(arg);
  if (fs::is_regular_file(path, ec)) return std::vector<fs::path>{path};
  if (!fs::is_directory(path, ec)) {
    return Status::NotFound(arg + ": no such run directory or result.json");
  }
  const fs::path direct = path / "result.json";
  if (fs::exists(direct, ec)) return std::vector<fs::path>{direct};
  std::vector<fs::path> nested;
  for (const fs::directory_entry& entry : fs::directory_iterator(path, ec)) {
    std::error_code entry_ec;
    if (entry.is_directory(entry_ec) &&
        fs::is_regular_file(entry.path() / "result.json", entry_ec)) {
      nested.push_back(entry.path() / "result.json");
    }
  }
  if (nested.empty()) return Status::NotFound(direct.string() + ": no such file");
  std::sort(nested.begin(), nested.end());
  return nested;
}

Result<LoadedRun> LoadRun(const fs::path& result_path) {
  std::ifstream file(result_path, std::ios::binary);
  if (!file) return Status::NotFound(result_path.string() + ": cannot be read");
  std::ostringstream text;
  text << file.rdbuf();
  LoadedRun run;
  run.result_path = result_path;
  run.dir = result_path.parent_path().empty() ? fs::path(".") : result_path.parent_path();
  // A result.json may come from anywhere; rendering walks and dumps it recursively, so one nested
  // far deeper than ingestlab writes (a few levels) is refused before parsing.
  if (JsonNestedDeeperThan(text.str(), 64)) {
    return Status::InvalidArgument(result_path.string() +
                                   ": not a result.json: nested deeper than 64 levels");
  }
  try {
    run.result = json::parse(text.str());
  } catch (const json::parse_error& e) {
    return Status::InvalidArgument(result_path.string() + ": not valid JSON (byte " +
                                   std::to_string(e.byte) + ")");
  }
  Status valid =
      IsLoadResult(run.result) ? ValidateLoadResult(run.result) : ValidateResult(run.result);
  if (!valid.ok()) {
    return Status::InvalidArgument(result_path.string() +
                                   ": not a result.json: " + valid.message());
  }
  return run;
}

// The path of `target` relative to the directory `from_dir`, with '/' separators.
std::string RelativeLink(const fs::path& target, const fs::path& from_dir) {
  std::error_code ec;
  const fs::path absolute_target = fs::weakly_canonical(fs::absolute(target), ec);
  const fs::path absolute_from = fs::weakly_canonical(fs::absolute(from_dir), ec);
  fs::path relative = absolute_target.lexically_relative(absolute_from);
  if (relative.empty()) relative = absolute_target;
  return relative.generic_string();
}

// The report a result calls for: the load report for a load test, the run report otherwise.
Status WriteReport(const json& result, const std::string& out_html) {
  return IsLoadResult(result) ? WriteLoadReport(result, out_html)
                              : WriteRunReport(result, out_html);
}

bool SamePath(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  return fs::weakly_canonical(fs::absolute(a), ec) == fs::weakly_canonical(fs::absolute(b), ec);
}

}  // namespace

int RunReportCommand(int argc, char** argv) {
  std::vector<std::string> run_args;
  std::string output;
  CLI::App app{kDescription, "ingestlab report"};
  SetUsageLine(app, "usage: ingestlab report RUN_DIR... -o FILE.html");
  app.get_formatter()->column_width(20);
  app.set_help_flag("-h,--help", "this text");
  app.footer("exit: 0 written, 1 could not write, 2 bad usage or a missing/invalid result.json");
  // As before CLI11: a repeated -o takes its last value; `--` ends the options.
  app.add_option("RUN_DIR", run_args, "run directories, result.json files or folders of runs");
  app.add_option("-o,--output", output, "where to write the report (required)")
      ->type_name("FILE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  if (auto exit_code = ParseCommandLine(app, "report", argc, argv, std::cout, std::cerr)) {
    return *exit_code;
  }
  if (run_args.empty()) return ReportUsageError("no RUN_DIR given");
  if (output.empty()) return ReportUsageError("no output file given: add -o FILE.html");

  std::vector<LoadedRun> runs;
  for (const std::string& arg : run_args) {
    Result<std::vector<fs::path>> files = ResultFilesFor(arg);
    if (!files.ok()) {
      std::cerr << "ingestlab report: " << files.status().message() << "\n";
      return kExitUsage;
    }
    for (const fs::path& file : *files) {
      const bool seen = std::any_of(runs.begin(), runs.end(), [&](const LoadedRun& r) {
        return SamePath(r.result_path, file);
      });
      if (seen) continue;
      Result<LoadedRun> run = LoadRun(file);
      if (!run.ok()) {
        std::cerr << "ingestlab report: " << run.status().message() << "\n";
        return kExitUsage;
      }
      runs.push_back(std::move(run).value());
    }
  }

  const fs::path output_path(output);
  if (runs.size() == 1) {
    Status written = WriteReport(runs.front().result, output);
    if (!written.ok()) {
      std::cerr << "ingestlab report: " << written.message() << "\n";
      return kExitWriteFailed;
    }
    std::cout << "ingestlab report: wrote " << output << "\n";
    return kExitOk;
  }

  // A suite: each run's report in its run directory (or beside the index), then the index.
  const fs::path index_dir =
      output_path.parent_path().empty() ? fs::path(".") : output_path.parent_path();
  std::vector<std::pair<std::string, json>> index_rows;
  for (size_t i = 0; i < runs.size(); ++i) {
    const LoadedRun& run = runs[i];
    fs::path report_path = run.dir / "report.html";
    if (SamePath(report_path, output_path)) {
      return ReportUsageError("-o " + output + " would overwrite the report of run " +
                              run.dir.string());
    }
    Status written = WriteReport(run.result, report_path.string());
    if (!written.ok()) {
      const std::string beside = output_path.stem().string() + "-run" + std::to_string(i + 1) +
                                 "-" + run.dir.filename().string() + ".html";
      report_path = index_dir / beside;
      Status fallback = WriteReport(run.result, report_path.string());
      if (!fallback.ok()) {
        std::cerr << "ingestlab report: " << written.message() << "; " << fallback.message()
                  << "\n";
        return kExitWriteFailed;
      }
    }
    index_rows.emplace_back(RelativeLink(report_path, index_dir), run.result);
  }
  Status written = WriteSuiteIndex(index_rows, output);
  if (!written.ok()) {
    std::cerr << "ingestlab report: " << written.message() << "\n";
    return kExitWriteFailed;
  }
  std::cout << "ingestlab report: wrote " << output << " (suite of " << runs.size()
            << " runs; run reports linked from it)\n";
  return kExitOk;
}

}  // namespace ingestlab
