// OffsetTracker: the commit-after-store bookkeeping of one assigned Kafka partition, apart from
// librdkafka so that it can be tested alone (tests/unit/offset_tracker_test.cc).
//
// It keeps the offsets submitted to the pipeline, in order, with a settled flag and the epoch
// they were registered in, and answers which offset may be committed: one past the longest
// settled run at the start. A kRetry settlement starts a rewind: the epoch is bumped, every
// submission at or after the retried offset is forgotten (their late settlements change
// nothing: they come again), and the partition must be paused, then sought back to the retried
// offset once the retry delay has passed. Submissions before the retried offset stay, and their
// settlements count whenever they arrive.
//
// The promise, whatever order receives, settlements, seeks (failed or not), revokes and assigns
// come in: the offset it hands out to commit never passes a message that has not been settled
// with an ack. Two rules keep it:
//   - a failed seek leaves the partition paused; the seek is tried again after a backoff, and
//     the partition resumes only after a seek to the retried offset succeeded;
//   - until the retried offset is received again, a message past it is refused (never
//     registered, so never committed) and another seek back is asked for.
//
// Not thread-safe: KafkaSource calls it under its own mutex, from the poll thread (receive,
// control, commit) and the pipeline's writer thread (settlements).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>

namespace ingestlab {

class OffsetTracker {
 public:
  // Backoff between seek attempts after a failed seek: doubles from the first, up to the max.
  static constexpr int64_t kSeekRetryFirstNs = 100'000'000;
  static constexpr int64_t kSeekRetryMaxNs = 5'000'000'000;

  // A message past a retried offset that was not received again is refused and the partition
  // sought back, this many times per rewind; after that the broker is taken at its word that the
  // retried offset is gone (deleted or compacted away) and the gap is reported as skipped.
  static constexpr int kMaxPastRetryRefusals = 3;

  enum class Outcome {
    kAccepted,
    kNotWanted,  // revoked, paused for a retry, or an offset below the next one expected
    kPastRetry,  // past a retried offset not yet received again: refused, a seek back asked for
  };
  struct Received {
    Outcome result = Outcome::kNotWanted;
    uint32_t epoch = 0;
    int attempts = 1;     // deliveries of this offset so far, this one included
    int64_t skipped = 0;  // offsets jumped over before this one (deleted by the broker)
  };

  // --- receive (poll thread) ---

  // A consumed message at `offset`. When accepted, it is registered as in flight in the
  // returned epoch; it must later be settled with Settle or taken back with Unregister.
  Received Receive(int64_t offset);
  // Takes back a registration whose message never reached the pipeline. Only the newest
  // registration can be taken back from the order; older ones just stop counting as in flight.
  void Unregister(uint32_t epoch, int64_t offset);

  // --- settle (writer thread); one batch's settlements, then FinishSettlements ---

  void Settle(uint32_t epoch, int64_t offset, bool retry, int64_t retry_delay_ms);
  // Applies the batch: starts a rewind to the lowest offset retried in it (after the longest
  // delay asked for) and moves the commit target. Returns true if a rewind started.
  bool FinishSettlements(int64_t now_ns);

  // --- control (poll thread) ---

  // True once per rewind: the caller must pause the partition now.
  bool TakePauseRequest();
  // The offset to seek back to, once the partition is paused for a retry and the delay (or the
  // seek backoff) has passed; the caller seeks and reports SeekSucceeded or SeekFailed.
  std::optional<int64_t> SeekDue(int64_t now_ns) const;
  // The seek to `offset` succeeded. Returns true if the caller may resume the partition (false
  // when another rewind started meanwhile).
  bool SeekSucceeded(int64_t offset);
  // The seek failed: the partition stays paused and the seek is tried again after a backoff.
  void SeekFailed(int64_t now_ns);

  // --- commit (poll thread) ---

  // The offset to commit if it moved since the last one handed out.
  std::optional<int64_t> TakeCommit();
  // An asynchronous commit of `offset` failed: hand it out again.
  void CommitFailed(int64_t offset);
  // Everything below this offset is settled (-1: nothing yet). For a synchronous commit.
  int64_t commit_target() const { return commit_target_; }

  // --- partition lifecycle ---

  // The partition was revoked or lost: nothing more is accepted; settlements still count.
  void Revoke() { revoked_ = true; }
  bool revoked() const { return revoked_; }

  int64_t in_flight() const { return in_flight_; }
  uint32_t epoch() const { return epoch_; }
  // A rewind is pending or the partition is paused for it: it must stay paused.
  bool held_for_retry() const { return rewind_requested_ || paused_for_retry_; }

 private:
  struct Submitted {
    int64_t offset;
    uint32_t epoch;  // of its registration
    bool settled;
  };
  void AdvanceCommitTarget();
  void RequestRewind(int64_t offset, int64_t resume_at_ns);

  std::deque<Submitted> submitted_;  // ascending offsets
  uint32_t epoch_ = 0;
  int64_t next_expected_ = -1;  // lowest offset accepted next (-1: any)
  int64_t in_flight_ = 0;       // registered, not yet settled or taken back
  int64_t commit_target_ = -1;  // everything below it settled
  int64_t commit_sent_ = -1;    // last target handed out by TakeCommit
  bool revoked_ = false;

  // Retry and rewind.
  bool rewind_requested_ = false;  // the caller must pause, then seek back
  bool paused_for_retry_ = false;
  int64_t rewind_offset_ = 0;
  int64_t resume_at_ns_ = 0;                  // seek back no earlier than this
  int64_t awaiting_redelivery_ = -1;          // a retried offset not received again yet (-1: none)
  int seek_failures_ = 0;                     // in a row, for the backoff
  int past_retry_refusals_ = 0;               // this rewind
  std::unordered_map<int64_t, int> retries_;  // offset -> kRetry settlements so far

  // The batch being settled.
  int64_t pending_rewind_ = -1;
  int64_t pending_delay_ms_ = 0;
};

}  // namespace ingestlab
