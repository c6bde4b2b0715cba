// FaultSpec parsing and the faulted message stream: see faults.h.
#include "simulators/faults.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace ingestlab::sim {
namespace {

struct ShareField {
  const char* name;
  double FaultSpec::*member;
};
constexpr ShareField kShares[] = {
    {"duplicate", &FaultSpec::duplicate},
    {"malformed", &FaultSpec::malformed},
    {"poison", &FaultSpec::poison},
    {"out_of_order", &FaultSpec::out_of_order},
    {"schema_mix", &FaultSpec::schema_mix},
    {"oversized", &FaultSpec::oversized},
    {"unknown_customer", &FaultSpec::unknown_customer},
};

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// A CloudEvents copy of the event, `copy` (its own id), sent where `original` was, without its
// headers, and expected to end as `expected` because of `fault`.
PlannedMessage FaultyCopy(const PlannedMessage& original, const GeneratedEvent& copy,
                          const std::string& org_id, const char* expected, const char* fault) {
  PlannedMessage m = original;
  m.headers.clear();
  m.dialect = Dialect::kCloudEvents;
  m.event_id = copy.id;
  if (m.transport != TransportKind::kKafka) m.subject = NatsSubject(copy, m.dialect).value();
  m.payload = Encode(copy, Dialect::kCloudEvents, org_id);
  m.expected = expected;
  m.fault = fault;
  return m;
}

}  // namespace

Result<FaultSpec> FaultSpec::Parse(std::string_view text) {
  FaultSpec spec;
  const std::string all = Trim(text);
  if (all.empty() || all == "none") return spec;
  std::vector<std::string> seen;
  size_t pos = 0;
  while (pos <= all.size()) {
    size_t comma = all.find(',', pos);
    if (comma == std::string::npos) comma = all.size();
    const std::string item = Trim(std::string_view(all).substr(pos, comma - pos));
    pos = comma + 1;
    if (item.empty()) return Status::InvalidArgument("faults: empty item in '" + all + "'");
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("faults: '" + item + "' is not NAME=SHARE");
    }
    const std::string name = Trim(std::string_view(item).substr(0, eq));
    const std::string value = Trim(std::string_view(item).substr(eq + 1));
    const ShareField* field = nullptr;
    for (const auto& f : kShares) {
      if (name == f.name) field = &f;
    }
    if (!field) {
      return Status::InvalidArgument(
          "faults: unknown fault '" + name +
          "' (expected duplicate, malformed, poison, out_of_order, schema_mix, oversized, "
          "unknown_customer)");
    }
    for (const auto& s : seen) {
      if (s == name) return Status::InvalidArgument("faults: '" + name + "' given twice");
    }
    seen.push_back(name);
    char* end = nullptr;
    const double share = value.empty() ? NAN : std::strtod(value.c_str(), &end);
    if (value.empty() || end != value.c_str() + value.size() || !std::isfinite(share)) {
      return Status::InvalidArgument("faults: share of '" + name + "' must be a number, got '" +
                                     value + "'");
    }
    if (share < 0 || share > 1) {
      return Status::InvalidArgument("faults: share of '" + name + "' must be in [0, 1], got " +
                                     value);
    }
    spec.*(field->member) = share;
    if (comma == all.size()) break;
  }
  return spec;
}

std::string FaultSpec::ToString() const {
  std::ostringstream out;
  bool first = true;
  for (const auto& f : kShares) {
    if (this->*(f.member) == 0) continue;
    out << (first ? "" : ",") << f.name << "=" << this->*(f.member);
    first = false;
  }
  return first ? "none" : out.str();
}

bool FaultSpec::any() const {
  for (const auto& f : kShares) {
    if (this->*(f.member) != 0) return true;
  }
  return false;
}

Result<std::unique_ptr<MessageStream>> MessageStream::Create(const StreamOptions& options) {
  GeneratorOptions g;
  g.seed = options.seed;
  g.org_id = options.org_id;
  g.customer_pool_size = options.customer_pool_size;
  g.unknown_customer_share = options.faults.unknown_customer;
  g.lead_v2_share = options.faults.schema_mix;
  auto generator = MakeGenerator(options.service, g);
  if (!generator.ok()) return generator.status();
  if (options.transport == TransportKind::kKafka) {
    for (const auto& type : generator.value()->Types()) {
      auto topic = KafkaTopic(type);
      if (!topic.ok()) {
        return Status::InvalidArgument("service " + options.service +
                                       " cannot publish to kafka: " + topic.status().message());
      }
    }
  }
  return std::unique_ptr<MessageStream>(new MessageStream(options, std::move(generator).value()));
}

