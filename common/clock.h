// Clock: the one seam for time. Logic takes a Clock& and never calls now() itself, so tests
// and the harness can drive time (ManualClock) and a seed reproduces a run.
// Thread-safety: SystemClock is stateless; ManualClock is safe for concurrent use.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace ingestlab {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time as unix milliseconds (event times, committed_at).
  virtual int64_t NowUnixMillis() const = 0;
  // Monotonic time in nanoseconds, for durations and rates; origin unspecified.
  virtual int64_t NowMonoNanos() const = 0;
  // Blocks (or, for a manual clock, advances) for the given duration.
  virtual void SleepFor(std::chrono::nanoseconds d) = 0;

  // The process-wide real clock.
  static Clock& System();
};

class SystemClock final : public Clock {
 public:
  int64_t NowUnixMillis() const override;
  int64_t NowMonoNanos() const override;
  void SleepFor(std::chrono::nanoseconds d) override;
};

// A clock that moves only when told to. SleepFor advances it instantly.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_unix_millis = 1'700'000'000'000)
      : unix_ms_(start_unix_millis) {}
  int64_t NowUnixMillis() const override { return unix_ms_.load(); }
  int64_t NowMonoNanos() const override { return mono_ns_.load(); }
  void SleepFor(std::chrono::nanoseconds d) override { Advance(d); }
  void Advance(std::chrono::nanoseconds d) {
    mono_ns_ += d.count();
    unix_ms_ += std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  }

 private:
  std::atomic<int64_t> unix_ms_;
  std::atomic<int64_t> mono_ns_{0};
};

}  // namespace ingestlab
