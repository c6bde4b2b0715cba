// DeadLetterTap: how the checkers learn what a system under test of the user's own
// dead-lettered (a scenario's `system: {dead_letters: {subject: ...}}`). A core NATS
// subscription on that subject, open from before the load starts to the end of the run, keeps
// each message as a dead_letters row: the payload, the subject, and the reason, error and origin
// from the headers Dlq-Reason, Dlq-Error and Dlq-Origin when the system sets them (docs/sut.md).
// Bounded: at most kMaxTappedDeadLetters messages are kept (the count goes on).
// Thread-safety: the subscription's callback runs on a cnats thread; Rows() and Count() may be
// called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "harness/assertions.h"
#include "system/nats/nats_security.h"

struct __natsConnection;
struct __natsSubscription;
struct __natsMsg;

namespace ingestlab {

inline constexpr size_t kMaxTappedDeadLetters = 100'000;

class DeadLetterTap {
 public:
  static Result<std::unique_ptr<DeadLetterTap>> Start(const std::string& nats_urls,
                                                      const std::string& subject,
                                                      const NatsSecurity& security = {});
  ~DeadLetterTap();

  int64_t Count() const { return count_.load(); }
  std::vector<DeadLetterRow> Rows() const;

 private:
  DeadLetterTap() = default;
  static void OnMessage(__natsConnection*, __natsSubscription*, __natsMsg* msg, void* closure);

  __natsConnection* conn_ = nullptr;
  __natsSubscription* sub_ = nullptr;
  std::atomic<int64_t> count_{0};
  mutable std::mutex mu_;
  std::vector<DeadLetterRow> rows_;
};

// The event id in a dead-lettered payload: its top-level "id" or "event_id" string, "" when
// it has none or is not JSON (nesting is checked before parsing).
std::string EventIdOfPayload(const std::string& payload);

}  // namespace ingestlab
