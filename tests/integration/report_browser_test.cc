// A run report and a suite index rendered by a real browser (Debian's headless chromium):
// the page renders to a non-trivial screenshot, its DOM after scripts ran has every chart,
// band and assertion row, no script error was recorded, hostile values did not execute and
// nothing was fetched from the network. Skipped (with a warning) where chromium is missing.
//
// Set INGESTLAB_KEEP_REPORT_ARTIFACTS=1 to keep the HTML, PNG and DOM dumps for a look.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/html_report.h"
#include "simulators/encoding.h"
#include "tests/support/cli.h"
#include "tests/support/result_json.h"

using namespace ingestlab;
using nlohmann::json;
using namespace ingestlab::testing;  // RunAssertion, RunMetricsJson, ... (result_json.h)
namespace fs = std::filesystem;

namespace {

constexpr auto kBrowserTimeout = std::chrono::seconds(30);

std::string FindChromium() {
  if (const char* configured = std::getenv("INGESTLAB_CHROMIUM")) {
    if (access(configured, X_OK) == 0) return configured;
  }
  for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (access(candidate, X_OK) == 0) return candidate;
  }
  return "";
}

struct ProcessOutcome {
  bool timed_out = false;
  int exit_status = -1;
};

// Runs argv in its own process group with stdout and stderr sent to files; kills the whole
// group when it outlives the timeout, and always reaps leftovers of the group afterwards.
ProcessOutcome RunProcess(const std::vector<std::string>& args, const fs::path& stdout_path,
                          const fs::path& stderr_path) {
  std::vector<char*> argv;
  std::vector<std::string> copies = args;
  for (std::string& a : copies) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    const int out = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out >= 0) dup2(out, STDOUT_FILENO);
    if (err >= 0) dup2(err, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  ProcessOutcome outcome;
  if (pid < 0) return outcome;
  setpgid(pid, pid);
  const auto deadline = std::chrono::steady_clock::now() + kBrowserTimeout;
  int status = 0;
  while (true) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      outcome.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      outcome.timed_out = true;
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(-pid, SIGKILL);  // helper processes of this browser's group, if any outlived it
  return outcome;
}

std::string ReadText(const fs::path& path) { return ingestlab::testing::ReadFileBytes(path); }

size_t Count(const std::string& haystack, const std::string& needle) {
  return ingestlab::testing::CountOccurrences(haystack, needle);
}

