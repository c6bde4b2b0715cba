// EnvelopeDecoder implementation (see envelope.h and docs/envelopes.md).
// Hot path: one simdjson parse into a reused parser and padded buffer, one pass over the root
// object's members, then the schema check. No allocation beyond the Event's own strings.
// Thread-safety: one decoder per thread.
#include "system/envelope.h"

#include <cmath>
#include <cstring>

#include "system/json_depth.h"
#include "system/sha256.h"
#include "system/time_format.h"

namespace ingestlab {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// Domains whose types arrive already prefixed; anything else takes its domain from the subject.
constexpr std::string_view kKnownDomains[] = {"billing",  "support",  "auth",
                                              "learning", "homework", "recommendation",
                                              "focus",    "crm",      "customer"};

bool IsKnownDomain(std::string_view domain) {
  for (std::string_view d : kKnownDomains) {
    if (d == domain) return true;
  }
  return false;
}

std::string_view FirstToken(std::string_view s) { return s.substr(0, s.find('.')); }

// "user.created" on subject "auth.user.created" → "auth.user.created"; "lead.created" on Kafka
// topic "crm.leads" → "crm.lead.created". Already-qualified types are kept as written.
void CanonicalType(std::string_view type, std::string_view subject, std::string* out) {
  const std::string_view subject_domain = FirstToken(subject);
  if (IsKnownDomain(FirstToken(type)) || !IsKnownDomain(subject_domain)) {
    out->assign(type);
    return;
  }
  out->assign(subject_domain);
  out->push_back('.');
  out->append(type);
}

struct CustomerTypeMapping {
  std::string_view event_type;
  std::string_view type;
};
constexpr CustomerTypeMapping kCustomerTypes[] = {
    {"purchase", "customer.purchase.recorded"},     {"support_ticket", "customer.ticket.opened"},
    {"repair", "customer.repair.requested"},        {"contact", "customer.contact.recorded"},
    {"profile_update", "customer.profile.updated"}, {"note", "customer.note.added"},
};
constexpr std::string_view kCustomerGenericType = "customer.event.recorded";

std::string_view CustomerType(std::string_view event_type) {
  for (const auto& m : kCustomerTypes) {
    if (m.event_type == event_type) return m.type;
  }
  return kCustomerGenericType;
}

// A JSON value as short text for messages: -3, "yesterday", {"a":1}.
std::string Describe(element e) {
  std::string text = simdjson::minify(e);
  if (text.size() > 80) {
    text.resize(77);
    text += "...";
  }
  return text;
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  out.append(s.substr(0, 77));
  if (s.size() > 77) out += "...";
  out += '"';
  return out;
}

// Byte offset of the first invalid UTF-8 sequence, or npos (used only to explain a rejection).
size_t FirstInvalidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

// True if the bytes are a prefix of some JSON text whose objects, arrays or strings are still
// open at the end: the usual shape of a message cut short (used only to explain a rejection).
bool LooksTruncated(std::string_view s) {
  std::string open;  // the brackets not yet closed
  bool mismatched = false;
  const bool in_string = ForEachJsonBracket(s, [&](char c) {
    if (c == '{' || c == '[') {
      open.push_back(c);
    } else if (open.empty() || open.back() != (c == '}' ? '{' : '[')) {
      mismatched = true;
    } else {
      open.pop_back();
    }
    return !mismatched;
  });
  return !mismatched && (in_string || !open.empty());
}

// The root members the decoder looks at, gathered in one pass.
struct EnvelopeFields {
  std::optional<element> specversion, id, source, type, time, subject, datacontenttype, data,
      data_base64, orgid, schemaversion, customer_id, event_type, timestamp, source_service,
      organization_id, schema_version;

  // Stores `value` in the member named `key`; other keys are ignored. A linear scan: with 17
  // names that mostly differ in length, it costs about what a switch on the first byte did.
  void Take(std::string_view key, element value) {
    for (const auto& [name, member] : kMembers) {
      if (key == name) {
        this->*member = value;
        return;
      }
    }
  }

