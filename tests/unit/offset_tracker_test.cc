// Specification of OffsetTracker (system/kafka/offset_tracker.h): the commit-after-store
// bookkeeping of one Kafka partition. Examples first, then a seeded randomized property test
// that drives a tracker through thousands of interleavings of receive, settle (ack and retry),
// seeks that fail, revokes and assigns against a model of the consumer and the broker.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "system/kafka/offset_tracker.h"

using ingestlab::OffsetTracker;
using Outcome = OffsetTracker::Outcome;

namespace {

constexpr int64_t kMs = 1'000'000;

uint32_t Accept(OffsetTracker& t, int64_t offset) {
  const OffsetTracker::Received r = t.Receive(offset);
  REQUIRE(r.result == Outcome::kAccepted);
  return r.epoch;
}

void Ack(OffsetTracker& t, uint32_t epoch, int64_t offset, int64_t now_ns = 0) {
  t.Settle(epoch, offset, /*retry=*/false, 0);
  t.FinishSettlements(now_ns);
}

// Delivers `first` and first + 1 and settles both in one go, `retried` for retry and the other
// acked; the partition must then ask to be paused. The batch's epoch.
uint32_t RetryOneOfTwo(OffsetTracker& t, int64_t first, int64_t retried) {
  const uint32_t e = Accept(t, first);
  Accept(t, first + 1);
  t.Settle(e, first, first == retried, 0);
  t.Settle(e, first + 1, first + 1 == retried, 0);
  t.FinishSettlements(0);
  REQUIRE(t.TakePauseRequest());
  return e;
}

}  // namespace

TEST_CASE("the commit offset is one past the longest settled run at the start") {
  OffsetTracker t;
  const uint32_t e = Accept(t, 10);
  Accept(t, 11);
  Accept(t, 12);
  CHECK(t.in_flight() == 3);
  CHECK_FALSE(t.TakeCommit());

  Ack(t, e, 11);  // settled out of order: 10 is still unsettled
  CHECK(t.commit_target() == -1);
  CHECK_FALSE(t.TakeCommit());

  Ack(t, e, 10);
  CHECK(t.commit_target() == 12);
  CHECK(t.TakeCommit() == std::optional<int64_t>(12));
  CHECK_FALSE(t.TakeCommit());  // handed out once

  t.CommitFailed(12);  // the async commit failed: hand it out again
  CHECK(t.TakeCommit() == std::optional<int64_t>(12));
  CHECK(t.in_flight() == 1);
}

TEST_CASE("offsets below the next expected one are not wanted; a gap is reported as skipped") {
  OffsetTracker t;
  const uint32_t e = Accept(t, 5);
  CHECK(t.Receive(5).result == Outcome::kNotWanted);
  CHECK(t.Receive(3).result == Outcome::kNotWanted);
  const OffsetTracker::Received r = t.Receive(9);  // 6..8 deleted by the broker
  REQUIRE(r.result == Outcome::kAccepted);
  CHECK(r.skipped == 3);
  Ack(t, e, 5);
  Ack(t, e, 9);
  CHECK(t.commit_target() == 10);
}

