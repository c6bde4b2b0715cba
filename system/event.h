// The two shapes an event takes inside ingestd:
//   RawMessage — what a transport delivered: exact bytes, headers, where it came from.
//   Event      — the one internal form every envelope dialect decodes into.
// DataView gives handlers read access to an event's `data` object without exposing the JSON
// library. Thread-safety: values; an Event and its DataView borrow memory owned by the
// EnvelopeDecoder that produced them and are valid until that decoder's next Decode call.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

namespace ingestlab {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Returns the first header named `name` (case-insensitive), or nullptr.
const std::string* FindHeader(const Headers& headers, std::string_view name);

enum class Transport { kJetStream, kKafka };

struct RawMessage {
  std::string payload;        // the exact bytes received
  Headers headers;            // transport headers: Nats-Msg-Id, ce_* (Kafka binary mode), ...
  Transport transport = Transport::kJetStream;
  std::string subject;        // NATS subject, or Kafka topic
  std::string key;            // Kafka message key; empty on NATS
  // Where the message sits in its broker, unique per stored message:
  //   "nats:BILLING:42"  (stream name, stream sequence)
  //   "kafka:crm.leads:2:1234"  (topic, partition, offset)
  // A redelivery of the same stored message has the same origin.
  std::string origin;
  int attempts = 1;           // delivery attempts so far, counting this one (1 = first delivery)
  int64_t received_at_ms = 0; // unix ms when ingestd received it
};

enum class Dialect {
  kCloudEvents,        // structured JSON, "specversion": "1.0"
  kCloudEventsBinary,  // Kafka ce_* headers, value = data
  kServiceEnvelope,    // id + type + organization_id (shared/seeds/003)
  kCustomerEvent,      // customer_id + event_type (shared/seeds/000)
};
const char* DialectName(Dialect d);

// Read-only view of a JSON object (an event's `data`, or an object nested in it).
// Accessors return nullopt when the key is missing, null, or of another JSON type.
class DataView {
 public:
  DataView() = default;
  explicit DataView(simdjson::dom::element e) : e_(e), valid_(e.is_object()) {}

  bool valid() const { return valid_; }
  bool has(std::string_view key) const;
  std::optional<std::string_view> str(std::string_view key) const;
  std::optional<int64_t> int64(std::string_view key) const;   // integral numbers only
  std::optional<double> number(std::string_view key) const;   // any JSON number
  std::optional<bool> boolean(std::string_view key) const;
  DataView object(std::string_view key) const;                // invalid view if absent
  // The value at `key` as compact JSON text (for arrays/objects stored as JSON columns).
  std::optional<std::string> json(std::string_view key) const;
  // The whole object as compact JSON text.
  std::string to_json() const;
  simdjson::dom::element element() const { return e_; }

 private:
  std::optional<simdjson::dom::element> get(std::string_view key) const;
  simdjson::dom::element e_;
  bool valid_ = false;
};

struct Event {
  std::string id;             // de-duplication id (CONTRACT.md section 1)
  std::string type;           // canonical "domain.entity.action", e.g. "billing.purchase.completed"
  std::string source;         // producing service
  std::string org_id;         // tenant; empty if the envelope has none
  std::string customer_id;    // customer / learner / entity the event is about; may be empty
  int64_t event_time_ms = 0;  // when it happened, unix ms
  int schema_version = 1;
  Dialect dialect = Dialect::kCloudEvents;
  std::string_view raw;       // the message's original bytes (stored as events.payload)
  DataView data;              // the event's data object (may be invalid if it has none)
  std::string_view original_type;  // the type as written in the envelope (e.g. "purchase")
};

}  // namespace ingestlab
