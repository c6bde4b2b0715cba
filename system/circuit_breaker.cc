// See circuit_breaker.h.
#include "system/circuit_breaker.h"

#include <utility>

#include "system/mutant.h"

namespace ingestlab {

CircuitBreaker::CircuitBreaker(BreakerOptions options, Clock* clock)
    : options_(options), clock_(clock) {}

const char* CircuitBreaker::Name(State state) {
  switch (state) {
    case State::kClosed:
      return "closed";
    case State::kOpen:
      return "open";
    case State::kHalfOpen:
      return "half_open";
  }
  return "closed";
}

void CircuitBreaker::Open(int64_t now_ms) {
  state_ = State::kOpen;
  open_until_ms_ = now_ms + options_.open_ms;
  probe_out_ = false;
  failures_.clear();
  ++opened_total_;
}

bool CircuitBreaker::Allow() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_->NowUnixMillis();
  if (state_ == State::kOpen && now >= open_until_ms_) state_ = State::kHalfOpen;
#ifdef INGESTD_MUTANTS
  // Mutant breaker_stays_open: no probe ever goes out, so the breaker never closes again.
  if (state_ == State::kHalfOpen && Mutant("breaker_stays_open")) state_ = State::kOpen;
#endif
  switch (state_) {
    case State::kClosed:
      return true;
    case State::kOpen:
      return false;
    case State::kHalfOpen:
      if (probe_out_) return false;
      probe_out_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::Success() {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ == State::kHalfOpen) {
    state_ = State::kClosed;
    probe_out_ = false;
    failures_.clear();
  }
}

void CircuitBreaker::Failure() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_->NowUnixMillis();
  if (state_ == State::kHalfOpen) {
    Open(now);
    return;
  }
  if (state_ == State::kOpen) return;  // a call that went out before it opened
#ifdef INGESTD_MUTANTS
  // Mutant breaker_never_opens: failures are not counted, so every call keeps going out.
  if (Mutant("breaker_never_opens")) return;
#endif
  failures_.push_back(now);
  while (!failures_.empty() && failures_.front() <= now - options_.window_ms) failures_.pop_front();
  if (static_cast<int>(failures_.size()) >= options_.failures) Open(now);
}

CircuitBreaker::State CircuitBreaker::state() {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_ == State::kOpen && clock_->NowUnixMillis() >= open_until_ms_) {
#ifdef INGESTD_MUTANTS
    if (Mutant("breaker_stays_open")) return State::kOpen;
#endif
    return State::kHalfOpen;  // the next Allow lets the probe out
  }
  return state_;
}

int64_t CircuitBreaker::opened_total() {
  std::lock_guard<std::mutex> lock(mu_);
  return opened_total_;
}

TtlCache::TtlCache(int64_t ttl_ms, size_t max_entries, Clock* clock)
    : ttl_ms_(ttl_ms), max_entries_(max_entries == 0 ? 1 : max_entries), clock_(clock) {}

std::optional<TtlCache::Entry> TtlCache::Get(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return Entry{it->second.value, clock_->NowUnixMillis() - it->second.stored_ms < ttl_ms_};
}

void TtlCache::Put(const std::string& key, std::string value) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t generation = ++generation_;
  Stored& stored = entries_[key];
  stored.value = std::move(value);
  stored.stored_ms = clock_->NowUnixMillis();
  stored.generation = generation;
  order_.emplace_back(generation, key);
  // order_ also holds superseded generations of keys stored again: compact it when they pile up
  // (amortized: at most once per max_entries_ stores), so every live entry has one record.
  if (order_.size() > 2 * max_entries_ + 16) {
    std::deque<std::pair<uint64_t, std::string>> live;
    for (auto& record : order_) {
      auto it = entries_.find(record.second);
      if (it != entries_.end() && it->second.generation == record.first) {
        live.push_back(std::move(record));
      }
    }
    order_ = std::move(live);
  }
  // Evict the entries stored longest ago.
  while (entries_.size() > max_entries_ && !order_.empty()) {
    auto [gen, old_key] = std::move(order_.front());
    order_.pop_front();
    auto old = entries_.find(old_key);
    if (old != entries_.end() && old->second.generation == gen) entries_.erase(old);
  }
}

size_t TtlCache::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace ingestlab