TEST_CASE("a retry rewinds: pause, wait the delay, seek back, redeliver with the attempt count") {
  OffsetTracker t;
  const uint32_t e = Accept(t, 0);
  for (int64_t o = 1; o <= 4; ++o) Accept(t, o);

  // One batch: 0 and 1 acked, 2 retried after 30 ms, 3 acked (it will come back anyway).
  t.Settle(e, 0, false, 0);
  t.Settle(e, 1, false, 0);
  t.Settle(e, 2, true, 30);
  t.Settle(e, 3, false, 0);
  CHECK(t.FinishSettlements(100 * kMs));
  CHECK(t.commit_target() == 2);  // never past the retried message
  CHECK(t.epoch() != e);
  CHECK(t.held_for_retry());

  // Anything still arriving is not wanted until the seek back.
  CHECK(t.Receive(5).result == Outcome::kNotWanted);
  // The late settlement of 4 belongs to the old epoch and changes nothing.
  t.Settle(e, 4, false, 0);
  t.FinishSettlements(101 * kMs);
  CHECK(t.commit_target() == 2);
  CHECK(t.in_flight() == 0);

  CHECK(t.TakePauseRequest());
  CHECK_FALSE(t.TakePauseRequest());
  CHECK_FALSE(t.SeekDue(129 * kMs));
  REQUIRE(t.SeekDue(130 * kMs) == std::optional<int64_t>(2));
  CHECK(t.SeekSucceeded(2));
  CHECK_FALSE(t.held_for_retry());

  const OffsetTracker::Received again = t.Receive(2);
  REQUIRE(again.result == Outcome::kAccepted);
  CHECK(again.attempts == 2);
  CHECK(again.skipped == 0);
  CHECK(t.Receive(3).attempts == 1);
  Ack(t, again.epoch, 2);
  Ack(t, again.epoch, 3);
  CHECK(t.commit_target() == 4);
}

TEST_CASE("a failed seek keeps the partition paused and is tried again after a growing backoff") {
  OffsetTracker t;
  RetryOneOfTwo(t, 7, /*retried=*/7);
  REQUIRE(t.SeekDue(0) == std::optional<int64_t>(7));

  t.SeekFailed(0);
  CHECK(t.held_for_retry());                                     // not resumed
  CHECK(t.Receive(8).result == Outcome::kNotWanted);             // nothing past 7 gets in
  CHECK_FALSE(t.SeekDue(OffsetTracker::kSeekRetryFirstNs - 1));  // backoff
  REQUIRE(t.SeekDue(OffsetTracker::kSeekRetryFirstNs) == std::optional<int64_t>(7));

  t.SeekFailed(OffsetTracker::kSeekRetryFirstNs);  // second failure: twice the backoff
  CHECK_FALSE(t.SeekDue(3 * OffsetTracker::kSeekRetryFirstNs - 1));
  REQUIRE(t.SeekDue(3 * OffsetTracker::kSeekRetryFirstNs) == std::optional<int64_t>(7));
  CHECK(t.commit_target() == -1);

  CHECK(t.SeekSucceeded(7));
  CHECK_FALSE(t.held_for_retry());
  CHECK(t.Receive(7).attempts == 2);
}

TEST_CASE("a message past a retried offset that did not come back is refused and sought back") {
  OffsetTracker t;
  RetryOneOfTwo(t, 0, /*retried=*/1);
  REQUIRE(t.SeekSucceeded(*t.SeekDue(0)));

  // The consumer is not where it was sought to (e.g. a fetch from before the seek).
  for (int i = 0; i < OffsetTracker::kMaxPastRetryRefusals; ++i) {
    CHECK(t.Receive(3).result == Outcome::kPastRetry);
    REQUIRE(t.TakePauseRequest());
    REQUIRE(t.SeekDue(0) == std::optional<int64_t>(1));
    REQUIRE(t.SeekSucceeded(1));
    CHECK(t.commit_target() == 1);
  }
  // Sought back there that many times and it never came: the broker no longer has it.
  const OffsetTracker::Received r = t.Receive(3);
  REQUIRE(r.result == Outcome::kAccepted);
  CHECK(r.skipped == 2);
}

TEST_CASE("an older batch retried after a later one's rewind moves the rewind back to it") {
  OffsetTracker t;
  const uint32_t e = Accept(t, 0);  // batch 1: 0 and 1
  Accept(t, 1);
  Accept(t, 2);             // batch 2: 2
  t.Settle(e, 2, true, 0);  // batch 2 settles first
  t.FinishSettlements(0);
  REQUIRE(t.TakePauseRequest());
  REQUIRE(t.SeekDue(0) == std::optional<int64_t>(2));

  // Batch 1 was registered before the rewind and still counts: 0 retried, 1 acked.
  t.Settle(e, 0, true, 0);
  t.Settle(e, 1, false, 0);
  CHECK(t.FinishSettlements(0));
  CHECK(t.commit_target() == -1);
  CHECK(t.TakePauseRequest());
  REQUIRE(t.SeekDue(0) == std::optional<int64_t>(0));
  CHECK_FALSE(t.SeekSucceeded(2));  // the older seek no longer resumes the partition
  CHECK(t.SeekSucceeded(0));
  CHECK(t.in_flight() == 0);
  CHECK(t.Receive(0).attempts == 2);
}

