// CircuitBreaker and TtlCache: how the context API (context_api.h) protects itself from its
// downstream services (seed 002: "Circuit Breaker: opens after 5 failures"; "In-memory caching
// with TTL").
//
// A breaker is closed (calls go out) until `failures` calls fail (an error or a timeout) within
// `window_ms`; then it is open (calls are refused at once) for `open_ms`; then half-open: exactly
// one probe call goes out, and its success closes the breaker, its failure opens it again for
// another `open_ms`.
//
// A TtlCache keeps at most `max_entries` values, each fresh for `ttl_ms` after it was stored and
// kept after that (stale) as a fallback for when the source cannot answer, until evicted: when
// full, the entry stored longest ago goes first.
// Thread-safety: both are safe from any thread (each guards itself with a mutex).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"

namespace ingestlab {

struct BreakerOptions {
  int failures = 5;
  int64_t window_ms = 10'000;
  int64_t open_ms = 5'000;
};

class CircuitBreaker {
 public:
  enum class State { kClosed = 0, kOpen = 1, kHalfOpen = 2 };

  CircuitBreaker(BreakerOptions options, Clock* clock);

  // Whether a call may go out now. In half-open, true once (the probe) until it reports.
  bool Allow();
  void Success();
  void Failure();

  State state();
  int64_t opened_total();
  static const char* Name(State state);

 private:
  void Open(int64_t now_ms);  // REQUIRES: mu_ held

  const BreakerOptions options_;
  Clock* const clock_;
  std::mutex mu_;
  State state_ = State::kClosed;
  std::deque<int64_t> failures_;  // failure times in the window (closed)
  int64_t open_until_ms_ = 0;
  bool probe_out_ = false;
  int64_t opened_total_ = 0;
};

class TtlCache {
 public:
  TtlCache(int64_t ttl_ms, size_t max_entries, Clock* clock);

  struct Entry {
    std::string value;
    bool fresh = false;
  };
  std::optional<Entry> Get(const std::string& key);
  void Put(const std::string& key, std::string value);
  size_t size();

 private:
  struct Stored {
    std::string value;
    int64_t stored_ms = 0;
    uint64_t generation = 0;
  };
  const int64_t ttl_ms_;
  const size_t max_entries_;
  Clock* const clock_;
  std::mutex mu_;
  std::map<std::string, Stored> entries_;
  std::deque<std::pair<uint64_t, std::string>> order_;  // (generation, key), oldest first
  uint64_t generation_ = 0;
};

}  // namespace ingestlab
