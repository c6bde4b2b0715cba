// Envelope encoding and routing: see encoding.h.
#include "simulators/encoding.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

#include "system/time_format.h"

namespace ingestlab::sim {
namespace {

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

const char* DialectName(Dialect d) {
  switch (d) {
    case Dialect::kCloudEvents:
      return "cloudevents";
    case Dialect::kServiceEnvelope:
      return "service";
    case Dialect::kCustomerEvent:
      return "customer";
  }
  return "?";
}

namespace {

// Each transport's name, for TransportName and ParseTransport.
constexpr std::array<std::pair<TransportKind, const char*>, 3> kTransportNames = {{
    {TransportKind::kJetStream, "jetstream"},
    {TransportKind::kNats, "nats"},
    {TransportKind::kKafka, "kafka"},
}};

}  // namespace

const char* TransportName(TransportKind t) {
  for (const auto& [kind, name] : kTransportNames) {
    if (kind == t) return name;
  }
  return "?";
}

Result<TransportKind> ParseTransport(std::string_view name) {
  for (const auto& [kind, known] : kTransportNames) {
    if (name == known) return kind;
  }
  return Status::InvalidArgument("unknown transport '" + std::string(name) +
                                 "' (expected jetstream, nats or kafka)");
}

std::optional<std::string> CustomerEventType(std::string_view type) {
  if (type == "billing.purchase.completed") return "purchase";
  if (type == "support.ticket.opened") return "support_ticket";
  if (type == "support.work_order.created") return "repair";
  if (type == "support.note.added") return "note";
  if (type == "customer.profile.updated") return "profile_update";
  if (type == "customer.contact.recorded") return "contact";
  return std::nullopt;
}

bool IsCustomerDialectOnly(std::string_view type) { return StartsWith(type, "customer."); }

Json EnvelopeJson(const GeneratedEvent& e, Dialect dialect, const std::string& org_id) {
  const std::string source = e.service + "-service";
  switch (dialect) {
    case Dialect::kCloudEvents: {
      Json j{{"specversion", "1.0"},
             {"id", e.id},
             {"source", source},
             {"type", e.type},
             {"time", FormatRfc3339Millis(e.event_time_ms)},
             {"subject", e.customer_id},
             {"orgid", org_id},
             {"schemaversion", std::to_string(e.schema_version)},
             {"datacontenttype", "application/json"},
             {"data", e.data}};
      return j;
    }
    case Dialect::kServiceEnvelope: {
      // Seed 003 names auth events without the domain ("user.created" on auth.user.created).
      std::string type = e.type;
      if (StartsWith(type, "auth.")) type = type.substr(5);
      Json data = e.data;
      if (!data.contains("customer_id") && !data.contains("learner_id") &&
          !data.contains("user_id")) {
        data["customer_id"] = e.customer_id;
      }
      return Json{{"id", e.id},
                  {"type", type},
                  {"source", source},
                  {"organization_id", org_id},
                  {"timestamp", FormatRfc3339Millis(e.event_time_ms)},
                  {"schema_version", std::to_string(e.schema_version) + ".0"},
                  {"data", std::move(data)}};
    }
    case Dialect::kCustomerEvent: {
      Json data = e.data;
      // The dialect's field names: purchases carry price/total, notes stay notes.
      if (e.type == "billing.purchase.completed") {
        const double amount = data.value("amount", 0.0);
        const int64_t quantity = data.value("quantity", int64_t{1});
        data.erase("amount");
        data.erase("currency");
        data.erase("customer_id");
        data["price"] = std::round(amount / static_cast<double>(quantity) * 100.0) / 100.0;
        data["total"] = amount;
        data["status"] = "completed";
      } else {
        data.erase("customer_id");
      }
      return Json{{"customer_id", e.customer_id},
                  {"event_type", CustomerEventType(e.type).value_or("generic")},
                  {"timestamp", e.event_time_ms / 1000},
                  {"source_service", source},
                  {"data", std::move(data)},
                  {"metadata", Json{{"event_id", e.id}}}};
    }
  }
  return Json::object();
}

std::string Encode(const GeneratedEvent& e, Dialect dialect, const std::string& org_id) {
  return EnvelopeJson(e, dialect, org_id).dump();
}

Result<std::string> NatsSubject(const GeneratedEvent& e, Dialect dialect) {
  if (dialect == Dialect::kCustomerEvent || IsCustomerDialectOnly(e.type)) {
    const auto event_type = CustomerEventType(e.type);
    if (!event_type) {
      return Status::InvalidArgument("type " + e.type + " has no customer-event form");
    }
    return "customer.events." + e.customer_id + "." + *event_type;
  }
  return e.type;
}

Result<std::string> KafkaTopic(std::string_view type) {
  if (StartsWith(type, "billing.")) return std::string("billing.events");
  if (StartsWith(type, "crm.lead.")) return std::string("crm.leads");
  if (StartsWith(type, "crm.contact.")) return std::string("crm.contacts");
  if (StartsWith(type, "crm.opportunity.")) return std::string("crm.opportunities");
  return Status::InvalidArgument("no Kafka topic for type " + std::string(type) +
                                 " (Kafka carries billing and crm only)");
}

std::string FormatRfc3339Millis(int64_t unix_ms) { return FormatRfc3339Ms(unix_ms); }

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) |
                       (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < in.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view in) {
  static const std::array<int8_t, 256> kRev = [] {
    std::array<int8_t, 256> r{};
    r.fill(-1);
    for (int i = 0; i < 64; ++i) r[static_cast<uint8_t>(kB64[i])] = static_cast<int8_t>(i);
    return r;
  }();
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in[i + static_cast<size_t>(k)];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad) return std::nullopt;
      v[k] = kRev[static_cast<uint8_t>(c)];
      if (v[k] < 0) return std::nullopt;
    }
    const uint32_t w = (static_cast<uint32_t>(v[0]) << 18) | (static_cast<uint32_t>(v[1]) << 12) |
                       (static_cast<uint32_t>(v[2]) << 6) | static_cast<uint32_t>(v[3]);
    out += static_cast<char>(w >> 16);
    if (pad < 2) out += static_cast<char>((w >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(w & 0xff);
  }
  return out;
}


}  // namespace ingestlab::sim
