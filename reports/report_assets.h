// The report's stylesheet and scripts, embedded from reports/assets/ at build time
// (see reports/CMakeLists.txt), so a report is one self-contained HTML file.
// Thread-safety: immutable data.
#pragma once

namespace ingestlab::reports {

extern const char kReportCss[];        // assets/report.css
extern const char kReportJs[];         // assets/report.js: table sorting; marks the page ready
extern const char kCaptureErrorsJs[];  // assets/capture_errors.js: runs first, records errors
extern const char kLoadReportCss[];    // assets/load_report.css: load pages only, after kReportCss

}  // namespace ingestlab::reports
