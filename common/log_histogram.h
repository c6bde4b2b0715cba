// LogHistogram: a fixed-size, log-bucketed histogram of non-negative durations (HdrHistogram's
// layout, simplified): values are recorded in microseconds; each power-of-two range holds
// kSubBuckets linear sub-buckets, so every bucket is at most 1/kSubBuckets (~3%) wide relative
// to its values. Recording is O(1) and allocation-free; memory is fixed (~15 KB) whatever is
// recorded. Values above kMaxMicros (one hour) are clamped into the top bucket, and the exact
// maximum is kept apart.
// Percentile(p) answers with the upper edge of the bucket that holds the nearest-rank value,
// clamped to the recorded maximum — never lower than the true percentile, at most ~3% higher.
// Thread-safety: none; a value type. Merge combines histograms recorded on other threads.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

namespace ingestlab {

class LogHistogram {
 public:
  static constexpr int kSubBucketBits = 5;  // 32 sub-buckets per power of two
  static constexpr int64_t kSubBuckets = int64_t{1} << kSubBucketBits;
  static constexpr int64_t kMaxMicros = int64_t{3600} * 1'000'000;
  // Values below kSubBuckets microseconds are exact; then 32 per octave up to 2^32 µs (> 1 h).
  static constexpr int kOctaves = 32 - kSubBucketBits + 1;
  static constexpr size_t kBuckets = static_cast<size_t>(kOctaves * kSubBuckets);

  void RecordMicros(int64_t micros) {
    micros = std::clamp<int64_t>(micros, 0, kMaxMicros);
    counts_[Index(micros)]++;
    ++count_;
    max_ = std::max(max_, micros);
    sum_ += micros;
  }
  void RecordMillis(double ms) { RecordMicros(static_cast<int64_t>(std::llround(ms * 1000.0))); }

  void Merge(const LogHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
  }

  // What was recorded after `earlier` was copied from this histogram (a snapshot of it). The
  // difference's maximum is the upper edge of its highest non-empty bucket (clamped to ours).
  LogHistogram Minus(const LogHistogram& earlier) const {
    LogHistogram d;
    for (size_t i = 0; i < kBuckets; ++i) {
      d.counts_[i] = std::max<int64_t>(0, counts_[i] - earlier.counts_[i]);
      d.count_ += d.counts_[i];
      if (d.counts_[i] > 0) d.max_ = std::min(UpperEdge(i), max_);
    }
    d.sum_ = std::max<int64_t>(0, sum_ - earlier.sum_);
    return d;
  }

  int64_t count() const { return count_; }
  double MaxMillis() const { return static_cast<double>(max_) / 1000.0; }
  double MeanMillis() const {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_) / 1000.0;
  }

  // p in [0, 100]; 0 for an empty histogram.
  double PercentileMillis(double p) const {
    if (count_ == 0) return 0;
    const double clamped = std::clamp(p, 0.0, 100.0);
    int64_t rank = static_cast<int64_t>(std::ceil(clamped / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<int64_t>(rank, 1, count_);
    int64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        return static_cast<double>(std::min(UpperEdge(i), max_)) / 1000.0;
      }
    }
    return MaxMillis();
  }

  // Counts per bucket of the given upper bounds (ms, ascending), plus one overflow bucket:
  // the coarser view reports and /metrics-style consumers use.
  std::vector<int64_t> CountsFor(const std::vector<double>& bounds_ms) const;

  // The bucket a value falls in, and that bucket's largest value (both in microseconds).
  static size_t Index(int64_t micros) {
    if (micros < kSubBuckets) return static_cast<size_t>(micros);
    const int msb = 63 - std::countl_zero(static_cast<uint64_t>(micros));  // >= kSubBucketBits
    const int octave = msb - kSubBucketBits + 1;
    const int64_t sub = (micros >> (msb - kSubBucketBits)) - kSubBuckets;  // 0..kSubBuckets-1
    return static_cast<size_t>(octave * kSubBuckets + sub);
  }
  static int64_t UpperEdge(size_t index) {
    const int64_t i = static_cast<int64_t>(index);
    if (i < kSubBuckets) return i;
    const int64_t octave = i / kSubBuckets;
    const int64_t sub = i % kSubBuckets;
    const int shift = static_cast<int>(octave) - 1;
    return ((kSubBuckets + sub + 1) << shift) - 1;
  }

 private:
  std::array<int64_t, kBuckets> counts_{};
  int64_t count_ = 0;
  int64_t max_ = 0;
  int64_t sum_ = 0;
};

inline std::vector<int64_t> LogHistogram::CountsFor(const std::vector<double>& bounds_ms) const {
  std::vector<int64_t> out(bounds_ms.size() + 1, 0);
  for (size_t i = 0; i < kBuckets; ++i) {
    if (counts_[i] == 0) continue;
    const double upper_ms = static_cast<double>(UpperEdge(i)) / 1000.0;
    const size_t slot = static_cast<size_t>(
        std::lower_bound(bounds_ms.begin(), bounds_ms.end(), upper_ms) - bounds_ms.begin());
    out[slot] += counts_[i];
  }
  return out;
}

}  // namespace ingestlab
