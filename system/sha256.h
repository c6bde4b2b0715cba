// SHA-256 (FIPS 180-4), self-contained: the customer-event dialect's fallback de-duplication id
// is the hex SHA-256 of the raw message bytes. Uses the x86 SHA extensions when the CPU has them,
// a portable implementation otherwise; both give identical digests.
// Thread-safety: a Sha256 object is single-threaded; the free functions are safe from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ingestlab {

class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;
  Sha256();
  void Update(std::string_view bytes);
  // Finishes the hash; the object must not be updated afterwards.
  Digest Final();

 private:
  uint32_t state_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

Sha256::Digest Sha256Digest(std::string_view bytes);
// 64 lower-case hex characters.
std::string Sha256Hex(std::string_view bytes);
// The same into *out, reusing its capacity (no allocation once it has held a digest).
void Sha256HexInto(std::string_view bytes, std::string* out);

}  // namespace ingestlab