  using Member = std::optional<element> EnvelopeFields::*;
  static constexpr std::pair<std::string_view, Member> kMembers[] = {
      {"specversion", &EnvelopeFields::specversion},
      {"id", &EnvelopeFields::id},
      {"source", &EnvelopeFields::source},
      {"type", &EnvelopeFields::type},
      {"time", &EnvelopeFields::time},
      {"subject", &EnvelopeFields::subject},
      {"datacontenttype", &EnvelopeFields::datacontenttype},
      {"data", &EnvelopeFields::data},
      {"data_base64", &EnvelopeFields::data_base64},
      {"orgid", &EnvelopeFields::orgid},
      {"schemaversion", &EnvelopeFields::schemaversion},
      {"customer_id", &EnvelopeFields::customer_id},
      {"event_type", &EnvelopeFields::event_type},
      {"timestamp", &EnvelopeFields::timestamp},
      {"source_service", &EnvelopeFields::source_service},
      {"organization_id", &EnvelopeFields::organization_id},
      {"schema_version", &EnvelopeFields::schema_version},
  };
};

bool IsNull(const std::optional<element>& e) { return !e || e->is_null(); }

Status FieldError(std::string_view field, std::string_view what) {
  std::string m = "envelope field '";
  m.append(field);
  m += "' ";
  m.append(what);
  return Status::Schema(std::move(m));
}

// A required non-empty string member.
Status RequiredString(const std::optional<element>& e, std::string_view name,
                      std::string_view* out) {
  if (!e) return FieldError(name, "is missing");
  if (e->get_string().get(*out) != simdjson::SUCCESS || out->empty()) {
    return FieldError(name, "must be a non-empty string, got " + Describe(*e));
  }
  return Status::Ok();
}

// An optional string member: absent or null leaves *out empty.
Status OptionalString(const std::optional<element>& e, std::string_view name,
                      std::string_view* out) {
  *out = {};
  if (IsNull(e)) return Status::Ok();
  if (e->get_string().get(*out) != simdjson::SUCCESS) {
    return FieldError(name, "must be a string, got " + Describe(*e));
  }
  return Status::Ok();
}

// id, type and source: required non-empty strings in CloudEvents and the service envelope alike.
Status IdTypeSource(const EnvelopeFields& f, Event* out) {
  std::string_view text;
  INGEST_RETURN_IF_ERROR(RequiredString(f.id, "id", &text));
  out->id.assign(text);
  INGEST_RETURN_IF_ERROR(RequiredString(f.type, "type", &text));
  out->original_type = text;
  INGEST_RETURN_IF_ERROR(RequiredString(f.source, "source", &text));
  out->source.assign(text);
  return Status::Ok();
}

// "1", "1.0", "2", "2.1" (the major number counts) → version.
std::optional<int> ParseVersionText(std::string_view s) {
  int v = 0;
  size_t i = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    v = v * 10 + (s[i] - '0');
    if (v > 1000000) return std::nullopt;
  }
  if (i == 0 || v < 1) return std::nullopt;
  if (i < s.size()) {
    if (s[i] != '.' || i + 1 == s.size()) return std::nullopt;
    for (++i; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
    }
  }
  return v;
}

constexpr std::string_view kVersionRule = "must be a schema version like \"1\", \"2.0\" or 2, got ";

Status SchemaVersion(const std::optional<element>& e, std::string_view name, int* out) {
  *out = 1;
  if (IsNull(e)) return Status::Ok();
  std::string_view s;
  double d;
  if (e->get_string().get(s) == simdjson::SUCCESS) {
    if (auto v = ParseVersionText(s)) {
      *out = *v;
      return Status::Ok();
    }
  } else if (e->is_number() && e->get_double().get(d) == simdjson::SUCCESS && d >= 1 &&
             d <= 1000000 && std::floor(d) == d) {
    *out = static_cast<int>(d);  // 2 or 2.0
    return Status::Ok();
  }
  return FieldError(name, std::string(kVersionRule) + Describe(*e));
}

// Customer id fallbacks inside data: customer_id, learner_id, user_id.
void CustomerIdFromData(const DataView& data, std::string* out) {
  for (std::string_view key : {"customer_id", "learner_id", "user_id"}) {
    if (auto v = data.str(key); v && !v->empty()) {
      out->assign(*v);
      return;
    }
  }
  out->clear();
}

Status DataObject(const std::optional<element>& e, std::string_view name, DataView* out) {
  *out = DataView();
  if (IsNull(e)) return Status::Ok();
  if (!e->is_object()) return FieldError(name, "must be a JSON object, got " + Describe(*e));
  *out = DataView(*e);
  return Status::Ok();
}