TEST_CASE("an ack from before a rewind still settles a message below the retried offset") {
  OffsetTracker t;
  const uint32_t e = Accept(t, 0);
  Accept(t, 1);
  t.Settle(e, 1, true, 0);
  t.FinishSettlements(0);
  Ack(t, e, 0);  // settles after the rewind bumped the epoch
  CHECK(t.commit_target() == 1);
}

TEST_CASE("a revoked partition accepts nothing but still counts settlements") {
  OffsetTracker t;
  const uint32_t e = Accept(t, 0);
  Accept(t, 1);
  t.Revoke();
  CHECK(t.revoked());
  CHECK(t.Receive(2).result == Outcome::kNotWanted);
  Ack(t, e, 0);
  CHECK(t.in_flight() == 1);
  CHECK(t.commit_target() == 1);
  t.Unregister(e, 1);  // dropped from a held batch
  CHECK(t.in_flight() == 0);
  CHECK(t.commit_target() == 1);
}

namespace {

// One partition of N messages, a consumer that fetches ahead into a queue (messages fetched
// before a pause or a seek still arrive), a pipeline that settles in any order, and the broker's
// committed offset. Drives a tracker the way KafkaSource does.
class Model {
 public:
  Model(uint64_t seed, int64_t messages)
      : rng_(seed), n_(messages), stored_(static_cast<size_t>(messages), false) {
    seek_fail_p_ = std::uniform_real_distribution<double>(0.0, 0.7)(rng_);
    retry_p_ = std::uniform_real_distribution<double>(0.05, 0.5)(rng_);
  }

  // One random step; returns what it did, for the failure trace.
  std::string Step() {
    const int op = std::uniform_int_distribution<int>(0, 99)(rng_);
    now_ns_ += std::uniform_int_distribution<int64_t>(0, 20)(rng_) * kMs;
    if (op < 25) return Fetch();
    if (op < 50) return Poll();
    if (op < 70) return SettleSome(/*faults=*/true);
    if (op < 85) return Control(/*faults=*/true);
    if (op < 95) return Commit(/*faults=*/true);
    if (op < 98) return Revoke();
    return Assign();
  }

  // No more faults: everything acked, seeks and commits succeed. Returns steps taken, or -1.
  int Drain(int max_steps) {
    for (int i = 0; i < max_steps; ++i) {
      if (committed_ == n_ && in_flight_.empty()) return i;
      now_ns_ += 10 * kMs;
      if (!tracker_) Assign();
      Fetch();
      Poll();
      SettleSome(false);
      Control(false);
      Commit(false);
      CheckInvariant();
    }
    return -1;
  }

  // Every offset below the committed one (and below the tracker's commit target) was stored,
  // i.e. settled with an ack; the committed offset never moves back.
  bool Holds() const {
    const int64_t lowest_unstored = LowestUnstored();
    return committed_ <= lowest_unstored && committed_ >= max_committed_ &&
           (!tracker_ || tracker_->commit_target() <= lowest_unstored);
  }
  // The same, as assertions that say what broke.
  void CheckInvariant() {
    const int64_t lowest_unstored = LowestUnstored();
    INFO("committed " << committed_ << ", lowest unsettled " << lowest_unstored);
    REQUIRE(committed_ <= lowest_unstored);
    if (tracker_) {
      INFO("tracker commit target " << tracker_->commit_target());
      REQUIRE(tracker_->commit_target() <= lowest_unstored);
    }
    REQUIRE(committed_ >= max_committed_);
    max_committed_ = committed_;
  }