MessageStream::MessageStream(const StreamOptions& options,
                             std::unique_ptr<ServiceGenerator> generator)
    : options_(options),
      generator_(std::move(generator)),
      dialect_rng_(Rng(options.seed).Fork("dialect." + options.service)),
      duplicate_rng_(Rng(options.seed).Fork("duplicate." + options.service)),
      malformed_rng_(Rng(options.seed).Fork("malformed." + options.service)),
      poison_rng_(Rng(options.seed).Fork("poison." + options.service)),
      oversized_rng_(Rng(options.seed).Fork("oversized." + options.service)),
      order_rng_(Rng(options.seed).Fork("out_of_order." + options.service)) {}

PlannedMessage MessageStream::Original(const GeneratedEvent& e) {
  PlannedMessage m;
  m.service = e.service;
  m.seq = e.seq;
  m.type = e.type;
  m.event_time_ms = e.event_time_ms;
  m.transport = options_.transport;
  m.expected = kExpectApplied;
  // The dialect draw happens for every event, so changing shares does not shift other choices.
  const double draw = dialect_rng_.NextDouble();
  if (IsCustomerDialectOnly(e.type)) {
    m.dialect = Dialect::kCustomerEvent;
  } else if (CustomerEventType(e.type) && draw < options_.customer_dialect_share) {
    m.dialect = Dialect::kCustomerEvent;
  } else if (draw >= 1.0 - options_.service_envelope_share) {
    m.dialect = Dialect::kServiceEnvelope;
  } else {
    m.dialect = Dialect::kCloudEvents;
  }
  if (m.dialect == Dialect::kServiceEnvelope) ++stats_.service_envelope;
  if (m.dialect == Dialect::kCustomerEvent) ++stats_.customer_dialect;
  m.payload = Encode(e, m.dialect, options_.org_id);
  if (m.transport == TransportKind::kKafka) {
    m.subject = KafkaTopic(e.type).value();
    m.key = e.entity_key.empty() ? e.customer_id : e.entity_key;
  } else {
    m.subject = NatsSubject(e, m.dialect).value();
  }
  if (m.dialect == Dialect::kCustomerEvent) {
    // No Nats-Msg-Id: ingestd then de-duplicates on the SHA-256 of the bytes, which a resent
    // copy shares.
    m.event_id = Sha256Hex(m.payload);
  } else {
    m.event_id = e.id;
    if (options_.nats_msg_id && m.transport == TransportKind::kJetStream) {
      m.headers.emplace_back("Nats-Msg-Id", e.id);
    }
  }
  return m;
}

PlannedMessage MessageStream::Malformed(const GeneratedEvent& e, const PlannedMessage& original) {
  GeneratedEvent copy = e;
  copy.id = e.id + ".malformed";
  PlannedMessage m = original;
  m.headers.clear();
  m.dialect = Dialect::kCloudEvents;
  m.event_id = copy.id;
  if (m.transport != TransportKind::kKafka) m.subject = NatsSubject(copy, m.dialect).value();
  Json envelope = EnvelopeJson(copy, Dialect::kCloudEvents, options_.org_id);
  switch (malformed_rng_.Uniform(3)) {
    case 0: {  // truncated JSON
      const std::string full = envelope.dump();
      m.payload = full.substr(0, full.size() / 2 + malformed_rng_.Uniform(full.size() / 4));
      m.expected = kExpectParse;
      m.fault = "malformed.truncated";
      break;
    }
    case 1: {  // invalid UTF-8 inside a string value
      std::string full = envelope.dump();
      const std::string marker = "\"source\":\"";
      const size_t at = full.find(marker) + marker.size();
      full.insert(at, "\xC3\x28\xFF");
      m.payload = std::move(full);
      m.expected = kExpectParse;
      m.fault = "malformed.utf8";
      break;
    }
    default: {  // an envelope attribute of the wrong JSON type
      static constexpr const char* kFields[] = {"id", "type", "source", "time"};
      const char* field = kFields[malformed_rng_.Uniform(4)];
      envelope[field] = 12345;
      m.payload = envelope.dump();
      m.expected = kExpectSchema;
      m.fault = "malformed.types";
      break;
    }
  }
  return m;
}

PlannedMessage MessageStream::Poison(const GeneratedEvent& e, const PlannedMessage& original) {
  GeneratedEvent copy = e;
  copy.id = e.id + ".poison";
  if (e.type == "billing.purchase.completed") {
    copy.data["amount"] = -std::abs(copy.data["amount"].get<double>()) - 1.0;  // amount >= 0
  } else {
    std::string target;
    for (const auto& field : RequiredDataFields(e.type)) {
      if (field != "customer_id") {
        target = field;
        break;
      }
    }
    if (target.empty()) {
      // customer.* types have no required data: poison a purchase of the same customer instead.
      copy.type = "billing.purchase.completed";
      copy.data = Json{{"purchase_id", copy.id}, {"customer_id", e.customer_id}, {"amount", -5}};
    } else if (copy.data[target].is_string()) {
      copy.data[target] = 12345;  // a string field given a number
    } else {
      copy.data[target] = "not-a-" + std::string(copy.data[target].type_name());
    }
  }
  return FaultyCopy(original, copy, options_.org_id, kExpectSchema, "poison");
}

