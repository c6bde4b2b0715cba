// Message-level faults and the planned message stream of one simulated service.
//
// FaultSpec: each fault is a share of the stream, parsed from
//   "duplicate=0.02,malformed=0.01,poison=0.01,out_of_order=0.02,schema_mix=0.1,
//    oversized=0.001,unknown_customer=0.01"
// What each share means (all decisions come from seeded Rng forks, so they are deterministic):
//   duplicate        per generated event: the same bytes are re-sent a few hundred messages later,
//                    without Nats-Msg-Id so broker de-duplication lets it through → "duplicate"
//   malformed        per generated event: an extra broken copy is sent: truncated JSON or invalid
//                    UTF-8 → "dead_letter:parse"; an envelope field of the wrong JSON type →
//                    "dead_letter:schema"
//   poison           per generated event: an extra copy that is valid JSON its schema rejects
//                    (negative amount, required field of the wrong type) → "dead_letter:schema"
//   oversized        per generated event: an extra copy whose payload exceeds 1 MiB →
//                    "dead_letter:parse"
//   out_of_order     per reorderable event (profile updates, notes, focus pings, ...): held back
//                    and sent after the next event of the same entity → "applied"
//   schema_mix       per crm.lead.created: written in schema version 2 → "applied"
//   unknown_customer per new entity: a customer nobody created → "applied" (auto-created)
// Faulty copies carry their own ids ("<id>.malformed", ...), so the real event is always sent
// too and the stream stays coherent: nothing that depends on it is lost.
//
// MessageStream turns a generator's events into the messages actually published, with the
// expected outcome of each. Thread-safety: FaultSpec is a value; MessageStream is single-threaded.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/rng.h"
#include "common/status.h"
#include "simulators/encoding.h"
#include "simulators/generators.h"

namespace ingestlab::sim {

struct FaultSpec {
  double duplicate = 0;
  double malformed = 0;
  double poison = 0;
  double out_of_order = 0;
  double schema_mix = 0;
  double oversized = 0;
  double unknown_customer = 0;

  // "" or "none" = no faults. InvalidArgument naming the bad item otherwise.
  static Result<FaultSpec> Parse(std::string_view text);
  // The canonical text form (only non-zero shares), "none" if all are zero.
  std::string ToString() const;
  bool any() const;
};

// The expected outcome strings of a published message.
inline constexpr const char* kExpectApplied = "applied";
inline constexpr const char* kExpectDuplicate = "duplicate";
inline constexpr const char* kExpectParse = "dead_letter:parse";
inline constexpr const char* kExpectSchema = "dead_letter:schema";

// One message to publish and what ingestd is expected to do with it.
struct PlannedMessage {
  std::string service;
  uint64_t seq = 0;      // the generated event's sequence number
  std::string type;      // canonical type of the generated event
  std::string event_id;  // the id ingestd de-duplicates on (customer dialect: SHA-256)
  int64_t event_time_ms = 0;
  TransportKind transport = TransportKind::kJetStream;
  Dialect dialect = Dialect::kCloudEvents;
  std::string subject;  // NATS subject or Kafka topic
  std::string key;      // Kafka key (customer or entity id)
  MessageHeaders headers;
  std::string payload;
  std::string expected;  // applied | duplicate | dead_letter:<reason>
  std::string fault;     // "" or duplicate, malformed.truncated, malformed.utf8,
                         // malformed.types, poison, oversized, out_of_order
};

struct StreamOptions {
  std::string service;
  uint64_t seed = 1;
  std::string org_id = "org-1";
  int customer_pool_size = 200;
  FaultSpec faults;
  TransportKind transport = TransportKind::kJetStream;
  double service_envelope_share = 0.1;   // share of events in the seed-003 envelope
  double customer_dialect_share = 0.05;  // share of mappable events in the seed-000 dialect
  bool nats_msg_id = true;               // JetStream: Nats-Msg-Id = event id on originals
  int duplicate_delay_min = 100;         // a duplicate follows its original by this many
  int duplicate_delay_max = 500;         // messages (uniform)
  int max_hold = 1000;                   // an out-of-order event is released after this many
  size_t oversized_bytes = (1 << 20) + 4096;
};

// Counters of what the stream did (fault shares are checked against them).
struct StreamStats {
  uint64_t events = 0;    // generated events
  uint64_t messages = 0;  // messages handed out
  uint64_t duplicates = 0;
  uint64_t malformed = 0;
  uint64_t poison = 0;
  uint64_t oversized = 0;
  uint64_t reorderable = 0;  // generated events eligible for reordering
  uint64_t reordered = 0;
  uint64_t service_envelope = 0;
  uint64_t customer_dialect = 0;
};

class MessageStream {
 public:
  // InvalidArgument for an unknown service or a service/transport pair with no route.
  static Result<std::unique_ptr<MessageStream>> Create(const StreamOptions& options);

  // The next message, generating events as needed; a newly generated event is stamped with
  // event_time_ms (the virtual clock). Never runs dry.
  PlannedMessage Next(int64_t event_time_ms);
  // Messages still held back (out-of-order events) that must be sent before the run ends.
  // Pending duplicates not yet due are dropped: they were never part of the sent stream.
  std::vector<PlannedMessage> DrainHeld();

  // One message of a type, without faults (for `simulate --event TYPE`).
  Result<PlannedMessage> Sample(std::string_view type, int64_t event_time_ms);

  const StreamStats& stats() const { return stats_; }
  const ServiceGenerator& generator() const { return *generator_; }
  const StreamOptions& options() const { return options_; }

 private:
  MessageStream(const StreamOptions& options, std::unique_ptr<ServiceGenerator> generator);
  PlannedMessage Original(const GeneratedEvent& e);
  void GenerateOne(int64_t event_time_ms);
  void Push(PlannedMessage m);
  PlannedMessage Malformed(const GeneratedEvent& e, const PlannedMessage& original);
  PlannedMessage Poison(const GeneratedEvent& e, const PlannedMessage& original);
  PlannedMessage Oversized(const GeneratedEvent& e, const PlannedMessage& original);

  StreamOptions options_;
  std::unique_ptr<ServiceGenerator> generator_;
  Rng dialect_rng_, duplicate_rng_, malformed_rng_, poison_rng_, oversized_rng_, order_rng_;
  std::deque<PlannedMessage> ready_;
  // Duplicates waiting for their turn: due message index → copies.
  std::multimap<uint64_t, PlannedMessage> due_duplicates_;
  struct Held {
    PlannedMessage message;
    uint64_t held_at;  // message index when it was held
  };
  std::map<std::string, Held> held_;  // entity key → held out-of-order event
  uint64_t handed_out_ = 0;
  StreamStats stats_;
};

}  // namespace ingestlab::sim
