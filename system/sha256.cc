// SHA-256 on OpenSSL's EVP interface. The algorithm is fetched once; each thread keeps one
// context for the one-shot functions, so hashing a message allocates nothing.
#include "system/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace ingestlab {
namespace {

// The SHA-256 implementation, fetched once from the default provider. Without it (a broken
// OpenSSL installation) nothing can be de-duplicated correctly: abort rather than guess.
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) std::abort();
    return fetched;
  }();
  return md;
}

void Init(EVP_MD_CTX* ctx) {
  if (ctx == nullptr || EVP_DigestInit_ex2(ctx, Sha256Md(), nullptr) != 1) std::abort();
}

Sha256::Digest Finish(EVP_MD_CTX* ctx) {
  Sha256::Digest out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != out.size()) std::abort();
  return out;
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) { Init(ctx_); }

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::Update(std::string_view bytes) {
  if (EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()) != 1) std::abort();
}

Sha256::Digest Sha256::Final() { return Finish(ctx_); }

Sha256::Digest Sha256Digest(std::string_view bytes) {
  // One context per thread, reset for every message.
  thread_local std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(),
                                                                       &EVP_MD_CTX_free);
  Init(ctx.get());
  if (EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()) != 1) std::abort();
  return Finish(ctx.get());
}

void Sha256HexInto(std::string_view bytes, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const Sha256::Digest d = Sha256Digest(bytes);
  out->resize(2 * d.size());
  for (size_t i = 0; i < d.size(); ++i) {
    (*out)[2 * i] = kHex[d[i] >> 4];
    (*out)[2 * i + 1] = kHex[d[i] & 15];
  }
}

std::string Sha256Hex(std::string_view bytes) {
  std::string out;
  Sha256HexInto(bytes, &out);
  return out;
}

}  // namespace ingestlab