PlannedMessage MessageStream::Oversized(const GeneratedEvent& e, const PlannedMessage& original) {
  GeneratedEvent copy = e;
  copy.id = e.id + ".oversized";
  copy.data["padding"] = std::string(options_.oversized_bytes, 'x');
  return FaultyCopy(original, copy, options_.org_id, kExpectParse, "oversized");
}

void MessageStream::Push(PlannedMessage m) { ready_.push_back(std::move(m)); }

void MessageStream::GenerateOne(int64_t event_time_ms) {
  const GeneratedEvent e = generator_->Next(event_time_ms);
  ++stats_.events;
  PlannedMessage original = Original(e);
  const std::string entity = e.entity_key.empty() ? e.customer_id : e.entity_key;

  // Every draw happens for every event, so one share's value never shifts another's choices.
  const bool duplicate = duplicate_rng_.Chance(options_.faults.duplicate);
  const uint64_t delay = static_cast<uint64_t>(
      duplicate_rng_.Range(options_.duplicate_delay_min, options_.duplicate_delay_max));
  const bool malformed = malformed_rng_.Chance(options_.faults.malformed);
  const bool poison = poison_rng_.Chance(options_.faults.poison);
  const bool oversized = oversized_rng_.Chance(options_.faults.oversized);
  const bool reorder = order_rng_.Chance(options_.faults.out_of_order);

  if (duplicate) {
    // An original that may be held back gets its copy after the longest hold, so the copy
    // never overtakes it.
    const uint64_t hold = e.reorderable && reorder ? static_cast<uint64_t>(options_.max_hold) : 0;
    PlannedMessage copy = original;
    copy.headers.clear();  // passes the broker's Nats-Msg-Id de-duplication
    copy.expected = kExpectDuplicate;
    copy.fault = "duplicate";
    due_duplicates_.emplace(handed_out_ + ready_.size() + hold + delay, std::move(copy));
    ++stats_.duplicates;
  }
  if (malformed) {
    Push(Malformed(e, original));
    ++stats_.malformed;
  }
  if (poison) {
    Push(Poison(e, original));
    ++stats_.poison;
  }
  if (oversized) {
    Push(Oversized(e, original));
    ++stats_.oversized;
  }

  // Out of order: a held event of this entity goes out right after the current one if the
  // current one may be swapped with it; before it otherwise (so no dependency is broken).
  auto held = held_.find(entity);
  if (e.reorderable) ++stats_.reorderable;
  if (held != held_.end()) {
    if (e.reorderable) {
      Push(std::move(original));
      Push(std::move(held->second.message));
      held_.erase(held);
      return;
    }
    Push(std::move(held->second.message));
    held_.erase(held);
  } else if (e.reorderable && reorder) {
    original.fault = "out_of_order";
    ++stats_.reordered;
    held_.emplace(entity, Held{std::move(original), handed_out_});
    return;
  }
  Push(std::move(original));
}

PlannedMessage MessageStream::Next(int64_t event_time_ms) {
  // Held events that waited too long for a partner go out now.
  for (auto it = held_.begin(); it != held_.end();) {
    if (handed_out_ - it->second.held_at >= static_cast<uint64_t>(options_.max_hold)) {
      Push(std::move(it->second.message));
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  auto due = due_duplicates_.begin();
  if (due != due_duplicates_.end() && due->first <= handed_out_) {
    PlannedMessage m = std::move(due->second);
    due_duplicates_.erase(due);
    ++handed_out_;
    ++stats_.messages;
    return m;
  }
  while (ready_.empty()) GenerateOne(event_time_ms);
  PlannedMessage m = std::move(ready_.front());
  ready_.pop_front();
  ++handed_out_;
  ++stats_.messages;
  return m;
}

std::vector<PlannedMessage> MessageStream::DrainHeld() {
  std::vector<PlannedMessage> out;
  for (auto& m : ready_) out.push_back(std::move(m));
  ready_.clear();
  for (auto& [entity, h] : held_) out.push_back(std::move(h.message));
  held_.clear();
  due_duplicates_.clear();
  handed_out_ += out.size();
  stats_.messages += out.size();
  return out;
}

Result<PlannedMessage> MessageStream::Sample(std::string_view type, int64_t event_time_ms) {
  auto e = generator_->Sample(type, event_time_ms);
  if (!e.ok()) return e.status();
  ++stats_.events;
  ++stats_.messages;
  return Original(e.value());
}

}  // namespace ingestlab::sim
