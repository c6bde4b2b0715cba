// Specification of the shared seams: Rng determinism, Status, Metrics rendering, AnswerHelp.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "common/cli.h"
#include "common/rng.h"
#include "common/status.h"
#include "system/metrics.h"
#include "tests/support/text_checks.h"

using namespace ingestlab;

TEST_CASE("Rng is a deterministic function of its seed") {
  Rng a(42), b(42), c(43);
  std::vector<uint64_t> va, vb, vc;
  for (int i = 0; i < 100; ++i) {
    va.push_back(a.NextU64());
    vb.push_back(b.NextU64());
    vc.push_back(c.NextU64());
  }
  CHECK(va == vb);
  CHECK(va != vc);

  SECTION("the same seed gives the same first values on every platform") {
    Rng r(1);
    // Pinned: a change here changes every recorded run's choices.
    CHECK(r.NextU64() == Rng(1).NextU64());
    Rng fixed(0);
    const uint64_t first = fixed.NextU64();
    CHECK(first == 0x99ec5f36cb75f2b4ULL);
  }
  SECTION("Fork streams are independent of each other and of the parent's use") {
    Rng p(7);
    Rng f1 = p.Fork("billing");
    p.NextU64();
    Rng f2 = p.Fork("billing");
    CHECK(f1.NextU64() == f2.NextU64());
    CHECK(p.Fork("auth").NextU64() != p.Fork("billing").NextU64());
  }
  SECTION("Uniform and Range stay in bounds and cover them") {
    Rng r(3);
    std::vector<int> seen(6, 0);
    for (int i = 0; i < 6000; ++i) {
      const int64_t v = r.Range(10, 15);
      REQUIRE(v >= 10);
      REQUIRE(v <= 15);
      seen[v - 10]++;
    }
    for (int n : seen) CHECK(n > 800);
  }
  SECTION("Chance approximates its probability") {
    Rng r(5);
    int hits = 0;
    for (int i = 0; i < 20000; ++i) hits += r.Chance(0.25);
    CHECK(hits > 4600);
    CHECK(hits < 5400);
  }
}

TEST_CASE("Status carries a code and an annotated message") {
  Status s = Status::Schema("data.amount: must be >= 0").Annotate("billing.purchase.completed");
  CHECK_FALSE(s.ok());
  CHECK(s.code() == Status::Code::kSchema);
  CHECK(s.ToString() == "schema: billing.purchase.completed: data.amount: must be >= 0");
  Result<int> r = Status::Transient("busy");
  CHECK_FALSE(r.ok());
  CHECK(r.status().is_transient());
  Result<int> v = 3;
  REQUIRE(v.ok());
  CHECK(*v == 3);
}

TEST_CASE("Metrics render as Prometheus text") {
  Metrics m;
  m.counter("ingest_received_total", "Messages received", {{"transport", "nats"}})->Inc(3);
  m.gauge("ingest_lag", "Lag", {{"consumer", "BILLING"}})->Set(12);
  auto* h = m.histogram("ingest_latency_ms", "Latency", {1, 10, 100});
  h->Observe(0.5);
  h->Observe(5);
  h->Observe(50);
  h->Observe(500);
  const std::string text = m.RenderPrometheus();
  ingestlab::testing::CheckContainsAll(
      text, {"# TYPE ingest_received_total counter", "ingest_received_total{transport=\"nats\"} 3",
             "ingest_lag{consumer=\"BILLING\"} 12", "ingest_latency_ms_bucket{le=\"10\"} 2",
             "ingest_latency_ms_bucket{le=\"+Inf\"} 4", "ingest_latency_ms_count 4"});
  SECTION("quantiles interpolate inside buckets") {
    CHECK(h->Quantile(0.5) == Approx(10));
    CHECK(h->Quantile(0.25) == Approx(1));
  }
}

// AnswerHelp (common/cli.h): how a command that dispatches on its first argument answers no
// argument and --help / -h / help.

namespace {

// A FILE* that keeps what is written to it in memory.
class MemoryFile {
 public:
  MemoryFile() : file_(open_memstream(&data_, &size_)) {}
  ~MemoryFile() {
    std::fclose(file_);
    std::free(data_);
  }
  std::FILE* get() const { return file_; }
  std::string text() {
    std::fflush(file_);
    return std::string(data_, size_);
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  std::FILE* file_;
};

struct Answer {
  std::optional<int> exit_code;
  std::string out;
  std::string err;
};

Answer Ask(std::vector<std::string> args) {
  args.insert(args.begin(), "import");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  MemoryFile out, err;
  Answer a;
  a.exit_code =
      AnswerHelp(static_cast<int>(argv.size()), argv.data(), "usage: x\n", out.get(), err.get());
  a.out = out.text();
  a.err = err.text();
  return a;
}

}  // namespace

TEST_CASE("AnswerHelp: no argument is bad usage, the help on stderr") {
  const Answer a = Ask({});
  CHECK(a.exit_code == std::optional<int>(kExitUsage));
  CHECK(a.out.empty());
  CHECK(a.err == "usage: x\n");
}

TEST_CASE("AnswerHelp: --help, -h and help print the help on stdout and exit 0") {
  for (const char* flag : {"--help", "-h", "help"}) {
    INFO(flag);
    const Answer a = Ask({flag, "ignored"});
    CHECK(a.exit_code == std::optional<int>(0));
    CHECK(a.out == "usage: x\n");
    CHECK(a.err.empty());
  }
}

TEST_CASE("AnswerHelp: anything else is left to the caller, nothing printed") {
  for (const char* first : {"kcat", "--version", "-x", "helpful"}) {
    INFO(first);
    const Answer a = Ask({first});
    CHECK_FALSE(a.exit_code.has_value());
    CHECK(a.out.empty());
    CHECK(a.err.empty());
  }
}
