// Specification of stall detection: lag waiting, nothing settled, no fault to explain it.
#include <catch2/catch.hpp>

#include "harness/stalls.h"

using namespace ingestlab;

namespace {

FaultWindow Fault(const std::string& action, double at_s, double recovered_s) {
  FaultWindow f;
  f.action = action;
  f.at_s = at_s;
  f.recovered_s = recovered_s;
  return f;
}

}  // namespace

TEST_CASE("a stretch with events waiting, no commits and no fault is a stall") {
  // Ingest at 100/s, then nothing from 11 s to 13 s while 150 events wait, then catch-up.
  std::vector<double> t, rate, lag;
  for (int i = 1; i <= 20; ++i) {
    t.push_back(i);
    const bool stuck = i == 12 || i == 13;
    rate.push_back(stuck ? 0 : 100);
    lag.push_back(i >= 11 && i <= 13 ? 50.0 * (i - 10) : 5);
  }
  auto stalls = FindStalls(t, rate, lag, {});
  REQUIRE(stalls.size() == 1);
  CHECK(stalls[0].from_s == 11);
  CHECK(stalls[0].to_s == 13);
  CHECK(stalls[0].max_lag == 150);

  SECTION("a fault active at the time explains it") {
    const FaultWindow f = Fault("pause_nats", 10, 11.5);
    CHECK(FindStalls(t, rate, lag, {f}).empty());
  }
  SECTION("so does a fault undone less than the recovery allowance before") {
    FaultWindow f = Fault("kill_ingestd", 8, 8);
    CHECK(FindStalls(t, rate, lag, {f}).empty());
    f.at_s = f.recovered_s = 11 - kStallRecoveryAllowanceS - 1;
    CHECK(FindStalls(t, rate, lag, {f}).size() == 1);
  }
  SECTION("an idle run with nothing waiting is not stalled") {
    std::vector<double> zero(t.size(), 0);
    CHECK(FindStalls(t, zero, zero, {}).empty());
  }
  SECTION("two separate stalls are two entries") {
    rate[16] = 0;
    rate[17] = 0;
    lag[15] = lag[16] = lag[17] = 40;
    auto two = FindStalls(t, rate, lag, {});
    REQUIRE(two.size() == 2);
    CHECK(two[1].from_s == 16);
    CHECK(two[1].to_s == 18);
  }
}
