// Encoding of generated events into the envelopes ingestd accepts (CONTRACT.md section 1) and
// their routing onto transports (section 2):
//   - CloudEvents 1.0 structured JSON (canonical): specversion, id, source "<service>-service",
//     type, time (RFC 3339 ms), subject (customer id), orgid, schemaversion, datacontenttype, data.
//   - the service envelope of shared/seeds/003: id, type, source, organization_id, timestamp,
//     schema_version, data (auth types keep the seed's short names: "user.created").
//   - the customer-event dialect of shared/seeds/000: customer_id, event_type, timestamp (unix s),
//     source_service, data, for the types that map onto one of its event_type values.
// Routing: NATS subject = the type (customer dialect: customer.events.<customer_id>.<event_type>);
// Kafka topic by domain (billing.events, crm.leads, crm.contacts, crm.opportunities), key = the
// entity the event is about. Also small helpers used across simulators/: RFC 3339 formatting,
// base64 and SHA-256 (the customer dialect's de-duplication id).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "simulators/generators.h"

#include "system/sha256.h"

namespace ingestlab::sim {

enum class Dialect { kCloudEvents, kServiceEnvelope, kCustomerEvent };
const char* DialectName(Dialect d);

enum class TransportKind { kJetStream, kNats, kKafka };
const char* TransportName(TransportKind t);  // "jetstream", "nats", "kafka"
Result<TransportKind> ParseTransport(std::string_view name);

using MessageHeaders = std::vector<std::pair<std::string, std::string>>;

// The customer dialect's event_type for a canonical type ("billing.purchase.completed" →
// "purchase"), or nullopt if the type has no customer-dialect form.
std::optional<std::string> CustomerEventType(std::string_view type);
// True for types that exist only in the customer dialect (customer.*): always encoded in it.
bool IsCustomerDialectOnly(std::string_view type);

// Encodes e in the dialect. REQUIRES: kCustomerEvent only if CustomerEventType(e.type).
std::string Encode(const GeneratedEvent& e, Dialect dialect, const std::string& org_id);
// The envelope as a JSON object (for faults that alter it before serialising).
Json EnvelopeJson(const GeneratedEvent& e, Dialect dialect, const std::string& org_id);

// Where a message of this type goes. InvalidArgument if the transport has no place for the type
// (Kafka has topics only for billing and crm).
Result<std::string> NatsSubject(const GeneratedEvent& e, Dialect dialect);
Result<std::string> KafkaTopic(std::string_view type);

std::string FormatRfc3339Millis(int64_t unix_ms);
std::string Base64Encode(std::string_view bytes);
// nullopt if the text is not valid base64.
std::optional<std::string> Base64Decode(std::string_view text);
// The customer dialect's fallback id: the same SHA-256 ingestd computes.
using ::ingestlab::Sha256Hex;

}  // namespace ingestlab::sim