// A CloudEvents `time` attribute ("" when absent) as unix ms: the receive time when absent,
// std::nullopt when it is not RFC 3339.
std::optional<int64_t> CloudEventTimeMs(std::string_view time, int64_t received_at_ms) {
  if (time.empty()) return received_at_ms;
  return ParseRfc3339Ms(time);
}

// Highest plausible unix seconds (9999-12-31T23:59:59Z); larger values are likely milliseconds.
constexpr double kMaxUnixSeconds = 253402300799.0;

}  // namespace

struct EnvelopeDecoder::Impl {
  explicit Impl(DecoderOptions o) : options(o), parser(o.max_bytes) {}

  DecoderOptions options;
  simdjson::dom::parser parser;
  // The payload copied with simdjson's required padding; reused, grows to the largest message.
  std::unique_ptr<char[]> padded;
  size_t padded_capacity = 0;

  Status ParsePayload(const RawMessage& msg, element* root);
  // Buffers for typical events; the parser grows (keeping the depth limit) up to max_bytes.
  // simdjson counts the document itself as one level, hence kMaxDepth + 1 for kMaxDepth
  // levels of objects and arrays.
  bool AllocateParser() {
    return parser.allocate(std::min<size_t>(options.max_bytes, 64 * 1024), kParserDepth) ==
           simdjson::SUCCESS;
  }
  static constexpr size_t kParserDepth = kMaxDepth + 1;
  Status DecodeStructured(const RawMessage& msg, element root, Event* out);
  Status DecodeBinary(const RawMessage& msg, Event* out);
};

Status EnvelopeDecoder::Impl::ParsePayload(const RawMessage& msg, element* root) {
  const std::string& payload = msg.payload;
  if (parser.max_depth() != kParserDepth && !AllocateParser()) {
    return Status::Internal("cannot allocate the JSON parser's buffers");
  }
  const size_t needed = payload.size() + simdjson::SIMDJSON_PADDING;
  if (needed > padded_capacity) {
    padded_capacity = std::max(needed, size_t{4096});
    padded.reset(new char[padded_capacity]);
  }
  std::memcpy(padded.get(), payload.data(), payload.size());
  std::memset(padded.get() + payload.size(), 0, simdjson::SIMDJSON_PADDING);
  const simdjson::error_code err = parser.parse(padded.get(), payload.size(), false).get(*root);
  switch (err) {
    case simdjson::SUCCESS:
      return Status::Ok();
    case simdjson::EMPTY:
      return Status::Parse("empty payload (expected a JSON object)");
    case simdjson::UTF8_ERROR: {
      const size_t at = FirstInvalidUtf8(payload);
      return Status::Parse(at == std::string_view::npos
                               ? std::string("invalid UTF-8")
                               : "invalid UTF-8 at byte " + std::to_string(at));
    }
    case simdjson::DEPTH_ERROR:
      return Status::Parse("JSON nested deeper than " + std::to_string(kMaxDepth) + " levels");
    case simdjson::CAPACITY:
      return Status::Parse("payload " + std::to_string(payload.size()) + " bytes exceeds " +
                           std::to_string(options.max_bytes));
    default:
      if (payload.size() >= 3 && std::memcmp(payload.data(), "\xEF\xBB\xBF", 3) == 0) {
        return Status::Parse("malformed JSON: starts with a UTF-8 byte-order mark");
      }
      if (LooksTruncated(payload)) {
        return Status::Parse("truncated JSON (" + std::to_string(payload.size()) +
                             " bytes; an object, array or string is not closed)");
      }
      return Status::Parse(std::string("malformed JSON: ") + simdjson::error_message(err));
  }
}

