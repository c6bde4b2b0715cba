// Rng: the one seam for randomness. Seeded, deterministic across machines and compilers
// (splitmix64 + xoshiro256**, no std:: distributions, whose output is implementation-defined).
// Fork() derives an independent stream by name, so adding a consumer of randomness in one
// place does not shift the choices made in another.
// Thread-safety: none; give each thread its own Rng (Fork one per thread).
#pragma once

#include <cstdint>
#include <string_view>

namespace ingestlab {

class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t NextU64();
  // Uniform in [0, n). REQUIRES: n > 0.
  uint64_t Uniform(uint64_t n);
  // Uniform in [lo, hi]. REQUIRES: lo <= hi.
  int64_t Range(int64_t lo, int64_t hi);
  // Uniform in [0, 1).
  double NextDouble();
  // True with probability p (p <= 0 never, p >= 1 always).
  bool Chance(double p);
  // Exponentially distributed with the given mean (for Poisson arrivals).
  double Exponential(double mean);
  // An independent generator derived from this one's seed and a name; does not advance this one.
  Rng Fork(std::string_view name) const;
  uint64_t seed() const { return seed_; }

 private:
  uint64_t seed_;
  uint64_t s_[4];
};

}  // namespace ingestlab
