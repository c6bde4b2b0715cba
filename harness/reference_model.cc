// ReferenceModel: decoding, the per-type folds and the table-by-table diff. See reference_model.h.
#include "harness/reference_model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <set>
#include <sstream>
#include <unordered_map>

#include "system/summary.h"

namespace ingestlab {
namespace {

using nlohmann::json;
using OptStr = std::optional<std::string>;
using OptNum = std::optional<double>;
using OptInt = std::optional<int64_t>;

// ---------------------------------------------------------------------------------------------
// Decoding (docs/envelopes.md).

// The event as the model sees it, whatever its dialect.
struct ModelEvent {
  size_t index = 0;  // position in the log
  std::string id;
  std::string type;
  std::string source;
  std::string org_id;
  std::string customer_id;  // envelope subject / customer_id / data fallbacks
  int64_t time = 0;
  bool time_known = true;  // CloudEvents without `time` take the receive time
  int schema_version = 1;
  std::string dialect;
  json data = json::object();
};

const std::set<std::string>& KnownDomains() {
  static const std::set<std::string> k = {"billing",  "support",  "auth",
                                          "learning", "homework", "recommendation",
                                          "focus",    "crm",      "customer"};
  return k;
}

std::string FirstToken(const std::string& s) {
  auto dot = s.find('.');
  return dot == std::string::npos ? s : s.substr(0, dot);
}

// Domain qualification: a type whose first token is not a known domain takes the subject's.
std::string CanonicalType(const std::string& type, const std::string& subject) {
  if (KnownDomains().count(FirstToken(type))) return type;
  const std::string domain = FirstToken(subject);
  if (!subject.empty() && KnownDomains().count(domain)) return domain + "." + type;
  return type;
}

// Days since 1970-01-01 of a proleptic Gregorian date.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// RFC 3339 → unix ms (fractions beyond ms truncated); nullopt when malformed.
std::optional<int64_t> ParseRfc3339(const std::string& s) {
  auto digits = [&](size_t pos, size_t n, int* out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
  };
  int y, mo, d, h, mi, se;
  if (!digits(0, 4, &y) || s.size() < 19 || s[4] != '-' || !digits(5, 2, &mo) || s[7] != '-' ||
      !digits(8, 2, &d))
    return std::nullopt;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
  if (!digits(11, 2, &h) || s[13] != ':' || !digits(14, 2, &mi) || s[16] != ':' ||
      !digits(17, 2, &se))
    return std::nullopt;
  size_t pos = 19;
  int64_t ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (n < 3) ms = ms * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (int k = n; k < 3; ++k) ms *= 10;
  }
  int64_t offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(pos + 4, 2, &om))
      return std::nullopt;
    offset_min = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 86400 + h * 3600 + mi * 60 + se) - offset_min * 60) * 1000 + ms;
}

// UTC YYYY-MM-DD of unix ms.
std::string DateOf(int64_t ms) {
  int64_t z = ms / 86'400'000;
  if (ms % 86'400'000 < 0) --z;
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d));
  return buf;
}

// "1", "2.0", 2 → major version; 1 when absent or unreadable.
int VersionOf(const json* v) {
  if (v == nullptr || v->is_null()) return 1;
  if (v->is_number()) return std::max(1, static_cast<int>(v->get<double>()));
  if (v->is_string()) {
    const std::string s = v->get<std::string>();
    int n = 0;
    size_t i = 0;
    for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && n < 1000000; ++i)
      n = n * 10 + (s[i] - '0');
    return i == 0 || n < 1 ? 1 : n;
  }
  return 1;
}