Status EnvelopeDecoder::Impl::DecodeStructured(const RawMessage& msg, element root, Event* out) {
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) {
    std::string got = Describe(root);
    return Status::Parse("the message must be a JSON object, got " + got);
  }
  EnvelopeFields f;
  for (auto field : obj) f.Take(field.key, field.value);

  std::string_view text;
  if (f.specversion) {
    out->dialect = Dialect::kCloudEvents;
    std::string_view spec;
    if (f.specversion->get_string().get(spec) != simdjson::SUCCESS || spec != "1.0") {
      return FieldError("specversion", "must be \"1.0\", got " + Describe(*f.specversion));
    }
    INGEST_RETURN_IF_ERROR(IdTypeSource(f, out));
    INGEST_RETURN_IF_ERROR(OptionalString(f.time, "time", &text));
    const std::optional<int64_t> time_ms = CloudEventTimeMs(text, msg.received_at_ms);
    if (!time_ms) return FieldError("time", "must be RFC 3339, got " + Quote(text));
    out->event_time_ms = *time_ms;
    INGEST_RETURN_IF_ERROR(OptionalString(f.datacontenttype, "datacontenttype", &text));
    if (!IsNull(f.data_base64)) {
      return FieldError("data_base64", "is not supported (send data as a JSON object)");
    }
    INGEST_RETURN_IF_ERROR(OptionalString(f.orgid, "orgid", &text));
    out->org_id.assign(text);
    INGEST_RETURN_IF_ERROR(SchemaVersion(f.schemaversion, "schemaversion", &out->schema_version));
    INGEST_RETURN_IF_ERROR(DataObject(f.data, "data", &out->data));
    INGEST_RETURN_IF_ERROR(OptionalString(f.subject, "subject", &text));
    if (!text.empty()) {
      out->customer_id.assign(text);
    } else {
      CustomerIdFromData(out->data, &out->customer_id);
    }
    CanonicalType(out->original_type, msg.subject, &out->type);
    return Status::Ok();
  }

  if (f.customer_id && f.event_type) {
    out->dialect = Dialect::kCustomerEvent;
    INGEST_RETURN_IF_ERROR(RequiredString(f.customer_id, "customer_id", &text));
    out->customer_id.assign(text);
    INGEST_RETURN_IF_ERROR(RequiredString(f.event_type, "event_type", &text));
    out->original_type = text;
    out->type.assign(CustomerType(text));
    if (!f.timestamp) return FieldError("timestamp", "is missing");
    double seconds;
    if (!f.timestamp->is_number() || f.timestamp->get_double().get(seconds) != simdjson::SUCCESS) {
      return FieldError("timestamp",
                        "must be unix seconds (a number), got " + Describe(*f.timestamp));
    }
    if (!(seconds >= 0 && seconds <= kMaxUnixSeconds)) {
      return FieldError("timestamp", "must be unix seconds between 0 and " +
                                         std::to_string(static_cast<int64_t>(kMaxUnixSeconds)) +
                                         ", got " + Describe(*f.timestamp) +
                                         (seconds > kMaxUnixSeconds ? " (milliseconds?)" : ""));
    }
    int64_t whole;
    if (f.timestamp->get_int64().get(whole) == simdjson::SUCCESS) {
      out->event_time_ms = whole * 1000;
    } else {
      out->event_time_ms = std::llround(seconds * 1000.0);
    }
    INGEST_RETURN_IF_ERROR(RequiredString(f.source_service, "source_service", &text));
    out->source.assign(text);
    INGEST_RETURN_IF_ERROR(DataObject(f.data, "data", &out->data));
    auto org = out->data.str("organization_id");
    out->org_id.assign(org ? *org : std::string_view());
    out->schema_version = 1;
    if (const std::string* msg_id = FindHeader(msg.headers, "Nats-Msg-Id");
        msg_id != nullptr && !msg_id->empty()) {
      out->id.assign(*msg_id);
    } else {
      Sha256HexInto(msg.payload, &out->id);
    }
    return Status::Ok();
  }

  if (f.id && f.type && f.organization_id) {
    out->dialect = Dialect::kServiceEnvelope;
    INGEST_RETURN_IF_ERROR(IdTypeSource(f, out));
    if (f.organization_id->get_string().get(text) != simdjson::SUCCESS) {
      return FieldError("organization_id", "must be a string, got " + Describe(*f.organization_id));
    }
    out->org_id.assign(text);
    if (!f.timestamp) return FieldError("timestamp", "is missing");
    std::optional<int64_t> ms;
    if (f.timestamp->get_string().get(text) == simdjson::SUCCESS) ms = ParseRfc3339Ms(text);
    if (!ms) return FieldError("timestamp", "must be RFC 3339, got " + Describe(*f.timestamp));
    out->event_time_ms = *ms;
    INGEST_RETURN_IF_ERROR(SchemaVersion(f.schema_version, "schema_version", &out->schema_version));
    INGEST_RETURN_IF_ERROR(DataObject(f.data, "data", &out->data));
    CustomerIdFromData(out->data, &out->customer_id);
    CanonicalType(out->original_type, msg.subject, &out->type);
    return Status::Ok();
  }

  std::string keys;
  int shown = 0;
  for (auto field : obj) {
    if (shown++ == 8) {
      keys += ", ...";
      break;
    }
    if (!keys.empty()) keys += ", ";
    keys.append(field.key);
  }
  return Status::Parse(
      "no recognised envelope: expected \"specversion\" (CloudEvents), \"customer_id\" + "
      "\"event_type\" (customer event) or \"id\" + \"type\" + \"organization_id\" (service "
      "envelope); top-level keys: " +
      (keys.empty() ? std::string("none") : keys));
}

