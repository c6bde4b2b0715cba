// Service generators: seeded, stateful producers of coherent event streams for the simulated
// microservices (billing, support, auth, learning, crm). Each generator keeps its own state so
// that a stream makes sense on its own: users exist before they log in, refunds name earlier
// purchases, activities fall inside their open session, conversions name created leads.
// All randomness comes from Rng forks of (seed, service); event times are given by the caller
// (the virtual clock: run start + scheduled offset), never read from a wall clock. The same
// seed and options therefore yield the same events in the same order.
// A shared CustomerPool (seeded by the run seed only) gives every service the same customers,
// so profiles join up across services.
// Thread-safety: none; one generator per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/rng.h"
#include "common/status.h"

namespace ingestlab::sim {

using Json = nlohmann::ordered_json;

// The five simulated services, in a fixed order.
const std::vector<std::string>& AllServices();
bool IsKnownService(std::string_view service);

struct Customer {
  std::string id;     // "cust-<seed>-<n>"
  std::string email;  // unique per customer
  std::string first_name;
  std::string last_name;
  std::string phone;
  std::string company;
};

// The seeded customers every service draws from.
class CustomerPool {
 public:
  CustomerPool(uint64_t seed, int size);
  const Customer& at(size_t i) const { return customers_[i]; }
  size_t size() const { return customers_.size(); }

 private:
  std::vector<Customer> customers_;
};

// One generated event, before it is encoded into an envelope.
struct GeneratedEvent {
  std::string service;  // "billing"
  uint64_t seq = 0;     // per-service sequence, 0-based
  std::string type;     // canonical type, "billing.purchase.completed"
  std::string id;       // "<service>-<seed>-<seq>"
  int64_t event_time_ms = 0;
  std::string customer_id;  // CloudEvents subject: the customer / learner the event is about
  std::string entity_key;   // the entity whose order matters (Kafka key, reordering unit)
  int schema_version = 1;
  Json data;
  // True if swapping it with the next event of the same entity creates no dependency problem
  // (profile updates, notes, focus pings, ...); the out-of-order fault only touches these.
  bool reorderable = false;
  bool unknown_customer = false;  // the customer was drawn outside the pool on purpose
};

struct GeneratorOptions {
  uint64_t seed = 1;
  std::string org_id = "org-1";
  int customer_pool_size = 200;
  // Share of new entities (purchases, tickets, sessions, ...) given a customer outside the pool.
  double unknown_customer_share = 0;
  // Share of crm.lead.created events written in schema version 2.
  double lead_v2_share = 0;
};

// Counters a generator keeps about its own choices (tests check fault shares against them).
struct GeneratorStats {
  uint64_t customer_picks = 0;     // times a customer was chosen for a new entity
  uint64_t unknown_customers = 0;  // of which outside the pool
  uint64_t leads_created = 0;
  uint64_t leads_v2 = 0;
};

class ServiceGenerator {
 public:
  virtual ~ServiceGenerator() = default;
  // The next event of this service, stamped with event_time_ms (non-decreasing across calls).
  virtual GeneratedEvent Next(int64_t event_time_ms) = 0;
  // An example of one type (for `simulate --event TYPE`); advances state like Next.
  // NotFound if this service does not produce the type.
  virtual Result<GeneratedEvent> Sample(std::string_view type, int64_t event_time_ms) = 0;
  virtual const std::string& service() const = 0;
  virtual const GeneratorStats& stats() const = 0;
  // Every type this service can produce.
  virtual std::vector<std::string> Types() const = 0;
};

// InvalidArgument for an unknown service name.
Result<std::unique_ptr<ServiceGenerator>> MakeGenerator(std::string_view service,
                                                        const GeneratorOptions& options);

// The service that produces a type ("billing.purchase.refunded" → "billing"), or "" if none.
std::string ServiceForType(std::string_view type);

// Required `data` fields per type (system/schemas/CATALOG.md, the fields marked *), for
// validation in tests and for the poison fault. customer_id may come from the envelope.
const std::vector<std::string>& RequiredDataFields(std::string_view type);

}  // namespace ingestlab::sim
