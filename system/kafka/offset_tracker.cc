// OffsetTracker: see offset_tracker.h.
#include "system/kafka/offset_tracker.h"

#include <algorithm>

#include "system/mutant.h"

namespace ingestlab {

OffsetTracker::Received OffsetTracker::Receive(int64_t offset) {
  Received r;
  r.epoch = epoch_;
  if (revoked_ || rewind_requested_ || paused_for_retry_ || offset < next_expected_) return r;
  if (awaiting_redelivery_ >= 0 && offset > awaiting_redelivery_) {
    if (past_retry_refusals_ < kMaxPastRetryRefusals) {
      // The consumer is not where the rewind put it: go back again, keep nothing past it.
      past_retry_refusals_++;
      rewind_requested_ = true;
      rewind_offset_ = awaiting_redelivery_;
      r.result = Outcome::kPastRetry;
      return r;
    }
    awaiting_redelivery_ = -1;  // sought back there and still not delivered: it is gone
  }
  if (offset == awaiting_redelivery_) awaiting_redelivery_ = -1;
  if (next_expected_ >= 0 && offset > next_expected_) r.skipped = offset - next_expected_;
  submitted_.push_back({offset, epoch_, false});
  next_expected_ = offset + 1;
  in_flight_++;
#ifdef INGESTD_MUTANTS
  // Mutant kafka_commit_at_receipt: the offset may be committed as soon as the message is
  // received, before it is stored (auto-commit style); its settlement, a retry included,
  // changes nothing.
  if (Mutant("kafka_commit_at_receipt")) {
    submitted_.back().settled = true;
    AdvanceCommitTarget();
  }
#endif
  auto retried = retries_.find(offset);
  r.attempts = retried == retries_.end() ? 1 : 1 + retried->second;
  r.result = Outcome::kAccepted;
  return r;
}

void OffsetTracker::Unregister(uint32_t epoch, int64_t offset) {
  in_flight_--;
  if (!submitted_.empty() && submitted_.back().offset == offset &&
      submitted_.back().epoch == epoch) {
    submitted_.pop_back();
    next_expected_ = offset;
    if (retries_.count(offset) != 0 && awaiting_redelivery_ < 0) awaiting_redelivery_ = offset;
  }
}

void OffsetTracker::Settle(uint32_t epoch, int64_t offset, bool retry, int64_t retry_delay_ms) {
  in_flight_--;
  // The registration this settles; usually at the front. Gone (or registered again since) when
  // a rewind forgot it: that message comes again anyway, so its settlement changes nothing.
  auto it = std::lower_bound(submitted_.begin(), submitted_.end(), offset,
                             [](const Submitted& s, int64_t off) { return s.offset < off; });
  if (it == submitted_.end() || it->offset != offset || it->epoch != epoch || it->settled) return;
#ifdef INGESTD_MUTANTS
  // Mutant kafka_retry_as_ack: a retry settles the offset like an ack; the partition is never
  // sought back, so the message is not delivered again.
  if (Mutant("kafka_retry_as_ack")) retry = false;
#endif
  if (retry) {
    if (pending_rewind_ < 0 || offset < pending_rewind_) pending_rewind_ = offset;
    pending_delay_ms_ = std::max(pending_delay_ms_, retry_delay_ms);
    retries_[offset]++;
    return;
  }
  it->settled = true;
}

bool OffsetTracker::FinishSettlements(int64_t now_ns) {
  bool started = false;
  if (pending_rewind_ >= 0) {
    const int64_t from = pending_rewind_;
    while (!submitted_.empty() && submitted_.back().offset >= from) submitted_.pop_back();
    epoch_++;
    next_expected_ = from;
    RequestRewind(from, now_ns + std::max<int64_t>(0, pending_delay_ms_) * 1'000'000);
    started = true;
  }
  pending_rewind_ = -1;
  pending_delay_ms_ = 0;
  AdvanceCommitTarget();
  return started;
}

void OffsetTracker::RequestRewind(int64_t offset, int64_t resume_at_ns) {
  rewind_requested_ = true;
  rewind_offset_ = offset;
  resume_at_ns_ = resume_at_ns;
  awaiting_redelivery_ = offset;
  seek_failures_ = 0;
  past_retry_refusals_ = 0;
}

bool OffsetTracker::TakePauseRequest() {
  if (!rewind_requested_) return false;
  rewind_requested_ = false;
  paused_for_retry_ = true;
  return true;
}

std::optional<int64_t> OffsetTracker::SeekDue(int64_t now_ns) const {
  if (!paused_for_retry_ || rewind_requested_ || now_ns < resume_at_ns_) return std::nullopt;
  return rewind_offset_;
}

bool OffsetTracker::SeekSucceeded(int64_t offset) {
  if (!paused_for_retry_ || rewind_requested_ || offset != rewind_offset_) return false;
  paused_for_retry_ = false;
  seek_failures_ = 0;
  return true;
}

void OffsetTracker::SeekFailed(int64_t now_ns) {
  if (!paused_for_retry_) return;
  seek_failures_ = std::min(seek_failures_ + 1, 30);
  int64_t backoff = kSeekRetryFirstNs;
  for (int i = 1; i < seek_failures_ && backoff < kSeekRetryMaxNs; ++i) backoff *= 2;
  resume_at_ns_ = now_ns + std::min(backoff, kSeekRetryMaxNs);
}

std::optional<int64_t> OffsetTracker::TakeCommit() {
  if (commit_target_ < 0 || commit_target_ == commit_sent_) return std::nullopt;
  commit_sent_ = commit_target_;
#ifdef INGESTD_MUTANTS
  // Mutant kafka_commit_skip_one: an off-by-one commits the offset after the next one to read
  // (last settled + 2), so a restarted consumer skips one message per partition.
  if (Mutant("kafka_commit_skip_one")) return commit_target_ + 1;
#endif
  return commit_target_;
}

void OffsetTracker::CommitFailed(int64_t offset) {
  if (commit_sent_ == offset) commit_sent_ = -1;
}

void OffsetTracker::AdvanceCommitTarget() {
  bool moved = false;
  while (!submitted_.empty() && submitted_.front().settled) {
    // Never past a retried offset that has not come back (and so cannot have been settled).
    if (awaiting_redelivery_ >= 0 && submitted_.front().offset >= awaiting_redelivery_) break;
    commit_target_ = submitted_.front().offset + 1;
    submitted_.pop_front();
    moved = true;
  }
  if (moved && !retries_.empty()) {
    for (auto it = retries_.begin(); it != retries_.end();) {
      it = it->first < commit_target_ ? retries_.erase(it) : std::next(it);
    }
  }
}

}  // namespace ingestlab