Status EnvelopeDecoder::Impl::DecodeBinary(const RawMessage& msg, Event* out) {
  out->dialect = Dialect::kCloudEventsBinary;
  auto header = [&](std::string_view name) -> std::string_view {
    const std::string* v = FindHeader(msg.headers, name);
    return v == nullptr ? std::string_view() : std::string_view(*v);
  };
  auto header_error = [](std::string_view name, std::string_view what) {
    std::string m = "header '";
    m.append(name);
    m += "' ";
    m.append(what);
    return Status::Schema(std::move(m));
  };
  if (header("ce_specversion") != "1.0") {
    return header_error("ce_specversion",
                        "must be \"1.0\", got " + Quote(header("ce_specversion")));
  }
  for (std::string_view name : {"ce_id", "ce_source", "ce_type"}) {
    if (header(name).empty()) return header_error(name, "is missing or empty");
  }
  out->id.assign(header("ce_id"));
  out->source.assign(header("ce_source"));
  out->original_type = header("ce_type");
  const std::string_view time = header("ce_time");
  const std::optional<int64_t> time_ms = CloudEventTimeMs(time, msg.received_at_ms);
  if (!time_ms) return header_error("ce_time", "must be RFC 3339, got " + Quote(time));
  out->event_time_ms = *time_ms;
  out->org_id.assign(header("ce_orgid"));
  out->schema_version = 1;
  if (const std::string_view v = header("ce_schemaversion"); !v.empty()) {
    auto version = ParseVersionText(v);
    if (!version) return header_error("ce_schemaversion", std::string(kVersionRule) + Quote(v));
    out->schema_version = *version;
  }
  out->data = DataView();
  bool blank = true;
  for (char c : msg.payload) {
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      blank = false;
      break;
    }
  }
  if (!blank) {
    element root;
    INGEST_RETURN_IF_ERROR(ParsePayload(msg, &root));
    if (!root.is_object()) {
      return Status::Schema("binary-mode data (the message value) must be a JSON object, got " +
                            Describe(root));
    }
    out->data = DataView(root);
  }
  if (const std::string_view subject = header("ce_subject"); !subject.empty()) {
    out->customer_id.assign(subject);
  } else {
    CustomerIdFromData(out->data, &out->customer_id);
  }
  CanonicalType(out->original_type, msg.subject, &out->type);
  return Status::Ok();
}

EnvelopeDecoder::EnvelopeDecoder(DecoderOptions options) : impl_(std::make_unique<Impl>(options)) {
  // On failure (out of memory) ParsePayload retries and reports it.
  (void)impl_->AllocateParser();
}

EnvelopeDecoder::~EnvelopeDecoder() = default;

Status EnvelopeDecoder::Decode(const RawMessage& msg, Event* out) {
  if (msg.payload.size() > impl_->options.max_bytes) {
    return Status::Parse("payload " + std::to_string(msg.payload.size()) + " bytes exceeds " +
                         std::to_string(impl_->options.max_bytes));
  }
  out->raw = msg.payload;
  out->original_type = {};
  out->data = DataView();
  if (FindHeader(msg.headers, "ce_specversion") != nullptr) {
    INGEST_RETURN_IF_ERROR(impl_->DecodeBinary(msg, out));
  } else {
    element root;
    INGEST_RETURN_IF_ERROR(impl_->ParsePayload(msg, &root));
    INGEST_RETURN_IF_ERROR(impl_->DecodeStructured(msg, root, out));
  }
  if (impl_->options.schemas != nullptr) return impl_->options.schemas->Validate(*out);
  return Status::Ok();
}

}  // namespace ingestlab