  int64_t committed() const { return committed_; }
  int64_t seek_failures() const { return seek_failures_; }
  int64_t rewinds() const { return rewinds_; }
  int64_t revokes() const { return revokes_; }
  int64_t past_retry() const { return past_retry_; }

 private:
  struct Flight {
    uint32_t epoch;
    int64_t offset;
  };

  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  int64_t LowestUnstored() const {
    for (int64_t o = 0; o < n_; ++o) {
      if (!stored_[static_cast<size_t>(o)]) return o;
    }
    return n_;
  }

  std::string Fetch() {
    if (!tracker_ || paused_ || fetch_pos_ >= n_ || queue_.size() >= 8) return "fetch(idle)";
    queue_.push_back(fetch_pos_++);
    return "fetch " + std::to_string(queue_.back());
  }

  std::string Poll() {
    if (!tracker_ || queue_.empty()) return "poll(empty)";
    const int64_t offset = queue_.front();
    queue_.pop_front();
    const OffsetTracker::Received r = tracker_->Receive(offset);
    if (r.result == Outcome::kAccepted) in_flight_.push_back({r.epoch, offset});
    if (r.result == Outcome::kPastRetry) past_retry_++;
    static const char* kNames[] = {"accepted", "not wanted", "past retry"};
    return "receive " + std::to_string(offset) + ": " + kNames[static_cast<int>(r.result)];
  }

  // A batch of 1-3 in-flight messages settles, in any order.
  std::string SettleSome(bool faults) {
    if (in_flight_.empty()) return "settle(none)";
    std::ostringstream what;
    what << "settle";
    OffsetTracker* into = tracker_.get();
    const int k = std::uniform_int_distribution<int>(1, 3)(rng_);
    for (int i = 0; i < k && !in_flight_.empty(); ++i) {
      const size_t pick =
          faults ? std::uniform_int_distribution<size_t>(0, in_flight_.size() - 1)(rng_) : 0;
      const Flight f = in_flight_[pick];
      in_flight_.erase(in_flight_.begin() + static_cast<std::ptrdiff_t>(pick));
      const bool retry = faults && Chance(retry_p_);
      if (!retry) stored_[static_cast<size_t>(f.offset)] = true;
      if (into)
        into->Settle(f.epoch, f.offset, retry, std::uniform_int_distribution<int64_t>(0, 50)(rng_));
      what << " " << f.offset << (retry ? " retry" : " ack");
    }
    if (into) into->FinishSettlements(now_ns_);
    return what.str();
  }

  // The poll thread's control step: pause for a requested rewind, or seek back once due.
  std::string Control(bool faults) {
    if (!tracker_) return "control(unassigned)";
    if (tracker_->TakePauseRequest()) {
      paused_ = true;
      rewinds_++;
      return "pause";
    }
    const std::optional<int64_t> to = tracker_->SeekDue(now_ns_);
    if (!to) return "control(nothing due)";
    std::string what = "seek " + std::to_string(*to);
    if (faults && Chance(seek_fail_p_)) {
      tracker_->SeekFailed(now_ns_);
      seek_failures_++;
      what += " FAILED";
    } else {
      queue_.clear();  // librdkafka drops what it fetched from before the seek
      fetch_pos_ = *to;
      tracker_->SeekSucceeded(*to);
      what += " ok";
    }
    // As KafkaSource does (after a seek, and when backpressure ends): every partition the
    // tracker does not hold for a retry is resumed.
    paused_ = tracker_->held_for_retry();
    return what + (paused_ ? ", still paused" : ", resumed");
  }