// data accessors, as the documented field types: absent, null or of another type → nullopt.
OptStr Str(const json& o, const char* k) {
  auto it = o.find(k);
  if (it == o.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}
OptNum Num(const json& o, const char* k) {
  auto it = o.find(k);
  if (it == o.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}
OptInt Int(const json& o, const char* k) {  // integral numbers only
  auto it = o.find(k);
  if (it == o.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<int64_t>();
  return std::nullopt;
}
std::string StrOr(const json& o, const char* k, const std::string& fallback) {
  auto v = Str(o, k);
  return v ? *v : fallback;
}

std::string StrField(const json& o, const char* k) { return StrOr(o, k, ""); }

void CustomerFromData(const json& data, std::string* out) {
  for (const char* k : {"customer_id", "learner_id", "user_id"}) {
    auto v = Str(data, k);
    if (v && !v->empty()) {
      *out = *v;
      return;
    }
  }
}

const std::string* Header(const std::map<std::string, std::string>& headers, const char* name) {
  for (const auto& [k, v] : headers) {
    if (k.size() != std::strlen(name)) continue;
    bool eq = true;
    for (size_t i = 0; i < k.size() && eq; ++i)
      eq = std::tolower(static_cast<unsigned char>(k[i])) == name[i];
    if (eq) return &v;
  }
  return nullptr;
}

std::optional<ModelEvent> DecodeEvent(const PublishRecord& p) {
  ModelEvent e;
  e.id = p.event_id;
  if (const std::string* spec = Header(p.headers, "ce_specversion")) {
    (void)spec;
    auto h = [&](const char* n) {
      const std::string* v = Header(p.headers, n);
      return v ? *v : std::string();
    };
    e.dialect = "cloudevents-binary";
    e.type = h("ce_type");
    e.source = h("ce_source");
    e.org_id = h("ce_orgid");
    const std::string t = h("ce_time");
    if (t.empty()) {
      e.time_known = false;
    } else if (auto ms = ParseRfc3339(t)) {
      e.time = *ms;
    } else {
      return std::nullopt;
    }
    if (const std::string* v = Header(p.headers, "ce_schemaversion")) {
      json jv = *v;
      e.schema_version = VersionOf(&jv);
    }
    if (!p.payload.empty()) {
      auto d = json::parse(p.payload, nullptr, false);
      if (!d.is_object()) return std::nullopt;
      e.data = std::move(d);
    }
    e.customer_id = h("ce_subject");
    if (e.customer_id.empty()) CustomerFromData(e.data, &e.customer_id);
    if (e.id.empty()) e.id = h("ce_id");
    e.type = CanonicalType(e.type, p.subject);
    return e;
  }
  auto j = json::parse(p.payload, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto data = j.find("data");
  if (data != j.end() && data->is_object()) e.data = *data;
  if (j.contains("specversion")) {
    e.dialect = "cloudevents";
    e.type = CanonicalType(StrField(j, "type"), p.subject);
    e.source = StrField(j, "source");
    e.org_id = StrField(j, "orgid");
    const std::string t = StrField(j, "time");
    if (t.empty()) {
      e.time_known = false;
    } else if (auto ms = ParseRfc3339(t)) {
      e.time = *ms;
    } else {
      return std::nullopt;
    }
    auto sv = j.find("schemaversion");
    e.schema_version = VersionOf(sv == j.end() ? nullptr : &*sv);
    e.customer_id = StrField(j, "subject");
    if (e.customer_id.empty()) CustomerFromData(e.data, &e.customer_id);
    if (e.id.empty()) e.id = StrField(j, "id");
  } else if (j.contains("customer_id") && j.contains("event_type")) {
    static const std::map<std::string, std::string> kTypes = {
        {"purchase", "customer.purchase.recorded"},
        {"support_ticket", "customer.ticket.opened"},
        {"repair", "customer.repair.requested"},
        {"contact", "customer.contact.recorded"},
        {"profile_update", "customer.profile.updated"},
        {"note", "customer.note.added"}};
    e.dialect = "customer-event";
    auto it = kTypes.find(StrField(j, "event_type"));
    e.type = it == kTypes.end() ? "customer.event.recorded" : it->second;
    e.customer_id = StrField(j, "customer_id");
    e.source = StrField(j, "source_service");
    const json& ts = j["timestamp"];
    if (ts.is_number_integer()) {
      e.time = ts.get<int64_t>() * 1000;
    } else if (ts.is_number()) {
      e.time = std::llround(ts.get<double>() * 1000.0);
    } else {
      return std::nullopt;
    }
    e.org_id = StrField(e.data, "organization_id");
    e.schema_version = 1;
  } else if (j.contains("id") && j.contains("type") && j.contains("organization_id")) {
    e.dialect = "service-envelope";
    e.type = CanonicalType(StrField(j, "type"), p.subject);
    e.source = StrField(j, "source");
    e.org_id = StrField(j, "organization_id");
    auto ms = ParseRfc3339(StrField(j, "timestamp"));
    if (!ms) return std::nullopt;
    e.time = *ms;
    auto sv = j.find("schema_version");
    e.schema_version = VersionOf(sv == j.end() ? nullptr : &*sv);
    CustomerFromData(e.data, &e.customer_id);
    if (e.id.empty()) e.id = StrField(j, "id");
  } else {
    return std::nullopt;
  }
  if (e.type.empty() || e.id.empty()) return std::nullopt;
  return e;
}

// ---------------------------------------------------------------------------------------------
// Cell helpers. "No value" is NULL, and so is an empty string.

ModelValue T(const OptStr& v) {
  return v && !v->empty() ? ModelValue::Text(*v) : ModelValue::Null();
}
ModelValue T(const std::string& v) { return T(OptStr(v)); }
ModelValue R(const OptNum& v) { return v ? ModelValue::Real(*v) : ModelValue::Null(); }
ModelValue I(const OptInt& v) { return v ? ModelValue::Int(*v) : ModelValue::Null(); }
ModelValue I(int64_t v) { return ModelValue::Int(v); }

// COALESCE(new, old): a value the event does not carry keeps the old one.
void Coalesce(ModelRow& row, const char* col, const ModelValue& v) {
  if (!v.is_null()) row[col] = v;
}
void Fill(ModelRow& row, const char* col, const ModelValue& v) {  // only when empty
  if (row[col].is_null()) row[col] = v;
}
void Min(ModelRow& row, const char* col, int64_t t) {
  auto& c = row[col];
  if (c.kind != ModelValue::kInt || t < c.i) c = I(t);
}
void Max(ModelRow& row, const char* col, int64_t t) {
  auto& c = row[col];
  if (c.kind != ModelValue::kInt || t > c.i) c = I(t);
}
double RealOf(const ModelValue& v) {
  return v.kind == ModelValue::kReal ? v.r : v.kind == ModelValue::kInt ? double(v.i) : 0.0;
}

// Tags and other JSON-valued fields: the value as sent (null = absent).
ModelValue JsonField(const json& data, const char* k) {
  auto it = data.find(k);
  if (it == data.end() || it->is_null()) return ModelValue::Null();
  return ModelValue::Json(*it);
}

enum class Outcome { kApplied, kWaiting, kInvalid };

// ---------------------------------------------------------------------------------------------
// The folds, one per type (docs/tables.md).

class Folder {
 public:
  Folder(const ModelOptions& o, std::map<std::string, ModelTable>* tables)
      : options_(o), t_(*tables) {}

  Outcome Apply(const ModelEvent& e) {
    auto it = Handlers().find(e.type);
    if (it == Handlers().end()) return Outcome::kInvalid;
    return (this->*(it->second))(e);
  }

  static bool Known(const std::string& type) { return Handlers().count(type) > 0; }

 private:
  using Fn = Outcome (Folder::*)(const ModelEvent&);
  static const std::map<std::string, Fn>& Handlers() {
    static const std::map<std::string, Fn> k = {
        {"billing.customer.created", &Folder::CustomerCreated},
        {"billing.purchase.completed", &Folder::PurchaseCompleted},
        {"billing.purchase.refunded", &Folder::PurchaseRefunded},
        {"billing.invoice.issued", &Folder::InvoiceIssued},
        {"billing.invoice.paid", &Folder::InvoicePaid},
        {"billing.subscription.started", &Folder::SubscriptionStarted},
        {"billing.subscription.cancelled", &Folder::SubscriptionCancelled},
        {"customer.purchase.recorded", &Folder::PurchaseRecorded},
        {"customer.ticket.opened", &Folder::CustomerTicket},
        {"customer.repair.requested", &Folder::RepairRequested},
        {"customer.contact.recorded", &Folder::TimelineOnly},
        {"customer.event.recorded", &Folder::TimelineOnly},
        {"customer.profile.updated", &Folder::ProfileUpdated},
        {"customer.note.added", &Folder::CustomerNote},
        {"support.ticket.opened", &Folder::TicketOpened},
        {"support.ticket.updated", &Folder::TicketUpdated},
        {"support.ticket.resolved", &Folder::TicketResolved},
        {"support.work_order.created", &Folder::WorkOrderCreated},
        {"support.work_order.updated", &Folder::WorkOrderUpdated},
        {"support.note.added", &Folder::SupportNote},
        {"auth.user.created", &Folder::UserCreated},
        {"auth.user.deleted", &Folder::UserDeleted},
        {"auth.user.login.succeeded", &Folder::LoginSucceeded},
        {"auth.user.login.failed", &Folder::LoginFailed},
        {"auth.user.role.assigned", &Folder::RoleAssigned},
        {"auth.user.role.revoked", &Folder::RoleRevoked},
        {"learning.session.started", &Folder::SessionStarted},
        {"learning.session.ended", &Folder::SessionEnded},
        {"learning.activity.completed", &Folder::ActivityCompleted},
        {"learning.skill.mastered", &Folder::SkillMastered},
        {"homework.question.asked", &Folder::QuestionAsked},
        {"homework.question.answered", &Folder::QuestionAnswered},
        {"recommendation.created", &Folder::RecommendationCreated},
        {"focus.ping", &Folder::FocusPing},
        {"focus.loss.idle", &Folder::FocusIdle},
        {"crm.lead.created", &Folder::LeadCreated},
        {"crm.lead.updated", &Folder::LeadUpdated},
        {"crm.lead.converted", &Folder::LeadConverted},
        {"crm.contact.created", &Folder::ContactCreated},
        {"crm.contact.updated", &Folder::ContactUpdated},
        {"crm.opportunity.created", &Folder::OpportunityCreated},
        {"crm.opportunity.updated", &Folder::OpportunityUpdated},
        {"crm.opportunity.won", &Folder::OpportunityWon},
        {"crm.opportunity.lost", &Folder::OpportunityLost},
    };
    return k;
  }

  ModelTable& table(const char* name) { return t_[name]; }
  ModelRow* Find(const char* name, const std::string& key) {
    auto& tb = t_[name];
    auto it = tb.find(key);
    return it == tb.end() ? nullptr : &it->second;
  }
  // The row an event depends on, named by its data's `key`: invalid without the key, waiting
  // while the row is missing (as ingestd retries it), else *row is set.
  Outcome Dependency(const ModelEvent& e, const char* key, const char* table, ModelRow** row) {
    const OptStr id = Str(e.data, key);
    if (!id || id->empty()) return Outcome::kInvalid;
    *row = Find(table, *id);
    return *row ? Outcome::kApplied : Outcome::kWaiting;
  }
  ModelValue Summary(const OptStr& text) const {
    if (!text) return ModelValue::Null();
    size_t chars = 0;
    for (unsigned char c : *text) chars += (c & 0xC0) != 0x80;
    if (chars <= options_.summary_threshold) return ModelValue::Null();
    return T(ExtractiveSummary(*text));
  }

  // Each of `fields` (data key, where its value goes) is a non-empty string in the event's data;
  // false when one is not (the event is invalid).
  static bool Required(const ModelEvent& e,
                       std::initializer_list<std::pair<const char*, std::string*>> fields) {
    for (const auto& [key, out] : fields) {
      OptStr v = Str(e.data, key);
      if (!v || v->empty()) return false;
      *out = std::move(*v);
    }
    return true;
  }

  static std::string CustomerOf(const ModelEvent& e) {
    return !e.customer_id.empty() ? e.customer_id : StrField(e.data, "customer_id");
  }

  struct Profile {
    OptStr email, name, phone, company;
  };
  static Profile ProfileOf(const ModelEvent& e) {  // customer dialect profile fields
    return {Str(e.data, "email"), Str(e.data, "customer_name"), Str(e.data, "phone"),
            Str(e.data, "company")};
  }

  // The customer exists (created if allowed), empty profile fields filled, created_at/updated_at
  // widened to the event's time, lifetime value moved by `delta`.
  Outcome Touch(const ModelEvent& e, const std::string& cid, const Profile& p, double delta = 0) {
    if (cid.empty()) return Outcome::kInvalid;
    auto& tb = table("customers");
    auto it = tb.find(cid);
    if (it == tb.end()) {
      if (!options_.auto_create_customers) return Outcome::kWaiting;
      tb.emplace(cid, ModelRow{{"org_id", T(e.org_id)},
                               {"email", T(p.email)},
                               {"name", T(p.name)},
                               {"phone", T(p.phone)},
                               {"company", T(p.company)},
                               {"plan", ModelValue::Null()},
                               {"tags", ModelValue::Null()},
                               {"lifetime_value", ModelValue::Real(delta)},
                               {"created_at", I(e.time)},
                               {"updated_at", I(e.time)},
                               {"profile_event_time", ModelValue::Null()},
                               {"profile_event_id", ModelValue::Null()}});
      return Outcome::kApplied;
    }
    ModelRow& row = it->second;
    row["lifetime_value"] = ModelValue::Real(RealOf(row["lifetime_value"]) + delta);
    Fill(row, "org_id", T(e.org_id));
    Fill(row, "email", T(p.email));
    Fill(row, "name", T(p.name));
    Fill(row, "phone", T(p.phone));
    Fill(row, "company", T(p.company));
    Min(row, "created_at", e.time);
    Max(row, "updated_at", e.time);
    return Outcome::kApplied;
  }

  // Touch for the event's own customer (CustomerOf), whose id goes to *cid.
  Outcome TouchCustomerOf(const ModelEvent& e, std::string* cid, const Profile& p) {
    *cid = CustomerOf(e);
    return Touch(e, *cid, p);
  }

  void AddLifetimeValue(const std::string& cid, double delta) {
    if (ModelRow* row = Find("customers", cid)) {
      (*row)["lifetime_value"] = ModelValue::Real(RealOf((*row)["lifetime_value"]) + delta);
    }
  }

  // --- billing
  Outcome CustomerCreated(const ModelEvent& e) {
    const std::string cid = StrOr(e.data, "customer_id", e.customer_id);
    const OptStr email = Str(e.data, "email");
    if (cid.empty() || !email || email->empty()) return Outcome::kInvalid;
    auto& tb = table("customers");
    auto it = tb.find(cid);
    if (it == tb.end()) {
      tb.emplace(cid, ModelRow{{"org_id", T(e.org_id)},
                               {"email", T(email)},
                               {"name", T(Str(e.data, "name"))},
                               {"phone", ModelValue::Null()},
                               {"company", ModelValue::Null()},
                               {"plan", T(Str(e.data, "plan"))},
                               {"tags", ModelValue::Null()},
                               {"lifetime_value", ModelValue::Real(0)},
                               {"created_at", I(e.time)},
                               {"updated_at", I(e.time)},
                               {"profile_event_time", ModelValue::Null()},
                               {"profile_event_id", ModelValue::Null()}});
      return Outcome::kApplied;
    }
    ModelRow& row = it->second;
    Fill(row, "org_id", T(e.org_id));
    row["email"] = T(email);
    Coalesce(row, "name", T(Str(e.data, "name")));
    Coalesce(row, "plan", T(Str(e.data, "plan")));
    Min(row, "created_at", e.time);
    Max(row, "updated_at", e.time);
    return Outcome::kApplied;
  }

  Outcome InsertPurchase(const ModelEvent& e, const std::string& cid, const std::string& id,
                         ModelRow row, double amount, const Profile& profile) {
    if (!options_.auto_create_customers && !Find("customers", cid)) return Outcome::kWaiting;
    auto& tb = table("purchases");
    const bool inserted = !tb.count(id);
    if (inserted) {
      row["customer_id"] = T(cid);
      row["org_id"] = T(e.org_id);
      row["event_id"] = T(e.id);
      row["amount"] = ModelValue::Real(amount);
      row["refunded_amount"] = ModelValue::Real(0);
      row["refund_reason"] = ModelValue::Null();
      row["purchased_at"] = I(e.time);
      row["refunded_at"] = ModelValue::Null();
      tb.emplace(id, std::move(row));
    }
    // A second event for the same purchase (re-sent under a new id) adds nothing.
    return Touch(e, cid, profile, inserted ? amount : 0.0);
  }

  Outcome PurchaseCompleted(const ModelEvent& e) {
    const OptStr id = Str(e.data, "purchase_id");
    const OptNum amount = Num(e.data, "amount");
    const std::string cid = CustomerOf(e);
    if (!id || id->empty() || !amount || cid.empty()) return Outcome::kInvalid;
    ModelRow row;
    row["product_name"] = T(Str(e.data, "product_name"));
    row["product_sku"] = T(Str(e.data, "product_sku"));
    row["quantity"] = I(Int(e.data, "quantity"));
    row["price"] = R(Num(e.data, "price"));
    row["currency"] = ModelValue::Text(StrOr(e.data, "currency", "USD"));
    row["status"] = ModelValue::Text("completed");
    row["warranty_expires"] = I(Int(e.data, "warranty_expires"));
    return InsertPurchase(e, cid, *id, std::move(row), *amount, {});
  }

  Outcome PurchaseRecorded(const ModelEvent& e) {
    const std::string cid = CustomerOf(e);
    if (cid.empty()) return Outcome::kInvalid;
    const std::string id = StrOr(e.data, "purchase_id", e.id);  // defaults to the event id
    const OptNum quantity = Num(e.data, "quantity");  // a number in this dialect: 1.5 (kg)
    const OptNum price = Num(e.data, "price");
    double amount = 0;
    if (auto total = Num(e.data, "total")) {
      amount = *total;
    } else if (price) {
      amount = *price * quantity.value_or(1);
    }
    ModelRow row;
    row["product_name"] = T(Str(e.data, "product_name"));
    row["product_sku"] = T(Str(e.data, "product_sku"));
    row["quantity"] = R(quantity);
    row["price"] = R(price);
    row["currency"] = ModelValue::Text("USD");
    row["status"] = ModelValue::Text(StrOr(e.data, "status", "completed"));
    row["warranty_expires"] = I(Int(e.data, "warranty_expires"));
    return InsertPurchase(e, cid, id, std::move(row), amount, ProfileOf(e));
  }

  Outcome PurchaseRefunded(const ModelEvent& e) {
    const OptStr id = Str(e.data, "purchase_id");
    const OptNum amount = Num(e.data, "amount");
    if (!id || id->empty() || !amount) return Outcome::kInvalid;
    ModelRow* p = Find("purchases", *id);
    if (!p) return Outcome::kWaiting;  // waits for its purchase
    (*p)["refunded_amount"] = ModelValue::Real(RealOf((*p)["refunded_amount"]) + *amount);
    (*p)["status"] = ModelValue::Text("refunded");
    Coalesce(*p, "refund_reason", T(Str(e.data, "reason")));
    Max(*p, "refunded_at", e.time);
    const ModelValue& customer = (*p)["customer_id"];
    if (customer.kind == ModelValue::kText) AddLifetimeValue(customer.s, -*amount);
    return Outcome::kApplied;
  }

  Outcome InvoiceIssued(const ModelEvent& e) {
    const OptStr id = Str(e.data, "invoice_id");
    const OptNum amount = Num(e.data, "amount");
    if (!id || id->empty() || !amount) return Outcome::kInvalid;
    std::string cid;
    if (Outcome o = TouchCustomerOf(e, &cid, {}); o != Outcome::kApplied) return o;
    auto& tb = table("invoices");
    tb.emplace(*id, ModelRow{{"customer_id", T(cid)},
                             {"org_id", T(e.org_id)},
                             {"amount", ModelValue::Real(*amount)},
                             {"currency", ModelValue::Text(StrOr(e.data, "currency", "USD"))},
                             {"due_date", T(Str(e.data, "due_date"))},
                             {"status", ModelValue::Text("issued")},
                             {"issued_at", I(e.time)},
                             {"paid_at", ModelValue::Null()},
                             {"paid_amount", ModelValue::Null()}});
    return Outcome::kApplied;
  }

  Outcome InvoicePaid(const ModelEvent& e) {
    const OptStr id = Str(e.data, "invoice_id");
    const OptNum amount = Num(e.data, "amount");
    if (!id || id->empty() || !amount) return Outcome::kInvalid;
    ModelRow* row = Find("invoices", *id);
    if (!row) return Outcome::kWaiting;
    (*row)["status"] = ModelValue::Text("paid");
    (*row)["paid_at"] = I(e.time);
    (*row)["paid_amount"] = ModelValue::Real(*amount);
    return Outcome::kApplied;
  }

  Outcome SubscriptionStarted(const ModelEvent& e) {
    std::string id, plan;
    if (!Required(e, {{"subscription_id", &id}, {"plan", &plan}})) return Outcome::kInvalid;
    std::string cid;
    if (Outcome o = TouchCustomerOf(e, &cid, {}); o != Outcome::kApplied) return o;
    auto& tb = table("subscriptions");
    auto it = tb.find(id);
    if (it == tb.end()) {
      tb.emplace(id, ModelRow{{"customer_id", T(cid)},
                              {"org_id", T(e.org_id)},
                              {"plan", T(plan)},
                              {"status", ModelValue::Text("active")},
                              {"started_at", I(e.time)},
                              {"cancelled_at", ModelValue::Null()},
                              {"cancel_reason", ModelValue::Null()}});
    } else {
      it->second["plan"] = T(plan);
      Min(it->second, "started_at", e.time);
    }
    return Outcome::kApplied;
  }

  Outcome SubscriptionCancelled(const ModelEvent& e) {
    ModelRow* row = nullptr;
    if (Outcome o = Dependency(e, "subscription_id", "subscriptions", &row); !row) return o;
    (*row)["status"] = ModelValue::Text("cancelled");
    (*row)["cancelled_at"] = I(e.time);
    Coalesce(*row, "cancel_reason", T(Str(e.data, "reason")));
    return Outcome::kApplied;
  }

  // --- customer dialect
  Outcome TimelineOnly(const ModelEvent& e) { return Touch(e, CustomerOf(e), ProfileOf(e)); }

  // Last writer wins by event time, ties broken by the greater event id.
  Outcome ProfileUpdated(const ModelEvent& e) {
    std::string cid;
    if (Outcome o = TouchCustomerOf(e, &cid, {}); o != Outcome::kApplied) return o;
    ModelRow& row = table("customers")[cid];
    const ModelValue& pt = row["profile_event_time"];
    const ModelValue& pid = row["profile_event_id"];
    const bool wins = pt.kind != ModelValue::kInt || pt.i < e.time ||
                      (pt.i == e.time && (pid.kind != ModelValue::kText || pid.s <= e.id));
    if (!wins) return Outcome::kApplied;
    OptStr name = Str(e.data, "name");
    if (!name) name = Str(e.data, "customer_name");
    Coalesce(row, "name", T(name));
    Coalesce(row, "email", T(Str(e.data, "email")));
    Coalesce(row, "phone", T(Str(e.data, "phone")));
    Coalesce(row, "company", T(Str(e.data, "company")));
    Coalesce(row, "tags", JsonField(e.data, "tags"));
    row["profile_event_time"] = I(e.time);
    row["profile_event_id"] = T(e.id);
    Max(row, "updated_at", e.time);
    return Outcome::kApplied;
  }

  Outcome InsertTicket(const ModelEvent& e, const std::string& cid, const std::string& id,
                       const OptStr& title, const std::string& status) {
    auto& tb = table("tickets");
    if (tb.count(id)) return Outcome::kApplied;
    const OptStr description = Str(e.data, "description");
    tb.emplace(id, ModelRow{{"customer_id", T(cid)},
                            {"org_id", T(e.org_id)},
                            {"title", T(title)},
                            {"description", T(description)},
                            {"summary", Summary(description)},
                            {"priority", ModelValue::Text(StrOr(e.data, "priority", "medium"))},
                            {"status", ModelValue::Text(status)},
                            {"channel", T(Str(e.data, "channel"))},
                            {"last_comment", ModelValue::Null()},
                            {"resolution", ModelValue::Null()},
                            {"opened_at", I(e.time)},
                            {"updated_at", I(e.time)},
                            {"resolved_at", ModelValue::Null()},
                            {"status_at", I(e.time)},
                            {"priority_at", I(e.time)},
                            {"comment_at", I(e.time)}});
    return Outcome::kApplied;
  }

  Outcome CustomerTicket(const ModelEvent& e) {
    std::string cid;
    if (Outcome o = TouchCustomerOf(e, &cid, ProfileOf(e)); o != Outcome::kApplied) return o;
    return InsertTicket(e, cid, StrOr(e.data, "ticket_id", e.id), Str(e.data, "title"),
                        StrOr(e.data, "status", "open"));
  }

  Outcome InsertWorkOrder(const ModelEvent& e, const std::string& cid, const std::string& id,
                          const std::string& status) {
    auto& tb = table("work_orders");
    if (tb.count(id)) return Outcome::kApplied;
    const OptStr description = Str(e.data, "description");
    tb.emplace(id, ModelRow{{"customer_id", T(cid)},
                            {"org_id", T(e.org_id)},
                            {"description", T(description)},
                            {"summary", Summary(description)},
                            {"priority", ModelValue::Text(StrOr(e.data, "priority", "medium"))},
                            {"status", ModelValue::Text(status)},
                            {"assigned_to", T(Str(e.data, "assigned_to"))},
                            {"cost", R(Num(e.data, "cost"))},
                            {"resolution_notes", ModelValue::Null()},
                            {"created_at", I(e.time)},
                            {"updated_at", I(e.time)},
                            {"status_at", I(e.time)},
                            {"cost_at", I(e.time)},
                            {"notes_at", I(e.time)},
                            {"assigned_at", I(e.time)}});
    return Outcome::kApplied;
  }

  Outcome RepairRequested(const ModelEvent& e) {
    std::string cid;
    if (Outcome o = TouchCustomerOf(e, &cid, ProfileOf(e)); o != Outcome::kApplied) return o;
    return InsertWorkOrder(e, cid, StrOr(e.data, "work_order_id", e.id),
                           StrOr(e.data, "status", "open"));
  }

  Outcome InsertKnowledge(const ModelEvent& e, const std::string& cid, const std::string& note) {
    auto& tb = table("knowledge");
    if (tb.count(e.id)) return Outcome::kApplied;
    tb.emplace(e.id,
               ModelRow{{"customer_id", T(cid)},
                        {"org_id", T(e.org_id)},
                        {"note", ModelValue::Text(note)},
                        {"summary", Summary(note)},
                        {"category", T(Str(e.data, "category"))},
                        {"importance", ModelValue::Text(StrOr(e.data, "importance", "medium"))},
                        {"tags", JsonField(e.data, "tags")},
                        {"source_type", T(e.type)},
                        {"created_at", I(e.time)}});
    return Outcome::kApplied;
  }

  Outcome CustomerNote(const ModelEvent& e) {
    OptStr note = Str(e.data, "note");
    if (!note || note->empty()) note = Str(e.data, "description");
    if (!note || note->empty()) return Outcome::kInvalid;
    std::string cid;
    if (Outcome o = TouchCustomerOf(e, &cid, ProfileOf(e)); o != Outcome::kApplied) return o;
    return InsertKnowledge(e, cid, *note);
  }

  // --- support
  Outcome TicketOpened(const ModelEvent& e) {
    std::string id, title;
    if (!Required(e, {{"ticket_id", &id}, {"title", &title}})) return Outcome::kInvalid;
    std::string cid;
    if (Outcome o = TouchCustomerOf(e, &cid, {}); o != Outcome::kApplied) return o;
    return InsertTicket(e, cid, id, title, "open");
  }

  // Last writer wins by event time, field by field (tables.md): a field the event carries is
  // set when the event is at least as new as the value it holds (its *_at stamp).
  static void SetIfNewer(ModelRow& row, const char* field, const char* stamp, ModelValue value,
                         int64_t time) {
    if (value.kind == ModelValue::kNull) return;
    const ModelValue& at = row[stamp];
    if (at.kind == ModelValue::kInt && time < at.i) return;
    row[field] = std::move(value);
    row[stamp] = I(time);
  }

  // An update of the row the event names (see Dependency): each field set if newer
  // (SetIfNewer against its stamp), updated_at widened to the event's time.
  struct StampedValue {
    const char* field;
    const char* stamp;
    ModelValue value;
  };
  Outcome UpdateIfNewer(const ModelEvent& e, const char* key, const char* table,
                        std::initializer_list<StampedValue> values) {
    ModelRow* row = nullptr;
    if (Outcome o = Dependency(e, key, table, &row); !row) return o;
    for (const StampedValue& v : values) SetIfNewer(*row, v.field, v.stamp, v.value, e.time);
    Max(*row, "updated_at", e.time);
    return Outcome::kApplied;
  }

  Outcome TicketUpdated(const ModelEvent& e) {
    return UpdateIfNewer(e, "ticket_id", "tickets",
                         {{"status", "status_at", T(Str(e.data, "status"))},
                          {"priority", "priority_at", T(Str(e.data, "priority"))},
                          {"last_comment", "comment_at", T(Str(e.data, "comment"))}});
  }

  // Status 'resolved' at the event's time; the resolution text, newest resolution wins.
  Outcome TicketResolved(const ModelEvent& e) {
    ModelRow* row = nullptr;
    if (Outcome o = Dependency(e, "ticket_id", "tickets", &row); !row) return o;
    SetIfNewer(*row, "status", "status_at", ModelValue::Text("resolved"), e.time);
    const ModelValue& resolved = (*row)["resolved_at"];
    if (resolved.kind != ModelValue::kInt || e.time >= resolved.i) {
      Coalesce(*row, "resolution", T(Str(e.data, "resolution")));
    }
    Max(*row, "resolved_at", e.time);
    Max(*row, "updated_at", e.time);
    return Outcome::kApplied;
  }

  Outcome WorkOrderCreated(const ModelEvent& e) {
    std::string id, description;
    if (!Required(e, {{"work_order_id", &id}, {"description", &description}}))
      return Outcome::kInvalid;
    std::string cid;
    if (Outcome o = TouchCustomerOf(e, &cid, {}); o != Outcome::kApplied) return o;
    return InsertWorkOrder(e, cid, id, "open");
  }

  Outcome WorkOrderUpdated(const ModelEvent& e) {
    return UpdateIfNewer(e, "work_order_id", "work_orders",
                         {{"status", "status_at", T(Str(e.data, "status"))},
                          {"cost", "cost_at", R(Num(e.data, "cost"))},
                          {"resolution_notes", "notes_at", T(Str(e.data, "resolution_notes"))},
                          {"assigned_to", "assigned_at", T(Str(e.data, "assigned_to"))}});
  }

  Outcome SupportNote(const ModelEvent& e) {
    const OptStr note = Str(e.data, "note");
    if (!note || note->empty()) return Outcome::kInvalid;
    std::string cid;
    if (Outcome o = TouchCustomerOf(e, &cid, {}); o != Outcome::kApplied) return o;
    return InsertKnowledge(e, cid, *note);
  }

  // --- auth
  static std::string UserOf(const ModelEvent& e) {
    const OptStr v = Str(e.data, "user_id");
    return v && !v->empty() ? *v : e.customer_id;
  }

  Outcome UserCreated(const ModelEvent& e) {
    const std::string uid = UserOf(e);
    const OptStr email = Str(e.data, "email");
    if (uid.empty() || !email || email->empty()) return Outcome::kInvalid;
    const ModelValue status = ModelValue::Text(StrOr(e.data, "status", "active"));
    auto& tb = table("users");
    auto it = tb.find(uid);
    if (it == tb.end()) {
      tb.emplace(uid, ModelRow{{"org_id", T(e.org_id)},
                               {"email", T(email)},
                               {"first_name", T(Str(e.data, "first_name"))},
                               {"last_name", T(Str(e.data, "last_name"))},
                               {"status", status},
                               {"created_at", I(e.time)},
                               {"deleted_at", ModelValue::Null()},
                               {"last_login_at", ModelValue::Null()},
                               {"login_count", I(0)},
                               {"failed_login_count", I(0)}});
      return Outcome::kApplied;
    }
    ModelRow& row = it->second;
    Coalesce(row, "org_id", T(e.org_id));
    row["email"] = T(email);
    Coalesce(row, "first_name", T(Str(e.data, "first_name")));
    Coalesce(row, "last_name", T(Str(e.data, "last_name")));
    if (row["deleted_at"].is_null()) row["status"] = status;  // a deleted user stays deleted
    Min(row, "created_at", e.time);
    return Outcome::kApplied;
  }

  Outcome UserDeleted(const ModelEvent& e) {
    const std::string uid = UserOf(e);
    if (uid.empty()) return Outcome::kInvalid;
    ModelRow* row = Find("users", uid);
    if (!row) return Outcome::kWaiting;
    (*row)["deleted_at"] = I(e.time);
    (*row)["status"] = ModelValue::Text("deleted");
    return Outcome::kApplied;
  }

  void InsertLogin(const ModelEvent& e, const std::string& uid, bool ok) {
    auto& tb = table("logins");
    if (tb.count(e.id)) return;
    tb.emplace(e.id, ModelRow{{"user_id", T(uid)},
                              {"email", T(Str(e.data, "email"))},
                              {"org_id", T(e.org_id)},
                              {"ok", I(ok ? 1 : 0)},
                              {"reason", T(Str(e.data, "reason"))},
                              {"at", I(e.time)}});
  }

  Outcome LoginSucceeded(const ModelEvent& e) {
    const std::string uid = UserOf(e);
    if (uid.empty()) return Outcome::kInvalid;
    ModelRow* row = Find("users", uid);
    if (!row) return Outcome::kWaiting;
    (*row)["login_count"] = I((*row)["login_count"].i + 1);
    Max(*row, "last_login_at", e.time);
    InsertLogin(e, uid, true);
    return Outcome::kApplied;
  }

  // Failed logins never wait: matched to the user by id, else by email, when there is one.
  Outcome LoginFailed(const ModelEvent& e) {
    const OptStr email = Str(e.data, "email");
    if (!email || email->empty()) return Outcome::kInvalid;
    const std::string uid = UserOf(e);
    for (auto& [id, row] : table("users")) {
      const bool match = uid.empty()
                             ? (row["email"].kind == ModelValue::kText && row["email"].s == *email)
                             : id == uid;
      if (match) row["failed_login_count"] = I(row["failed_login_count"].i + 1);
    }
    InsertLogin(e, uid, false);
    return Outcome::kApplied;
  }

  Outcome RoleAssigned(const ModelEvent& e) {
    const std::string uid = UserOf(e);
    const OptStr role = Str(e.data, "role_id");
    if (uid.empty() || !role || role->empty()) return Outcome::kInvalid;
    if (!Find("users", uid)) return Outcome::kWaiting;
    auto& tb = table("user_roles");
    const std::string key = uid + "|" + *role;
    auto it = tb.find(key);
    if (it == tb.end()) {
      tb.emplace(key, ModelRow{{"role_name", T(Str(e.data, "role_name"))},
                               {"user_email", T(Str(e.data, "user_email"))},
                               {"org_id", T(e.org_id)},
                               {"assigned_at", I(e.time)}});
    } else {
      Coalesce(it->second, "role_name", T(Str(e.data, "role_name")));
      Coalesce(it->second, "user_email", T(Str(e.data, "user_email")));
      Max(it->second, "assigned_at", e.time);
    }
    return Outcome::kApplied;
  }

  // Waits for the assignment it revokes.
  Outcome RoleRevoked(const ModelEvent& e) {
    const std::string uid = UserOf(e);
    const OptStr role = Str(e.data, "role_id");
    if (uid.empty() || !role || role->empty()) return Outcome::kInvalid;
    return table("user_roles").erase(uid + "|" + *role) ? Outcome::kApplied : Outcome::kWaiting;
  }

  // --- learning
  static std::string LearnerOf(const ModelEvent& e) {
    const OptStr v = Str(e.data, "learner_id");
    return v && !v->empty() ? *v : e.customer_id;
  }

  Outcome SessionStarted(const ModelEvent& e) {
    const OptStr id = Str(e.data, "session_id");
    const std::string learner = LearnerOf(e);
    if (!id || id->empty() || learner.empty()) return Outcome::kInvalid;
    auto& tb = table("learning_sessions");
    tb.emplace(*id, ModelRow{{"learner_id", T(learner)},
                             {"org_id", T(e.org_id)},
                             {"course", T(Str(e.data, "course"))},
                             {"device", T(Str(e.data, "device"))},
                             {"started_at", I(e.time)},
                             {"ended_at", ModelValue::Null()},
                             {"duration_s", ModelValue::Null()}});
    return Outcome::kApplied;
  }

  Outcome SessionEnded(const ModelEvent& e) {
    ModelRow* row = nullptr;
    if (Outcome o = Dependency(e, "session_id", "learning_sessions", &row); !row) return o;
    (*row)["ended_at"] = I(e.time);
    Coalesce(*row, "duration_s", R(Num(e.data, "duration_s")));
    return Outcome::kApplied;
  }

  Outcome ActivityCompleted(const ModelEvent& e) {
    std::string id, session;
    const std::string learner = LearnerOf(e);
    if (!Required(e, {{"activity_id", &id}, {"session_id", &session}}) || learner.empty())
      return Outcome::kInvalid;
    if (!Find("learning_sessions", session)) return Outcome::kWaiting;
    auto& tb = table("learning_activities");
    tb.emplace(id, ModelRow{{"session_id", T(session)},
                            {"learner_id", T(learner)},
                            {"org_id", T(e.org_id)},
                            {"skill", T(Str(e.data, "skill"))},
                            {"score", R(Num(e.data, "score"))},
                            {"duration_s", R(Num(e.data, "duration_s"))},
                            {"completed_at", I(e.time)}});
    return Outcome::kApplied;
  }

  // The highest level reached wins.
  Outcome SkillMastered(const ModelEvent& e) {
    const std::string learner = LearnerOf(e);
    const OptStr skill = Str(e.data, "skill");
    if (learner.empty() || !skill || skill->empty()) return Outcome::kInvalid;
    auto& tb = table("learner_skills");
    const std::string key = learner + "|" + *skill;
    const OptInt level = Int(e.data, "level");
    auto it = tb.find(key);
    if (it == tb.end()) {
      tb.emplace(
          key, ModelRow{{"org_id", T(e.org_id)}, {"level", I(level)}, {"mastered_at", I(e.time)}});
    } else {
      ModelValue& l = it->second["level"];
      if (level && (l.kind != ModelValue::kInt || *level > l.i)) l = I(*level);
      Max(it->second, "mastered_at", e.time);
    }
    return Outcome::kApplied;
  }

  Outcome QuestionAsked(const ModelEvent& e) {
    const OptStr id = Str(e.data, "question_id");
    const std::string learner = LearnerOf(e);
    if (!id || id->empty() || learner.empty()) return Outcome::kInvalid;
    auto& tb = table("homework");
    tb.emplace(*id, ModelRow{{"learner_id", T(learner)},
                             {"org_id", T(e.org_id)},
                             {"subject", T(Str(e.data, "subject"))},
                             {"text", T(Str(e.data, "text"))},
                             {"answer", ModelValue::Null()},
                             {"asked_at", I(e.time)},
                             {"answered_at", ModelValue::Null()}});
    return Outcome::kApplied;
  }

  Outcome QuestionAnswered(const ModelEvent& e) {
    std::string id, answer;
    if (!Required(e, {{"question_id", &id}, {"answer", &answer}})) return Outcome::kInvalid;
    ModelRow* row = Find("homework", id);
    if (!row) return Outcome::kWaiting;
    (*row)["answer"] = T(answer);
    (*row)["answered_at"] = I(e.time);
    return Outcome::kApplied;
  }

  Outcome RecommendationCreated(const ModelEvent& e) {
    std::string id, item;
    const std::string learner = LearnerOf(e);
    if (!Required(e, {{"recommendation_id", &id}, {"item", &item}}) || learner.empty())
      return Outcome::kInvalid;
    auto& tb = table("recommendations");
    tb.emplace(id, ModelRow{{"learner_id", T(learner)},
                            {"org_id", T(e.org_id)},
                            {"item", T(item)},
                            {"reason", T(Str(e.data, "reason"))},
                            {"created_at", I(e.time)}});
    return Outcome::kApplied;
  }

  // focus_minutes: per (session, floor(event_time / 60000)).
  Outcome Focus(const ModelEvent& e, int pings, int focused, double idle) {
    const OptStr session = Str(e.data, "session_id");
    const std::string learner = LearnerOf(e);
    if (!session || session->empty() || learner.empty()) return Outcome::kInvalid;
    int64_t minute = e.time / 60'000;
    if (e.time % 60'000 < 0) --minute;
    auto& tb = table("focus_minutes");
    const std::string key = *session + "|" + std::to_string(minute);
    auto it = tb.find(key);
    if (it == tb.end()) {
      tb.emplace(key, ModelRow{{"learner_id", T(learner)},
                               {"org_id", T(e.org_id)},
                               {"pings", I(pings)},
                               {"focused_pings", I(focused)},
                               {"idle_s", ModelValue::Real(idle)}});
    } else {
      ModelRow& row = it->second;
      row["pings"] = I(row["pings"].i + pings);
      row["focused_pings"] = I(row["focused_pings"].i + focused);
      row["idle_s"] = ModelValue::Real(RealOf(row["idle_s"]) + idle);
    }
    return Outcome::kApplied;
  }

  Outcome FocusPing(const ModelEvent& e) {
    auto it = e.data.find("focused");
    if (it == e.data.end() || !it->is_boolean()) return Outcome::kInvalid;
    return Focus(e, 1, it->get<bool>() ? 1 : 0, 0.0);
  }

  Outcome FocusIdle(const ModelEvent& e) {
    const OptNum idle = Num(e.data, "idle_s");
    if (!idle || *idle < 0) return Outcome::kInvalid;
    return Focus(e, 0, 0, *idle);
  }

  // --- CRM
  Outcome LeadCreated(const ModelEvent& e) {
    std::string id, email;
    if (!Required(e, {{"lead_id", &id}, {"email", &email}})) return Outcome::kInvalid;
    OptStr name = Str(e.data, "name");
    if (!name) {  // v2: first_name + last_name
      std::string joined = StrField(e.data, "first_name");
      const std::string last = StrField(e.data, "last_name");
      if (!last.empty()) joined += (joined.empty() ? "" : " ") + last;
      if (!joined.empty()) name = joined;
    }
    auto& tb = table("crm_leads");
    tb.emplace(id, ModelRow{{"org_id", T(e.org_id)},
                            {"event_date", T(DateOf(e.time))},
                            {"email", T(email)},
                            {"name", T(name)},
                            {"company", T(Str(e.data, "company"))},
                            {"lead_source", T(Str(e.data, "lead_source"))},
                            {"status", ModelValue::Text(StrOr(e.data, "status", "new"))},
                            {"score", R(Num(e.data, "score"))},
                            {"contact_id", ModelValue::Null()},
                            {"opportunity_id", ModelValue::Null()},
                            {"schema_version", I(e.schema_version)},
                            {"created_at", I(e.time)},
                            {"updated_at", I(e.time)},
                            {"converted_at", ModelValue::Null()}});
    return Outcome::kApplied;
  }

  Outcome LeadUpdated(const ModelEvent& e) {
    ModelRow* row = nullptr;
    if (Outcome o = Dependency(e, "lead_id", "crm_leads", &row); !row) return o;
    if ((*row)["status"].s != "converted") Coalesce(*row, "status", T(Str(e.data, "status")));
    Coalesce(*row, "score", R(Num(e.data, "score")));
    Coalesce(*row, "company", T(Str(e.data, "company")));
    Max(*row, "updated_at", e.time);
    return Outcome::kApplied;
  }

  Outcome LeadConverted(const ModelEvent& e) {
    std::string id, contact;
    if (!Required(e, {{"lead_id", &id}, {"contact_id", &contact}})) return Outcome::kInvalid;
    ModelRow* row = Find("crm_leads", id);
    if (!row) return Outcome::kWaiting;
    (*row)["status"] = ModelValue::Text("converted");
    (*row)["converted_at"] = I(e.time);
    (*row)["contact_id"] = T(contact);
    Coalesce(*row, "opportunity_id", T(Str(e.data, "opportunity_id")));
    Max(*row, "updated_at", e.time);
    return Outcome::kApplied;
  }

  Outcome ContactCreated(const ModelEvent& e) {
    std::string id, email;
    if (!Required(e, {{"contact_id", &id}, {"email", &email}})) return Outcome::kInvalid;
    auto& tb = table("crm_contacts");
    auto it = tb.find(id);
    if (it == tb.end()) {
      tb.emplace(id, ModelRow{{"org_id", T(e.org_id)},
                              {"event_date", T(DateOf(e.time))},
                              {"email", T(email)},
                              {"name", T(Str(e.data, "name"))},
                              {"phone", T(Str(e.data, "phone"))},
                              {"company", T(Str(e.data, "company"))},
                              {"lead_id", T(Str(e.data, "lead_id"))},
                              {"created_at", I(e.time)},
                              {"updated_at", I(e.time)}});
    } else {
      ModelRow& row = it->second;
      row["email"] = T(email);
      Coalesce(row, "name", T(Str(e.data, "name")));
      Coalesce(row, "phone", T(Str(e.data, "phone")));
      Coalesce(row, "company", T(Str(e.data, "company")));
      Coalesce(row, "lead_id", T(Str(e.data, "lead_id")));
      Min(row, "created_at", e.time);
      Max(row, "updated_at", e.time);
    }
    return Outcome::kApplied;
  }

  // An update of the row the event names (see Dependency): each value that is not null (the
  // event carries it) replaces its column's, updated_at widened to the event's time.
  Outcome UpdateCarried(const ModelEvent& e, const char* key, const char* table,
                        std::initializer_list<std::pair<const char*, ModelValue>> values) {
    ModelRow* row = nullptr;
    if (Outcome o = Dependency(e, key, table, &row); !row) return o;
    for (const auto& column_value : values) Coalesce(*row, column_value.first, column_value.second);
    Max(*row, "updated_at", e.time);
    return Outcome::kApplied;
  }

  Outcome ContactUpdated(const ModelEvent& e) {
    return UpdateCarried(e, "contact_id", "crm_contacts",
                         {{"email", T(Str(e.data, "email"))},
                          {"name", T(Str(e.data, "name"))},
                          {"phone", T(Str(e.data, "phone"))},
                          {"company", T(Str(e.data, "company"))}});
  }

  Outcome OpportunityCreated(const ModelEvent& e) {
    std::string id, name;
    if (!Required(e, {{"opportunity_id", &id}, {"name", &name}})) return Outcome::kInvalid;
    auto& tb = table("crm_opportunities");
    tb.emplace(id, ModelRow{{"org_id", T(e.org_id)},
                            {"event_date", T(DateOf(e.time))},
                            {"contact_id", T(Str(e.data, "contact_id"))},
                            {"name", T(name)},
                            {"amount", R(Num(e.data, "amount"))},
                            {"stage", ModelValue::Text(StrOr(e.data, "stage", "prospecting"))},
                            {"status", ModelValue::Text("open")},
                            {"close_reason", ModelValue::Null()},
                            {"created_at", I(e.time)},
                            {"updated_at", I(e.time)},
                            {"closed_at", ModelValue::Null()}});
    return Outcome::kApplied;
  }

  Outcome OpportunityUpdated(const ModelEvent& e) {
    return UpdateCarried(
        e, "opportunity_id", "crm_opportunities",
        {{"amount", R(Num(e.data, "amount"))}, {"stage", T(Str(e.data, "stage"))}});
  }

  Outcome Close(const ModelEvent& e, const char* status, const ModelValue& amount,
                const ModelValue& reason) {
    return UpdateCarried(e, "opportunity_id", "crm_opportunities",
                         {{"status", ModelValue::Text(status)},
                          {"amount", amount},
                          {"close_reason", reason},
                          {"closed_at", I(e.time)}});
  }
  Outcome OpportunityWon(const ModelEvent& e) {
    return Close(e, "won", R(Num(e.data, "amount")), ModelValue::Null());
  }
  Outcome OpportunityLost(const ModelEvent& e) {
    return Close(e, "lost", ModelValue::Null(), T(Str(e.data, "reason")));
  }

  const ModelOptions& options_;
  std::map<std::string, ModelTable>& t_;
};

// ---------------------------------------------------------------------------------------------
// Table definitions for the diff: name, key columns, compared columns.

struct TableDef {
  const char* name;
  std::vector<const char*> key;
  std::vector<const char*> columns;
};

const std::vector<TableDef>& TableDefs() {
  static const std::vector<TableDef> k = {
      {"customers",
       {"customer_id"},
       {"org_id", "email", "name", "phone", "company", "plan", "tags", "lifetime_value",
        "created_at", "updated_at", "profile_event_time", "profile_event_id"}},
      {"purchases",
       {"purchase_id"},
       {"customer_id", "org_id", "event_id", "product_name", "product_sku", "quantity", "price",
        "amount", "currency", "refunded_amount", "refund_reason", "status", "warranty_expires",
        "purchased_at", "refunded_at"}},
      {"invoices",
       {"invoice_id"},
       {"customer_id", "org_id", "amount", "currency", "due_date", "status", "issued_at", "paid_at",
        "paid_amount"}},
      {"subscriptions",
       {"subscription_id"},
       {"customer_id", "org_id", "plan", "status", "started_at", "cancelled_at", "cancel_reason"}},
      {"tickets",
       {"ticket_id"},
       {"customer_id", "org_id", "title", "description", "summary", "priority", "status", "channel",
        "last_comment", "resolution", "opened_at", "updated_at", "resolved_at", "status_at",
        "priority_at", "comment_at"}},
      {"work_orders",
       {"work_order_id"},
       {"customer_id", "org_id", "description", "summary", "priority", "status", "assigned_to",
        "cost", "resolution_notes", "created_at", "updated_at", "status_at", "cost_at", "notes_at",
        "assigned_at"}},
      {"knowledge",
       {"knowledge_id"},
       {"customer_id", "org_id", "note", "summary", "category", "importance", "tags", "source_type",
        "created_at"}},
      {"users",
       {"user_id"},
       {"org_id", "email", "first_name", "last_name", "status", "created_at", "deleted_at",
        "last_login_at", "login_count", "failed_login_count"}},
      {"user_roles", {"user_id", "role_id"}, {"role_name", "user_email", "org_id", "assigned_at"}},
      {"logins", {"event_id"}, {"user_id", "email", "org_id", "ok", "reason", "at"}},
      {"learning_sessions",
       {"session_id"},
       {"learner_id", "org_id", "course", "device", "started_at", "ended_at", "duration_s"}},
      {"learning_activities",
       {"activity_id"},
       {"session_id", "learner_id", "org_id", "skill", "score", "duration_s", "completed_at"}},
      {"learner_skills", {"learner_id", "skill"}, {"org_id", "level", "mastered_at"}},
      {"homework",
       {"question_id"},
       {"learner_id", "org_id", "subject", "text", "answer", "asked_at", "answered_at"}},
      {"recommendations",
       {"recommendation_id"},
       {"learner_id", "org_id", "item", "reason", "created_at"}},
      {"focus_minutes",
       {"session_id", "minute"},
       {"learner_id", "org_id", "pings", "focused_pings", "idle_s"}},
      {"crm_leads",
       {"lead_id"},
       {"org_id", "event_date", "email", "name", "company", "lead_source", "status", "score",
        "contact_id", "opportunity_id", "schema_version", "created_at", "updated_at",
        "converted_at"}},
      {"crm_contacts",
       {"contact_id"},
       {"org_id", "event_date", "email", "name", "phone", "company", "lead_id", "created_at",
        "updated_at"}},
      {"crm_opportunities",
       {"opportunity_id"},
       {"org_id", "event_date", "contact_id", "name", "amount", "stage", "status", "close_reason",
        "created_at", "updated_at", "closed_at"}},
      {"events",
       {"event_id"},
       {"type", "source", "org_id", "customer_id", "event_time", "dialect", "schema_version"}},
  };
  return k;
}

// An observed cell.
struct Cell {
  SqlValue::Kind type = SqlValue::Kind::kNull;
  int64_t i = 0;
  double r = 0;
  std::string s;
  std::string ToString() const {
    switch (type) {
      case SqlValue::Kind::kNull:
        return "NULL";
      case SqlValue::Kind::kInteger:
        return std::to_string(i);
      case SqlValue::Kind::kReal: {
        std::ostringstream o;
        o.precision(12);
        o << r;
        return o.str();
      }
      default:
        return s;
    }
  }
};

Cell ReadCell(const SqlValue& v) {
  Cell c;
  c.type = v.kind;
  c.i = v.integer;
  c.r = v.kind == SqlValue::Kind::kInteger ? static_cast<double>(v.integer) : v.real;
  c.s.assign(v.text);
  return c;
}

bool Same(const ModelValue& want, const Cell& got) {
  const bool numeric = got.type == SqlValue::Kind::kInteger || got.type == SqlValue::Kind::kReal;
  switch (want.kind) {
    case ModelValue::kAny:
      return true;
    case ModelValue::kNull:
      return got.type == SqlValue::Kind::kNull;
    case ModelValue::kInt:
      if (got.type == SqlValue::Kind::kInteger) return got.i == want.i;
      return got.type == SqlValue::Kind::kReal && got.r == static_cast<double>(want.i);
    case ModelValue::kReal:
      // Money and other sums: a tolerance for the order the additions happened in.
      return numeric && std::fabs(got.r - want.r) <= 0.005 + 1e-9 * std::fabs(want.r);
    case ModelValue::kText:
      return got.type == SqlValue::Kind::kText && got.s == want.s;
    case ModelValue::kJson: {
      if (got.type != SqlValue::Kind::kText) return false;
      auto parsed = json::parse(got.s, nullptr, false);
      return !parsed.is_discarded() && parsed.dump() == want.s;
    }
  }
  return false;
}

std::string Quote(const std::string& s) { return s.size() > 120 ? s.substr(0, 117) + "..." : s; }

}  // namespace

std::string ModelValue::ToString() const {
  switch (kind) {
    case kNull:
      return "NULL";
    case kAny:
      return "(any)";
    case kInt:
      return std::to_string(i);
    case kReal: {
      std::ostringstream o;
      o.precision(12);
      o << r;
      return o.str();
    }
    case kText:
      return s;
    case kJson:
      return s;
  }
  return "";
}

std::vector<std::string> ReferenceModel::ComparedTables() {
  std::vector<std::string> out;
  for (const auto& d : TableDefs()) out.push_back(d.name);
  out.push_back("dead_letters");
  return out;
}

void ReferenceModel::Build(const std::vector<PublishRecord>& publishes,
                           const std::unordered_set<std::string>& skip,
                           const std::unordered_set<std::string>& stored_unacked) {
  tables_.clear();
  dead_letters_.clear();
  modelled_ = undecodable_ = unsettled_ = 0;
  for (const auto& d : TableDefs()) tables_[d.name];

  // One candidate per event id: the first copy meant to apply, else the first copy at all.
  std::unordered_map<std::string, size_t> chosen;
  std::unordered_set<std::string> counted;  // ids that should (or did) apply
  for (size_t i = 0; i < publishes.size(); ++i) {
    const auto& p = publishes[i];
    if (p.expect == "dead_letter") {
      dead_letters_.push_back({p.event_id, p.payload, p.acked});
      continue;
    }
    // A publish the broker never acknowledged may have been stored and then dead-lettered (a
    // refund whose purchase was lost with it): such a dead letter is allowed, never required.
    if (!p.acked) dead_letters_.push_back({p.event_id, p.payload, false});
    if (p.event_id.empty()) continue;
    if (skip.count(p.event_id)) continue;
    if (p.acked || stored_unacked.count(p.event_id)) counted.insert(p.event_id);
    auto it = chosen.find(p.event_id);
    if (it == chosen.end()) {
      chosen.emplace(p.event_id, i);
    } else if (publishes[it->second].expect != "applied" && p.expect == "applied") {
      it->second = i;
    }
  }
  // Excused dead letters: present in dead_letters instead of applied.
  {
    std::unordered_set<std::string> added;
    for (const auto& p : publishes) {
      if (!p.event_id.empty() && skip.count(p.event_id) && added.insert(p.event_id).second)
        dead_letters_.push_back({p.event_id, p.payload, true});
    }
  }
  std::vector<size_t> order;
  for (const auto& [id, index] : chosen) {
    if (counted.count(id)) order.push_back(index);
  }
  std::vector<ModelEvent> events;
  events.reserve(order.size());
  for (size_t index : order) {
    auto e = DecodeEvent(publishes[index]);
    if (!e || !Folder::Known(e->type)) {
      ++undecodable_;
      continue;
    }
    e->index = index;
    e->id = publishes[index].event_id;
    if (!e->time_known) e->time = publishes[index].event_time_ms;  // best guess; not compared
    events.push_back(std::move(*e));
  }
  // Log order: the order the events were published in, which is the order a stream or a
  // partition delivers them in. Where ingestd's result does not depend on the order (the
  // last-writer-wins guards on event time, MAX/MIN times, sums) the folds apply the same guards,
  // so any order gives the same state; where it does (a field overwritten by whichever update
  // arrives last), publish order is the best knowledge of the arrival order there is.
  std::sort(events.begin(), events.end(),
            [](const ModelEvent& a, const ModelEvent& b) { return a.index < b.index; });

  Folder folder(options_, &tables_);
  auto& events_table = tables_["events"];
  auto record = [&](const ModelEvent& e) {
    ModelRow row;
    row["type"] = ModelValue::Text(e.type);
    row["source"] = T(e.source);
    row["org_id"] = T(e.org_id);
    row["customer_id"] = T(e.customer_id);
    row["event_time"] = e.time_known ? I(e.time) : ModelValue::Any();
    row["dialect"] = ModelValue::Text(e.dialect);
    row["schema_version"] = I(e.schema_version);
    events_table[e.id] = std::move(row);
    ++modelled_;
  };
  std::vector<const ModelEvent*> waiting;
  for (const auto& e : events) {
    switch (folder.Apply(e)) {
      case Outcome::kApplied:
        record(e);
        break;
      case Outcome::kWaiting:
        waiting.push_back(&e);
        break;
      case Outcome::kInvalid:
        ++undecodable_;
        break;
    }
  }
  // Retry what waited until nothing more applies (ingestd's redeliveries do the same).
  for (bool progress = true; progress && !waiting.empty();) {
    progress = false;
    std::vector<const ModelEvent*> still;
    for (const ModelEvent* e : waiting) {
      if (folder.Apply(*e) == Outcome::kApplied) {
        record(*e);
        progress = true;
      } else {
        still.push_back(e);
      }
    }
    waiting.swap(still);
  }
  unsettled_ = waiting.size();
}

Result<std::vector<ModelTableDiff>> ReferenceModel::Diff(SqlConnection& db,
                                                         std::vector<StateMismatch>* mismatches,
                                                         size_t max_shown) const {
  std::vector<ModelTableDiff> out;
  auto add = [&](ModelTableDiff& d, StateMismatch m) {
    ++d.mismatches;
    if (d.first_differences.size() < max_shown) d.first_differences.push_back(m);
    mismatches->push_back(std::move(m));
  };
  static const ModelTable kEmpty;
  for (const auto& def : TableDefs()) {
    std::string sql = "SELECT ";
    bool first = true;
    for (const auto* c : def.key) {
      sql += (first ? "" : ", ") + std::string(c);
      first = false;
    }
    for (const auto* c : def.columns) sql += std::string(", ") + c;
    sql += std::string(" FROM ") + def.name;
    auto found = tables_.find(def.name);
    const ModelTable& want = found == tables_.end() ? kEmpty : found->second;
    ModelTableDiff d;
    d.table = def.name;
    d.expected_rows = want.size();
    std::unordered_set<std::string> seen;
    const size_t nkey = def.key.size();
    Status read = db.Query(
        sql, [](const std::vector<std::string>&) {},
        [&](const std::vector<SqlValue>& row) {
          ++d.observed_rows;
          std::string key;
          for (size_t k = 0; k < nkey; ++k) key += (k ? "|" : "") + ReadCell(row[k]).ToString();
          seen.insert(key);
          auto it = want.find(key);
          if (it == want.end()) {
            add(d, {def.name, key, "no row", "extra row"});
            return;
          }
          for (size_t c = 0; c < def.columns.size(); ++c) {
            const ModelValue* v = it->second.find(def.columns[c]);
            if (v == nullptr) continue;  // the model does not know it
            const Cell got = ReadCell(row[nkey + c]);
            if (!Same(*v, got)) {
              add(d, {std::string(def.name) + "." + def.columns[c], key, Quote(v->ToString()),
                      Quote(got.ToString())});
            }
          }
        });
    if (!read.ok()) {
      return read.Annotate(std::string("reference model: cannot read ") + def.name);
    }
    for (const auto& [key, row] : want) {
      if (!seen.count(key)) add(d, {def.name, key, "row", "missing row"});
    }
    size_t extra = 0;
    for (const auto& k : seen) extra += !want.count(k);
    d.compared = want.size() + extra;
    out.push_back(std::move(d));
  }

  // dead_letters: every expected dead letter is there (by the payload's id or its bytes), and
  // nothing else is.
  {
    ModelTableDiff d;
    d.table = "dead_letters";
    // Several publishes may share bytes or an id (a malformed message sent twice): each row
    // takes the first of its candidates not yet taken, required ones first.
    std::unordered_map<std::string, std::vector<size_t>> by_id, by_payload;
    for (size_t i = 0; i < dead_letters_.size(); ++i) {
      if (dead_letters_[i].required) ++d.expected_rows;
      if (!dead_letters_[i].event_id.empty()) by_id[dead_letters_[i].event_id].push_back(i);
      by_payload[dead_letters_[i].payload].push_back(i);
    }
    for (auto* index : {&by_id, &by_payload}) {
      for (auto& [k, v] : *index) {
        std::stable_partition(v.begin(), v.end(),
                              [&](size_t i) { return dead_letters_[i].required; });
      }
    }
    std::vector<bool> found(dead_letters_.size(), false);
    Status read = db.Query(
        "SELECT id, payload FROM dead_letters", [](const std::vector<std::string>&) {},
        [&](const std::vector<SqlValue>& row) {
          ++d.observed_rows;
          const Cell payload = ReadCell(row[1]);
          std::string id;
          auto j = json::parse(payload.s, nullptr, false);
          if (j.is_object() && j.contains("id") && j["id"].is_string()) id = j["id"];
          const std::vector<size_t>* candidates = nullptr;
          if (auto p = by_payload.find(payload.s); p != by_payload.end()) {
            candidates = &p->second;
          } else if (auto q = id.empty() ? by_id.end() : by_id.find(id); q != by_id.end()) {
            candidates = &q->second;
          }
          size_t match = SIZE_MAX;
          if (candidates != nullptr) {
            match = candidates->front();  // all taken: a second row for a known message
            for (size_t i : *candidates) {
              if (!found[i]) {
                match = i;
                break;
              }
            }
          }
          if (match == SIZE_MAX) {
            add(d, {"dead_letters",
                    "row " + std::to_string(row[0].integer) + (id.empty() ? "" : " (" + id + ")"),
                    "no dead letter", "extra row"});
          } else {
            found[match] = true;
          }
        });
    if (!read.ok()) return read.Annotate("reference model: cannot read dead_letters");
    for (size_t i = 0; i < dead_letters_.size(); ++i) {
      if (dead_letters_[i].required && !found[i]) {
        const std::string key = dead_letters_[i].event_id.empty() ? Quote(dead_letters_[i].payload)
                                                                  : dead_letters_[i].event_id;
        add(d, {"dead_letters", key, "dead letter", "missing row"});
        ++d.compared;
      }
    }
    d.compared += d.observed_rows;
    out.push_back(std::move(d));
  }
  return out;
}

std::string DescribeModelDiff(const ReferenceModel& model,
                              const std::vector<ModelTableDiff>& diffs) {
  std::ostringstream n;
  n << model.modelled() << " events modelled";
  if (model.undecodable()) n << ", " << model.undecodable() << " not modelled";
  if (model.unsettled()) n << ", " << model.unsettled() << " waiting for a prerequisite";
  n << "; rows compared:";
  bool first = true;
  for (const auto& d : diffs) {
    n << (first ? " " : ", ") << d.table << " " << d.compared;
    if (d.mismatches) n << " (" << d.mismatches << " differ)";
    first = false;
  }
  return n.str();
}

}  // namespace ingestlab