std::string ElementById(const std::string& dom, const std::string& tag, const std::string& id) {
  const std::regex open("<" + tag + "[^>]*\\bid=\"" + id + "\"");
  std::smatch m;
  if (!std::regex_search(dom, m, open)) return "";
  const size_t start = static_cast<size_t>(m.position(0));
  const size_t end = dom.find("</" + tag + ">", start);
  return dom.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

class Browser {
 public:
  Browser(std::string binary, fs::path work_dir)
      : binary_(std::move(binary)), work_dir_(std::move(work_dir)) {}

  std::vector<std::string> BaseArgs(const std::string& profile) const {
    return {binary_, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions",
            "--user-data-dir=" + (work_dir_ / ("profile-" + profile)).string(),
            "--enable-logging=stderr", "--v=0",
            // Lets timers and queued events (such as policy violation reports) run first.
            "--virtual-time-budget=3000"};
  }

  // The DOM after scripts ran, as chromium serializes it.
  std::string DumpDom(const fs::path& html, const std::string& name) const {
    std::string ignored_log;
    return DumpDom(html, name, &ignored_log);
  }

  // The same, also returning the browser's log (console messages appear as "INFO:CONSOLE").
  std::string DumpDom(const fs::path& html, const std::string& name, std::string* log) const {
    std::vector<std::string> args = BaseArgs(name + "-dom");
    args.push_back("--dump-dom");
    args.push_back("file://" + html.string());
    const fs::path out = work_dir_ / (name + ".dom.html");
    const fs::path err = work_dir_ / (name + ".dom.stderr");
    const ProcessOutcome outcome = RunProcess(args, out, err);
    *log = ReadText(err);
    INFO("chromium --dump-dom stderr: " << log->substr(0, 2000));
    CHECK_FALSE(outcome.timed_out);
    CHECK(outcome.exit_status == 0);
    return ReadText(out);
  }

  // Renders the page to a PNG of 1280x2000 and returns its path.
  fs::path Screenshot(const fs::path& html, const std::string& name) const {
    const fs::path png = work_dir_ / (name + ".png");
    std::vector<std::string> args = BaseArgs(name + "-png");
    args.push_back("--screenshot=" + png.string());
    args.push_back("--window-size=1280,2000");
    args.push_back("--hide-scrollbars");
    args.push_back("file://" + html.string());
    const fs::path err = work_dir_ / (name + ".png.stderr");
    const ProcessOutcome outcome = RunProcess(args, work_dir_ / (name + ".png.stdout"), err);
    INFO("chromium --screenshot stderr: " << ReadText(err).substr(0, 2000));
    CHECK_FALSE(outcome.timed_out);
    CHECK(outcome.exit_status == 0);
    return png;
  }

 private:
  std::string binary_;
  fs::path work_dir_;
};

struct PngSize {
  uint32_t width = 0, height = 0;
};

// Width and height from the IHDR chunk, or zero when the file is not a PNG.
PngSize ReadPngSize(const std::string& bytes) {
  static const std::string kSignature = "\x89PNG\r\n\x1a\n";
  PngSize size;
  if (bytes.size() < 24 || bytes.compare(0, 8, kSignature) != 0) return size;
  if (bytes.compare(12, 4, "IHDR") != 0) return size;
  const auto be32 = [&](size_t at) {
    return (uint32_t(uint8_t(bytes[at])) << 24) | (uint32_t(uint8_t(bytes[at + 1])) << 16) |
           (uint32_t(uint8_t(bytes[at + 2])) << 8) | uint32_t(uint8_t(bytes[at + 3]));
  };
  size.width = be32(16);
  size.height = be32(20);
  return size;
}

// A failing run as `ingestlab run` writes it: 120 one-second samples, three faults, four
// assertions (no_loss and latency fail), offending events, and a hostile description that
// would mark the page if it ever executed.
json BrowserSampleResult() {
  json series;
  for (const char* key :
       {"t_s", "publish_rate", "ingest_rate", "lag", "latency_p50_ms", "latency_p95_ms",
        "latency_p99_ms", "retries", "dead_letters", "reconnects"}) {
    series[key] = json::array();
  }
  for (int i = 0; i < 120; ++i) {
    const bool ingestd_down = i >= 30 && i < 42;
    const bool catching_up = i >= 42 && i < 55;
    const double wave = (i * 37 % 11) * 4.0;
    series["t_s"].push_back(i);
    series["publish_rate"].push_back(i < 5 ? 200.0 * i : 1000.0 + wave);
    series["ingest_rate"].push_back(ingestd_down  ? 0.0
                                    : catching_up ? 1900.0 - wave
                                                  : 990.0 + wave);
    series["lag"].push_back(ingestd_down  ? 1000.0 * (i - 29)
                            : catching_up ? 12000.0 - 900.0 * (i - 42)
                                          : 15.0 + wave);
    series["latency_p50_ms"].push_back(catching_up ? 2500.0 - 150.0 * (i - 42) : 3.0 + wave / 20);
    series["latency_p95_ms"].push_back(catching_up ? 5200.0 - 300.0 * (i - 42) : 8.0 + wave / 10);
    series["latency_p99_ms"].push_back(catching_up ? 6400.0 - 360.0 * (i - 42) : 14.0 + wave / 5);
    series["retries"].push_back(i >= 80 && i < 90 ? 6 + i % 3 : 0);
    series["dead_letters"].push_back(i % 17 == 5 ? 3 : 0);
    series["reconnects"].push_back(i == 42 || i == 86 ? 2 : 0);
  }
  json offending = json::array();
  const std::vector<std::string> payloads = {
      R"({"specversion":"1.0","id":"billing-7-1042","source":"billing","type":"billing.purchase.completed","orgid":"org-3","subject":"cust-118","data":{"amount":129.5,"currency":"EUR"}})",
      "{\"customer_id\":\"c-9\",\"event_type\":\"note\",\"text\":\"<script>document."
      "documentElement.setAttribute('data-pwned','payload')</script>\"}",
      std::string("binary\x01\x02\xff tail"),
  };
  const std::vector<std::string> problems = {"missing", "applied twice", "unexpected dead letter"};
  const std::vector<std::string> observed = {"absent", "applied 2 times", "dead-lettered (schema)"};
  for (size_t i = 0; i < payloads.size(); ++i) {
    offending.push_back({{"event_id", "billing-7-" + std::to_string(1042 + i)},
                         {"problem", problems[i]},
                         {"expected", "applied once"},
                         {"observed", observed[i]},
                         {"service", "billing"},
                         {"type", "billing.purchase.completed"},
                         {"subject", "billing.purchase.completed"},
                         {"payload_b64", sim::Base64Encode(payloads[i])}});
  }
  return {
      {"format", 1},
      {"scenario", "kill-ingestd <mid-stream>"},
      {"description",
       "ingestd is killed with SIGKILL under load and restarted; a broker is cut. "
       "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','description')\">"},
      {"seed", 42},
      {"verdict", "fail"},
      {"error", ""},
      {"started_at_ms", 1763910000000LL},
      {"duration_s", 120.4},
      {"command", "ingestlab run scenarios/kill_ingestd.yaml --seed 42 --out runs"},
      {"versions", RunVersions("447c058")},
      {"topology", {{"nats_nodes", 3}, {"kafka_brokers", 3}, {"ingestd", 1}}},
      {"assertions",
       {RunAssertion("no loss", "no_loss", false, 1, 0, "<=", "events",
                     "120000 acked: 119850 applied, 100 duplicates, 49 dead-lettered, 1 missing"),
        RunAssertion("exactly once", "exactly_once", false, 1, 0, "<=", "events",
                     "1 event applied twice"),
        RunAssertion("dead letters are the malformed ones", "dlq", true, 49, 49, "==", "events",
                     ""),
        RunAssertion("latency p99 outside faults", "latency", true, 22.4, 25, "<=", "ms", "")}},
      {"metrics",
       RunMetricsJson(
           {.published = 120000, .acked = 120000, .applied = 119850, .duplicates = 100,
            .redeliveries = 812, .parse_dead_letters = 20, .schema_dead_letters = 29,
            .p50_ms = 3.4, .p95_ms = 9.8, .p99_ms = 22.4, .max_ms = 6480.0,
            .throughput_eps = 996.7, .retries = 70, .reconnects = 4,
            .per_service = {{"billing", ServiceMetrics(30000, 29960, 12, 21.0)},
                            {"auth", ServiceMetrics(30000, 29990, 10, 19.5)},
                            {"learning", ServiceMetrics(30000, 29950, 15, 24.0)},
                            {"crm", ServiceMetrics(30000, 29950, 12, 23.1)}},
            .per_type = {{"billing.purchase.completed", TypeMetrics(20000, 3.2, 20.0)},
                         {"auth.user.login.failed", TypeMetrics(9990, 2.9, 18.0)},
                         {"learning.activity.completed", TypeMetrics(29950, 3.6, 24.0)},
                         {"crm.lead.converted", TypeMetrics(29950, 3.5, 23.1)}}})},
      {"timeline",
       {RunFault(30.0, 42.0, "kill_ingestd", "ingestd-0", {{"signal", "KILL"}}),
        RunFault(80.0, 90.0, "kafka_broker_down", "broker-2", json::object()),
        RunFault(100.0, nullptr, "nats_leader_step_down", "BILLING", json::object())}},
      {"series", series},
      {"latency_histogram",
       {{"bounds_ms", {0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000}},
        {"counts", {120, 4100, 31000, 52000, 26000, 5100, 400, 120, 90, 80, 100, 250, 300, 40}}}},
      {"offending_events", offending},
      {"state_digest", "5d41402abc4b2a76b9719d911017c592ae0a8f7c5d41402abc4b2a76b9719d91"}};
}

struct WorkDir {
  fs::path path;
  bool keep;
  explicit WorkDir(const std::string& name)
      : path(fs::temp_directory_path() /
             ("ingestlab-browser-" + std::to_string(getpid()) + "-" + name)),
        keep(std::getenv("INGESTLAB_KEEP_REPORT_ARTIFACTS") != nullptr) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~WorkDir() {
    if (keep) {
      WARN("report browser artifacts kept in " << path.string());
    } else {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
};

// What every browser case starts with: chromium, a work dir named for the case and a browser
// on it. Without chromium installed ready() is false (with a warning) and the case returns.
struct BrowserCase {
  explicit BrowserCase(const std::string& name)
      : chromium(FindChromium()), work(name), browser(chromium, work.path) {
    if (!ready()) {
      WARN("skipped: chromium is not installed (apt-get install chromium; scripts/setup.sh does)");
    }
  }
  bool ready() const { return !chromium.empty(); }

  // `page` with `extra` inserted before </body>, written to the work dir as <name>.html.
  fs::path WritePage(std::string page, const std::string& extra, const std::string& name) const {
    page.insert(page.find("</body>"), extra);
    const fs::path html = work.path / (name + ".html");
    std::ofstream(html) << page;
    return html;
  }

  const std::string chromium;
  WorkDir work;
  Browser browser;
};

const std::vector<std::string> kTimeCharts = {"chart-rates", "chart-latency", "chart-lag",
                                              "chart-failures", "chart-reconnects"};

}  // namespace

TEST_CASE("a run report renders in headless chromium with every chart, band and row") {
  BrowserCase c("run");
  if (!c.ready()) return;
  const json result = BrowserSampleResult();
  const fs::path html = c.work.path / "report.html";
  REQUIRE(WriteRunReport(result, html.string()).ok());
  const std::string source = ReadText(html);

  SECTION("the page references nothing outside itself") {
    CHECK_FALSE(std::regex_search(
        source,
        std::regex(R"re((src|href|action)\s*=\s*["']?\s*(https?:)?//)re", std::regex::icase)));
    CHECK(source.find("url(") == std::string::npos);
    CHECK(source.find("@import") == std::string::npos);
    CHECK(source.size() < 300 * 1024);
  }

  SECTION("the DOM after scripts ran has the charts, bands and assertion rows") {
    std::string log;
    const std::string dom = c.browser.DumpDom(html, "run", &log);
    REQUIRE_FALSE(dom.empty());
    // The browser's own log: no policy violation and no console message naming a web address.
    CHECK(log.find("Content Security Policy") == std::string::npos);
    CHECK_FALSE(std::regex_search(log, std::regex("CONSOLE[^\n]*https?://")));
    // Scripts ran to the end and recorded no error, blocked request or failed resource.
    CHECK(dom.find("data-report-ready=\"1\"") != std::string::npos);
    const std::regex errors(R"re(data-js-errors="(\d+)")re");
    std::smatch m;
    REQUIRE(std::regex_search(dom, m, errors));
    INFO("start of the DOM: " << dom.substr(0, 400));
    CHECK(m[1].str() == "0");
    // The hostile description and payload stayed text.
    CHECK(dom.find("data-pwned") != std::string::npos);     // present only as escaped text...
    CHECK(dom.find("data-pwned=\"") == std::string::npos);  // ...never as an attribute
    CHECK(Count(dom, "<img") == 0);

    CHECK(Count(dom, "<svg class=\"chart\"") == 6);
    for (const std::string& id : kTimeCharts) {
      const std::string svg = ElementById(dom, "svg", id);
      INFO(id);
      REQUIRE_FALSE(svg.empty());
      CHECK(Count(svg, "<g class=\"fault-band\"") == 3);
      CHECK(svg.find("F1 kill_ingestd") != std::string::npos);
      CHECK(svg.find("F3 nats_leader_step_down") != std::string::npos);
      CHECK(Count(svg, "<path class=\"series\"") >= 1);
    }
    CHECK(Count(ElementById(dom, "svg", "chart-latency-histogram"), "<g class=\"bar\">") == 14);

    const std::string assertions = ElementById(dom, "section", "assertions");
    CHECK(Count(assertions, "<tr class=\"assertion ") == 4);
    CHECK(Count(assertions, "<tr class=\"assertion failed\"") == 2);
    const std::string offending = ElementById(dom, "section", "offending");
    CHECK(Count(offending, "<tr class=\"offending-event") == 3);
    CHECK(offending.find("\"amount\": 129.5") != std::string::npos);
    CHECK(offending.find("binary\\x01\\x02\\xff tail") != std::string::npos);
    CHECK(Count(ElementById(dom, "section", "types"), "<tr><td") == 4);
    // The sort script made the breakdown tables' headers focusable.
    CHECK(ElementById(dom, "section", "services").find("tabindex=\"0\"") != std::string::npos);
  }

  SECTION("the screenshot is a full-size, non-trivial image") {
    const fs::path png = c.browser.Screenshot(html, "run");
    REQUIRE(fs::exists(png));
    const std::string bytes = ReadText(png);
    const PngSize size = ReadPngSize(bytes);
    CHECK(size.width == 1280);
    CHECK(size.height == 2000);
    // A blank 1280x2000 page compresses to a few KB; text, tables and charts do not.
    CHECK(bytes.size() > 60 * 1024);
  }
}

TEST_CASE("the browser check notices an external request (the detector works)") {
  BrowserCase c("canary");
  if (!c.ready()) return;
  // 127.0.0.1:9 (discard) on loopback: nothing leaves the machine even if it were fetched.
  const std::string canary = "<img src=\"http://127.0.0.1:9/canary.png\" alt=\"\">";
  const fs::path html = c.WritePage(RenderRunReport(BrowserSampleResult()), canary, "canary");
  std::string log;
  const std::string dom = c.browser.DumpDom(html, "canary", &log);
  CHECK(log.find("violates the following Content Security Policy") != std::string::npos);
  CHECK(std::regex_search(log, std::regex("CONSOLE[^\n]*http://127.0.0.1:9/canary.png")));
  const std::regex errors(R"re(data-js-errors="(\d+)")re");
  std::smatch m;
  REQUIRE(std::regex_search(dom, m, errors));
  CHECK(std::stoi(m[1].str()) >= 1);
  CHECK(dom.find("blocked by content policy") != std::string::npos);
}

TEST_CASE("hovering a time chart shows the values and active faults at that second") {
  BrowserCase c("hover");
  if (!c.ready()) return;
  // After the report's own script: move the mouse over t = 35 s of the latency chart and
  // record what the readout then says.
  const std::string hover = R"js(<script>
    (function () {
      var svg = document.getElementById('chart-latency');
      var r = svg.getBoundingClientRect(), scale = r.width / 960;
      var x0 = Number(svg.getAttribute('data-x0')), x1 = Number(svg.getAttribute('data-x1'));
      var vx = 64 + (35 - x0) / (x1 - x0) * 880;
      svg.dispatchEvent(new MouseEvent('mousemove', {
        clientX: r.left + vx * scale, clientY: r.top + 120 * scale, bubbles: true }));
      var tip = svg.parentNode.querySelector('.readout');
      document.documentElement.setAttribute('data-readout',
          !tip ? 'none' : tip.hidden ? 'hidden' : tip.textContent);
    })();
  </script>)js";
  const fs::path html = c.WritePage(RenderRunReport(BrowserSampleResult()), hover, "hover");
  const std::string dom = c.browser.DumpDom(html, "hover");
  CHECK(dom.find("data-js-errors=\"0\"") != std::string::npos);
  std::smatch m;
  REQUIRE(std::regex_search(dom, m, std::regex(R"re(data-readout="([^"]*)")re")));
  const std::string readout = m[1].str();
  INFO("readout: " << readout);
  CHECK(readout.find("t = 35 s") != std::string::npos);
  CHECK(readout.find("p50: 4.6") != std::string::npos);
  CHECK(readout.find("p99: 20.4 ms") != std::string::npos);
  CHECK(readout.find("F1 kill_ingestd") != std::string::npos);
  CHECK(readout.find("F2") == std::string::npos);
  c.browser.Screenshot(html, "hover");
}

TEST_CASE("a suite index renders in headless chromium, failed runs first") {
  BrowserCase c("suite");
  if (!c.ready()) return;
  json passing = BrowserSampleResult();
  passing["scenario"] = "smoke";
  passing["verdict"] = "pass";
  for (json& a : passing["assertions"]) a["passed"] = true;
  json errored = {{"format", 1},
                  {"scenario", "partition"},
                  {"seed", 3},
                  {"verdict", "error"},
                  {"error", "nats-server exited before becoming ready"}};
  const std::vector<std::pair<std::string, json>> runs = {
      {"smoke-42/report.html", passing},
      {"partition-3/report.html", errored},
      {"kill-ingestd-42/report.html", BrowserSampleResult()}};
  const fs::path html = c.work.path / "index.html";
  REQUIRE(WriteSuiteIndex(runs, html.string()).ok());
  const std::string dom = c.browser.DumpDom(html, "suite");
  CHECK(dom.find("data-js-errors=\"0\"") != std::string::npos);
  CHECK(dom.find("data-report-ready=\"1\"") != std::string::npos);
  const size_t failed_at = dom.find("href=\"kill-ingestd-42/report.html\"");
  const size_t errored_at = dom.find("href=\"partition-3/report.html\"");
  const size_t passed_at = dom.find("href=\"smoke-42/report.html\"");
  CHECK(failed_at < errored_at);
  CHECK(errored_at < passed_at);
  CHECK(passed_at != std::string::npos);
  const fs::path png = c.browser.Screenshot(html, "suite");
  CHECK(ReadPngSize(ReadText(png)).width == 1280);
}
