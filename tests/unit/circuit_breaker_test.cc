// Specification of the circuit breaker and the TTL cache the context API puts in front of each
// downstream service (system/circuit_breaker.h), on a manual clock.
#include <catch2/catch.hpp>

#include <string>

#include "common/clock.h"
#include "system/circuit_breaker.h"

using namespace ingestlab;
using State = CircuitBreaker::State;

TEST_CASE("a breaker opens after N failures within its window, then probes once") {
  ManualClock clock(1'000'000);
  CircuitBreaker breaker({3, 10'000, 5'000}, &clock);
  CHECK(breaker.state() == State::kClosed);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(breaker.Allow());
    breaker.Failure();
  }
  CHECK(breaker.state() == State::kClosed);
  REQUIRE(breaker.Allow());
  breaker.Failure();  // the third within 10 s
  CHECK(breaker.state() == State::kOpen);
  CHECK(breaker.opened_total() == 1);
  CHECK_FALSE(breaker.Allow());  // refused at once while open
  clock.Advance(std::chrono::milliseconds(4'999));
  CHECK_FALSE(breaker.Allow());

  clock.Advance(std::chrono::milliseconds(1));
  CHECK(breaker.state() == State::kHalfOpen);
  CHECK(breaker.Allow());        // the probe
  CHECK_FALSE(breaker.Allow());  // only one
  SECTION("a failed probe opens it again for another open period") {
    breaker.Failure();
    CHECK(breaker.state() == State::kOpen);
    CHECK(breaker.opened_total() == 2);
    CHECK_FALSE(breaker.Allow());
    clock.Advance(std::chrono::milliseconds(5'000));
    CHECK(breaker.Allow());
  }
  SECTION("a good probe closes it, with its failures forgotten") {
    breaker.Success();
    CHECK(breaker.state() == State::kClosed);
    for (int i = 0; i < 2; ++i) {
      REQUIRE(breaker.Allow());
      breaker.Failure();
    }
    CHECK(breaker.state() == State::kClosed);
  }
}

TEST_CASE("failures older than the window do not count") {
  ManualClock clock(1'000'000);
  CircuitBreaker breaker({3, 10'000, 5'000}, &clock);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(breaker.Allow());
    breaker.Failure();
    clock.Advance(std::chrono::milliseconds(6'000));  // at most two in any 10 s
  }
  CHECK(breaker.state() == State::kClosed);
  CHECK(breaker.opened_total() == 0);
}

TEST_CASE("a TTL cache answers fresh, then stale, and evicts the oldest when full") {
  ManualClock clock(1'000'000);
  TtlCache cache(1'000, 3, &clock);
  CHECK_FALSE(cache.Get("a"));
  cache.Put("a", "1");
  REQUIRE(cache.Get("a"));
  CHECK(cache.Get("a")->value == "1");
  CHECK(cache.Get("a")->fresh);
  clock.Advance(std::chrono::milliseconds(1'000));
  CHECK_FALSE(cache.Get("a")->fresh);  // kept as a fallback
  cache.Put("b", "2");
  cache.Put("c", "3");
  cache.Put("a", "4");  // stored again: now the newest
  cache.Put("d", "5");  // full: b, stored longest ago, goes
  CHECK_FALSE(cache.Get("b"));
  CHECK(cache.Get("a")->value == "4");
  CHECK(cache.Get("a")->fresh);
  CHECK(cache.size() == 3);

  SECTION("many stores of a few keys keep it bounded") {
    for (int i = 0; i < 10'000; ++i) cache.Put(std::to_string(i % 5), std::to_string(i));
    CHECK(cache.size() == 3);
    CHECK(cache.Get("4")->value == "9999");
  }
}