  std::string Commit(bool faults) {
    if (!tracker_) return "commit(unassigned)";
    const std::optional<int64_t> offset = tracker_->TakeCommit();
    if (!offset) return "commit(nothing)";
    if (faults && Chance(0.1)) {
      tracker_->CommitFailed(*offset);
      return "commit " + std::to_string(*offset) + " FAILED";
    }
    committed_ = *offset;
    return "commit " + std::to_string(*offset);
  }

  // Revoke: stop taking messages, wait for in-flight batches (some may not settle in time and
  // are abandoned: the next owner gets them again), commit synchronously, let go.
  std::string Revoke() {
    if (!tracker_) return "revoke(unassigned)";
    tracker_->Revoke();
    revokes_++;
    queue_.clear();
    const bool timeout = Chance(0.2);
    while (!in_flight_.empty() && !(timeout && Chance(0.5))) SettleSome(true);
    in_flight_.clear();
    if (tracker_->commit_target() >= 0) committed_ = tracker_->commit_target();
    tracker_.reset();
    paused_ = false;
    return std::string("revoke") + (timeout ? " (settle wait timed out)" : "");
  }

  // Assign: a fresh tracker; the consumer starts at the committed offset.
  std::string Assign() {
    if (tracker_) return "assign(already)";
    tracker_ = std::make_unique<OffsetTracker>();
    queue_.clear();
    paused_ = false;
    fetch_pos_ = committed_ >= 0 ? committed_ : 0;
    return "assign from " + std::to_string(fetch_pos_);
  }

  std::mt19937_64 rng_;
  const int64_t n_;
  double seek_fail_p_;
  double retry_p_;
  int64_t now_ns_ = 0;
  // Broker and store.
  int64_t committed_ = -1;
  int64_t max_committed_ = -1;
  std::vector<bool> stored_;  // settled with an ack at least once
  // Consumer.
  std::unique_ptr<OffsetTracker> tracker_;
  bool paused_ = false;
  int64_t fetch_pos_ = 0;
  std::deque<int64_t> queue_;
  // Pipeline.
  std::vector<Flight> in_flight_;
  // What the run went through.
  int64_t seek_failures_ = 0;
  int64_t rewinds_ = 0;  // pauses for a retry (or a refused message past one)
  int64_t revokes_ = 0;
  int64_t past_retry_ = 0;
};

}  // namespace

TEST_CASE("property: for any interleaving the commit never passes a message not settled with ack",
          "[property]") {
  constexpr uint64_t kBaseSeed = 0x0ff5e7;
  constexpr int kRuns = 3000;
  constexpr int kSteps = 600;
  int64_t total_committed = 0, seek_failures = 0, rewinds = 0, revokes = 0, past_retry = 0;
  for (int run = 0; run < kRuns; ++run) {
    const uint64_t seed = kBaseSeed + static_cast<uint64_t>(run);
    Model model(seed, 40 + run % 80);
    std::deque<std::string> trace;  // the last steps, shown on failure
    INFO("seed " << seed << " (run " << run << ")");
    model.CheckInvariant();
    for (int step = 0; step < kSteps; ++step) {
      trace.push_back(model.Step());
      if (trace.size() > 40) trace.pop_front();
      if (!model.Holds()) {
        std::string recent;
        for (const auto& t : trace) recent += "\n  " + t;
        INFO("step " << step << ", last steps:" << recent);
        model.CheckInvariant();
      }
      model.CheckInvariant();
    }
    // And it does not get stuck: once the faults stop, everything is committed.
    INFO("drain");
    REQUIRE(model.Drain(100'000) >= 0);
    total_committed += model.committed();
    seek_failures += model.seek_failures();
    rewinds += model.rewinds();
    revokes += model.revokes();
    past_retry += model.past_retry();
  }
  // The runs went through what the property is about.
  INFO("rewinds " << rewinds << ", failed seeks " << seek_failures << ", revokes " << revokes
                  << ", refused past a retry " << past_retry);
  CHECK(total_committed > kRuns * 40);
  CHECK(rewinds > kRuns);
  CHECK(seek_failures > kRuns);
  CHECK(revokes > kRuns);
}
