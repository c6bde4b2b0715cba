// EnvelopeDecoder: recognises the dialect of a RawMessage and decodes it into an Event
// (CONTRACT.md section 1), then validates it against its schema.
//   - CloudEvents 1.0 structured JSON ("specversion": "1.0"); required id, source, type.
//   - CloudEvents binary mode (Kafka): ce_specversion/ce_id/ce_type/ce_source/... headers,
//     value = data.
//   - Service envelope (shared/seeds/003): id + type + organization_id; required id, type,
//     source, timestamp (RFC 3339). A type without a known domain prefix ("user.created") takes
//     the domain from the subject's first token ("auth.user.created").
//   - Customer-event envelope (shared/seeds/000): customer_id + event_type; required
//     customer_id, event_type, timestamp (unix seconds), source_service. Id = Nats-Msg-Id header
//     if present, else hex SHA-256 of the raw bytes. event_type maps to customer.* types
//     (system/schemas/CATALOG.md).
// Rejections: Status::Parse (not JSON, invalid UTF-8, truncated, not an object, no recognisable
// dialect, nesting deeper than kMaxDepth, larger than max_bytes) or Status::Schema (missing or
// mistyped envelope field, unknown type, data rejected by the type's schema).
// Thread-safety: one decoder per thread. The Event it fills borrows the decoder's memory and is
// valid until the next Decode call on the same decoder.
#pragma once

#include <cstddef>
#include <string>

#include "common/status.h"
#include "system/event.h"
#include "system/schema.h"

namespace ingestlab {

struct DecoderOptions {
  size_t max_bytes = 1 << 20;  // larger payloads are rejected with reason parse
  const SchemaRegistry* schemas = nullptr;  // not owned; nullptr = envelope checks only
};

class EnvelopeDecoder {
 public:
  static constexpr int kMaxDepth = 64;
  explicit EnvelopeDecoder(DecoderOptions options);
  ~EnvelopeDecoder();
  EnvelopeDecoder(const EnvelopeDecoder&) = delete;
  EnvelopeDecoder& operator=(const EnvelopeDecoder&) = delete;

  // Decodes and validates msg into *out. On error *out is unspecified.
  Status Decode(const RawMessage& msg, Event* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Hex SHA-256 of bytes (the customer dialect's fallback id).
std::string Sha256Hex(std::string_view bytes);

}  // namespace ingestlab
