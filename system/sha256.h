// SHA-256 through OpenSSL's EVP interface (libcrypto, which picks the x86 SHA extensions itself
// when the CPU has them): the customer-event dialect's fallback de-duplication id is the hex
// SHA-256 of the raw message bytes, and the store's state digest hashes its rows.
// Thread-safety: a Sha256 object is single-threaded; the free functions are safe from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace ingestlab {

class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view bytes);
  // Finishes the hash; the object must not be updated afterwards.
  Digest Final();

 private:
  evp_md_ctx_st* ctx_;
};

Sha256::Digest Sha256Digest(std::string_view bytes);
// 64 lower-case hex characters.
std::string Sha256Hex(std::string_view bytes);
// The same into *out, reusing its capacity (no allocation once it has held a digest).
void Sha256HexInto(std::string_view bytes, std::string* out);

}  // namespace ingestlab
