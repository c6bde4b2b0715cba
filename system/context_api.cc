// The customer-context API. See context_api.h.
#include "system/context_api.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/redact.h"
#include "system/mutant.h"
#include "system/store.h"

namespace ingestlab {
namespace {

using nlohmann::json;

constexpr std::string_view kContextPrefix = "/v1/customers/";
constexpr std::string_view kContextSuffix = "/context";
constexpr size_t kMaxIdBytes = 256;
constexpr size_t kMaxQueryBytes = 256;
constexpr size_t kMaxQueryWords = 8;
constexpr int kSearchLimit = 20;
constexpr int64_t kMaxContextBytes = 100'000'000;

// How a column becomes JSON.
enum class Kind { kText, kInteger, kReal, kJsonText };
struct Field {
  const char* name;
  Kind kind;
};

// What a section's ?1, ?2 are.
enum class Params { kCustomerOrg, kOrgEmail };

// One section: its rows for (?1 customer id, ?2 organisation), or for CRM sections (which know
// customers by e-mail address) (?1 organisation, ?2 the customer's e-mail).
struct Section {
  const char* name;
  const char* sql;
  Params params;
  std::vector<Field> fields;
};

constexpr char kProfile[] = R"sql(
SELECT customer_id, org_id, email, name, phone, company, plan, tags, lifetime_value, created_at,
       updated_at
FROM customers WHERE customer_id = ?1 AND org_id = ?2)sql";

#ifdef INGESTD_MUTANTS
constexpr char kProfileAnyOrg[] = R"sql(
SELECT customer_id, org_id, email, name, phone, company, plan, tags, lifetime_value, created_at,
       updated_at
FROM customers WHERE customer_id = ?1 AND ?2 IS NOT NULL)sql";
#endif

constexpr char kTickets[] = R"sql(
SELECT ticket_id, title, COALESCE(summary, description), priority, status, channel, opened_at,
       updated_at
FROM tickets WHERE customer_id = ?1 AND org_id = ?2 AND status NOT IN ('resolved', 'closed')
ORDER BY COALESCE(updated_at, 0) DESC, ticket_id LIMIT 20)sql";

constexpr char kPurchases[] = R"sql(
SELECT purchase_id, product_name, quantity, amount, currency, status, refunded_amount, purchased_at
FROM purchases WHERE customer_id = ?1 AND org_id = ?2
ORDER BY COALESCE(purchased_at, 0) DESC, purchase_id LIMIT 20)sql";

constexpr char kWorkOrders[] = R"sql(
SELECT work_order_id, COALESCE(summary, description), priority, status, assigned_to, cost,
       created_at, updated_at
FROM work_orders WHERE customer_id = ?1 AND org_id = ?2 AND status NOT IN ('completed', 'cancelled')
ORDER BY COALESCE(updated_at, 0) DESC, work_order_id LIMIT 20)sql";

constexpr char kLeads[] = R"sql(
SELECT lead_id, status, score, company, lead_source, converted_at, updated_at
FROM crm_leads WHERE email = ?2 AND org_id = ?1
ORDER BY COALESCE(updated_at, 0) DESC, lead_id LIMIT 20)sql";

constexpr char kContacts[] = R"sql(
SELECT contact_id, company, lead_id, updated_at
FROM crm_contacts WHERE email = ?2 AND org_id = ?1
ORDER BY COALESCE(updated_at, 0) DESC, contact_id LIMIT 20)sql";

constexpr char kOpportunities[] = R"sql(
SELECT opportunity_id, name, amount, stage, status, close_reason, closed_at, updated_at
FROM crm_opportunities WHERE org_id = ?1 AND contact_id IN (
  SELECT contact_id FROM crm_contacts WHERE email = ?2 AND org_id = ?1)
ORDER BY COALESCE(updated_at, 0) DESC, opportunity_id LIMIT 20)sql";

constexpr char kKnowledge[] = R"sql(
SELECT knowledge_id, category, importance, COALESCE(summary, note), created_at
FROM knowledge WHERE customer_id = ?1 AND org_id = ?2
ORDER BY COALESCE(created_at, 0) DESC, knowledge_id LIMIT 20)sql";

constexpr char kLearning[] = R"sql(
SELECT activity_id, skill, score, duration_s, completed_at
FROM learning_activities WHERE learner_id = ?1 AND org_id = ?2
ORDER BY COALESCE(completed_at, 0) DESC, activity_id LIMIT 20)sql";

const Section kProfileSection{"profile",
                              kProfile,
                              Params::kCustomerOrg,
                              {{"customer_id", Kind::kText},
                               {"org_id", Kind::kText},
                               {"email", Kind::kText},
                               {"name", Kind::kText},
                               {"phone", Kind::kText},
                               {"company", Kind::kText},
                               {"plan", Kind::kText},
                               {"tags", Kind::kJsonText},
                               {"lifetime_value", Kind::kReal},
                               {"created_at", Kind::kInteger},
                               {"updated_at", Kind::kInteger}}};

// Most important first: the order they are kept in under a size budget.
const std::vector<Section>& Sections() {
  static const std::vector<Section> sections = {
      {"tickets",
       kTickets,
       Params::kCustomerOrg,
       {{"ticket_id", Kind::kText},
        {"title", Kind::kText},
        {"description", Kind::kText},
        {"priority", Kind::kText},
        {"status", Kind::kText},
        {"channel", Kind::kText},
        {"opened_at", Kind::kInteger},
        {"updated_at", Kind::kInteger}}},
      {"purchases",
       kPurchases,
       Params::kCustomerOrg,
       {{"purchase_id", Kind::kText},
        {"product_name", Kind::kText},
        {"quantity", Kind::kReal},
        {"amount", Kind::kReal},
        {"currency", Kind::kText},
        {"status", Kind::kText},
        {"refunded_amount", Kind::kReal},
        {"purchased_at", Kind::kInteger}}},
      {"work_orders",
       kWorkOrders,
       Params::kCustomerOrg,
       {{"work_order_id", Kind::kText},
        {"description", Kind::kText},
        {"priority", Kind::kText},
        {"status", Kind::kText},
        {"assigned_to", Kind::kText},
        {"cost", Kind::kReal},
        {"created_at", Kind::kInteger},
        {"updated_at", Kind::kInteger}}},
      {"crm_leads",
       kLeads,
       Params::kOrgEmail,
       {{"lead_id", Kind::kText},
        {"status", Kind::kText},
        {"score", Kind::kReal},
        {"company", Kind::kText},
        {"lead_source", Kind::kText},
        {"converted_at", Kind::kInteger},
        {"updated_at", Kind::kInteger}}},
      {"crm_contacts",
       kContacts,
       Params::kOrgEmail,
       {{"contact_id", Kind::kText},
        {"company", Kind::kText},
        {"lead_id", Kind::kText},
        {"updated_at", Kind::kInteger}}},
      {"crm_opportunities",
       kOpportunities,
       Params::kOrgEmail,
       {{"opportunity_id", Kind::kText},
        {"name", Kind::kText},
        {"amount", Kind::kReal},
        {"stage", Kind::kText},
        {"status", Kind::kText},
        {"close_reason", Kind::kText},
        {"closed_at", Kind::kInteger},
        {"updated_at", Kind::kInteger}}},
      {"knowledge",
       kKnowledge,
       Params::kCustomerOrg,
       {{"knowledge_id", Kind::kText},
        {"category", Kind::kText},
        {"importance", Kind::kText},
        {"note", Kind::kText},
        {"created_at", Kind::kInteger}}},
      {"learning",
       kLearning,
       Params::kCustomerOrg,
       {{"activity_id", Kind::kText},
        {"skill", Kind::kText},
        {"score", Kind::kReal},
        {"duration_s", Kind::kReal},
        {"completed_at", Kind::kInteger}}},
  };
  return sections;
}

constexpr char kSearchSqlite[] = R"sql(
SELECT c.customer_id, c.name, c.email, c.company FROM customers_fts
JOIN customers c ON c.rowid = customers_fts.rowid
WHERE customers_fts MATCH ?1 AND c.org_id = ?2 ORDER BY c.customer_id LIMIT 20)sql";

constexpr char kSearchPostgres[] = R"sql(
SELECT customer_id, name, email, company FROM customers
WHERE to_tsvector('simple', COALESCE(name, '') || ' ' || COALESCE(email, '') || ' ' ||
                            COALESCE(company, '')) @@ plainto_tsquery('simple', ?1)
  AND org_id = ?2 ORDER BY customer_id LIMIT 20)sql";

const std::vector<Field> kSearchFields = {{"customer_id", Kind::kText},
                                          {"name", Kind::kText},
                                          {"email", Kind::kText},
                                          {"company", Kind::kText}};

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

HttpReply JsonReply(int status, const json& body) {
  return {status, "application/json", Dump(body) + "\n", {}};
}

HttpReply Error(int status, const std::string& message) {
  return JsonReply(status, {{"error", message}});
}

json Row(const SqlStatement& stmt, const std::vector<Field>& fields) {
  json row = json::object();
  for (size_t c = 0; c < fields.size(); ++c) {
    const int col = static_cast<int>(c);
    json& value = row[fields[c].name];
    if (stmt.IsNull(col)) continue;  // null
    switch (fields[c].kind) {
      case Kind::kText:
        value = std::string(stmt.Text(col));
        break;
      case Kind::kInteger:
        value = stmt.Int(col);
        break;
      case Kind::kReal:
        value = stmt.Real(col);
        break;
      case Kind::kJsonText:
        value = json::parse(stmt.Text(col), nullptr, /*allow_exceptions=*/false);
        if (value.is_discarded()) value = std::string(stmt.Text(col));
        break;
    }
  }
  return row;
}

// Runs `sql` with `params` bound and collects its rows.
Status Rows(SqlConnection& db, const char* sql,
            const std::vector<std::optional<std::string>>& params, const std::vector<Field>& fields,
            std::vector<json>* out) {
  auto stmt = db.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  SqlStatement& s = **stmt;
  for (size_t i = 0; i < params.size(); ++i) {
    if (params[i]) {
      s.BindText(static_cast<int>(i) + 1, *params[i]);
    } else {
      s.BindNull(static_cast<int>(i) + 1);
    }
  }
  Status st;
  for (;;) {
    auto row = s.Step();
    if (!row.ok()) {
      st = row.status();
      break;
    }
    if (!*row) break;
    out->push_back(Row(s, fields));
  }
  s.Reset();
  return st;
}

// "a,b" split on commas, empty items dropped.
std::vector<std::string> SplitCommas(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The words of a search text, each as an FTS5 string ("word"), so that no user text is read as
// FTS5 query syntax. Words are runs of letters, digits and bytes >= 0x80.
std::vector<std::string> SearchWords(std::string_view q) {
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty() && words.size() < kMaxQueryWords) words.push_back("\"" + word + "\"");
    word.clear();
  };
  for (unsigned char c : q) {
    if (std::isalnum(c) || c >= 0x80) {
      word += static_cast<char>(c);
    } else {
      flush();
    }
  }
  flush();
  return words;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Status AddApiToken(const std::string& org, const std::string& token,
                   std::map<std::string, std::string>* tokens) {
  if (org.empty()) return Status::InvalidArgument("expected ORG=TOKEN, the organisation is empty");
  if (token.size() < 16) {
    return Status::InvalidArgument("organisation " + org +
                                   ": a token must have at least 16 characters");
  }
  for (unsigned char c : token) {
    if (c <= ' ' || c >= 0x7f) {
      return Status::InvalidArgument("organisation " + org +
                                     ": a token is printable ASCII without spaces");
    }
  }
  auto [it, inserted] = tokens->emplace(token, org);
  if (!inserted && it->second != org) {
    return Status::InvalidArgument("organisation " + org + ": the same token is given to " +
                                   it->second);
  }
  RegisterSecret(token);
  return Status::Ok();
}

ContextApi::ContextApi(ContextApiOptions options) : options_(std::move(options)) {}

ContextApi::~ContextApi() = default;

void ContextApi::Register(HttpServer& server) {
  server.HandlePrefix(std::string(kContextPrefix),
                      [this](const HttpRequest& request) { return Route(request); });
}

HttpReply ContextApi::Route(const HttpRequest& request) {
  if (request.path == "/v1/customers/search") return Search(request);
  return Context(request);
}

bool ContextApi::Authorize(const HttpRequest& request, std::string* org, HttpReply* denied) const {
  constexpr std::string_view kBearer = "Bearer ";
  const std::string_view header = request.authorization;
  if (header.size() <= kBearer.size() || header.substr(0, kBearer.size()) != kBearer) {
    *denied = Error(401, "an Authorization: Bearer token is required");
    denied->headers.emplace_back("WWW-Authenticate", "Bearer");
    return false;
  }
  const std::string_view token = header.substr(kBearer.size());
  // Every configured token is compared, each in constant time, so the answer's timing says
  // nothing about how much of a token was right.
  bool found = false;
  for (const auto& [known, known_org] : options_.tokens) {
    const bool same = known.size() == token.size() &&
                      CRYPTO_memcmp(known.data(), token.data(), token.size()) == 0;
    if (same) {
      *org = known_org;
      found = true;
    }
  }
  if (!found) {
    *denied = Error(401, "the token is not valid");
    denied->headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
  }
  return found;
}

Result<SqlConnection*> ContextApi::Db() {
  if (db_ == nullptr) {
    auto db = OpenSideConnection(options_.db_path, options_.busy_timeout_ms);
    if (!db.ok()) return db.status();
    db_ = std::move(*db);
  }
  return db_.get();
}

HttpReply ContextApi::Context(const HttpRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  std::string org;
  HttpReply denied;
  if (!Authorize(request, &org, &denied)) return denied;
  const std::string_view path = request.path;
  if (path.size() <= kContextPrefix.size() + kContextSuffix.size() ||
      path.substr(path.size() - kContextSuffix.size()) != kContextSuffix) {
    return Error(404, "no such route (GET /v1/customers/{id}/context or /v1/customers/search)");
  }
  const std::string id(path.substr(kContextPrefix.size(),
                                   path.size() - kContextPrefix.size() - kContextSuffix.size()));
  // No customer id is that long or holds a control character (PostgreSQL refuses NUL in text).
  if (id.size() > kMaxIdBytes || std::any_of(id.begin(), id.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20;
      })) {
    return Error(404, "customer not found");
  }

  int64_t max_bytes = kDefaultContextMaxBytes;
  if (auto text = request.Param("max_bytes")) {
    char* end = nullptr;
    errno = 0;
    const long long n = std::strtoll(text->c_str(), &end, 10);
    if (text->empty() || *end != '\0' || errno != 0 || n < 1 || n > kMaxContextBytes) {
      return Error(
          400, "max_bytes: expected a whole number from 1 to " + std::to_string(kMaxContextBytes));
    }
    max_bytes = n;
  }
  std::vector<const Section*> wanted;
  if (auto text = request.Param("sections")) {
    for (const std::string& name : SplitCommas(*text)) {
      if (name == "profile") continue;  // always there
      auto it = std::find_if(Sections().begin(), Sections().end(),
                             [&](const Section& s) { return name == s.name; });
      if (it == Sections().end()) {
        std::string known = "profile";
        for (const Section& s : Sections()) known += std::string(", ") + s.name;
        return Error(
            400, "sections: unknown section '" + name.substr(0, 64) + "' (known: " + known + ")");
      }
      if (std::find(wanted.begin(), wanted.end(), &*it) == wanted.end()) wanted.push_back(&*it);
    }
    // Kept in order of importance, whatever order they were asked in.
    std::sort(wanted.begin(), wanted.end());
  } else {
    for (const Section& s : Sections()) wanted.push_back(&s);
  }

  std::vector<json> profile;
  std::vector<std::vector<json>> rows(wanted.size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto db = Db();
    const char* profile_sql = kProfile;
#ifdef INGESTD_MUTANTS
    // Mutant context_ignores_org: the profile is looked up by id alone, so a token of one
    // organisation reads another's customers.
    if (Mutant("context_ignores_org")) profile_sql = kProfileAnyOrg;
#endif
    Status st = db.ok() ? Rows(**db, profile_sql, {id, org}, kProfileSection.fields, &profile)
                        : db.status();
#ifdef INGESTD_MUTANTS
    // Mutant context_cached_profile: a profile once read is served for 30 s, stale.
    if (st.ok() && !profile.empty() && Mutant("context_cached_profile")) {
      static std::map<std::string, std::pair<int64_t, json>> cache;  // guarded by mu_
      auto [it, fresh] = cache.try_emplace(org + "/" + id, NowMs(), profile[0]);
      if (!fresh && NowMs() - it->second.first < 30'000) {
        profile[0] = it->second.second;
      } else {
        it->second = {NowMs(), profile[0]};
      }
    }
#endif
    std::optional<std::string> email;
    if (st.ok() && !profile.empty() && profile[0]["email"].is_string()) {
      email = profile[0]["email"].get<std::string>();
    }
    for (size_t i = 0; st.ok() && !profile.empty() && i < wanted.size(); ++i) {
      const std::vector<std::optional<std::string>> params =
          wanted[i]->params == Params::kCustomerOrg
              ? std::vector<std::optional<std::string>>{id, org}
              : std::vector<std::optional<std::string>>{org, email};
      st = Rows(**db, wanted[i]->sql, params, wanted[i]->fields, &rows[i]);
    }
    if (!st.ok()) {
      db_.reset();  // opened again by the next request
      LOG(kWarn, "context") << "org " << org << ": reading the store failed: " << st.ToString();
      return Error(503, "the store is not available; try again");
    }
  }
  if (profile.empty()) {
    LOG(kDebug, "context") << "org " << org << ": 404 for a customer id of " << id.size()
                           << " bytes";
    return Error(404, "customer not found");
  }

  json body = {{"customer_id", id},          {"org_id", org},
               {"retrieved_at_ms", NowMs()}, {"profile", profile[0]},
               {"sections", json::object()}, {"trimmed", json::array()},
               {"partial", false},           {"missing_sources", json::array()}};
  // The live sources, all at once, outside the store's lock.
  if (options_.downstreams != nullptr && !options_.downstreams->empty()) {
    json sources = json::object();
    json stale = json::array();
    for (Downstreams::Answer& a : options_.downstreams->Fetch(org, id)) {
      sources[a.service] = a.body ? json::parse(*a.body, nullptr, false) : json();
      if (a.from == "none") body["missing_sources"].push_back(a.service);
      if (a.from == "stale") stale.push_back(a.service);
    }
    body["sources"] = std::move(sources);
    body["stale_sources"] = std::move(stale);
    body["partial"] = !body["missing_sources"].empty();
  }
  const auto limit = static_cast<size_t>(max_bytes);
  size_t used = Dump(body).size() + 1;  // + the newline
  // Each section in order of importance, whole while it fits, else the rows that fit. The sizes
  // are exact: a section adds "name":[...] and a comma, a row its JSON and a comma after the first.
  for (size_t i = 0; i < wanted.size(); ++i) {
    const std::string name = wanted[i]->name;
    const size_t total = rows[i].size();
    size_t cost = name.size() + 5 + (i > 0 ? 1 : 0);  // "name":[] and the comma before it
    json kept = json::array();
    for (json& row : rows[i]) {
      const size_t row_cost = Dump(row).size() + (kept.empty() ? 0 : 1);
      if (used + cost + row_cost > limit) break;
      cost += row_cost;
      kept.push_back(std::move(row));
    }
    if (kept.size() < total) {
      json cut = {{"section", name}, {"kept", kept.size()}, {"of", total}};
      used += Dump(cut).size() + (body["trimmed"].empty() ? 0 : 1);
      body["trimmed"].push_back(std::move(cut));
    }
    used += cost;
    body["sections"][name] = std::move(kept);
  }
  // The "trimmed" notes themselves take room: drop rows from the least important sections until
  // the body fits (bounded: at most every row once). The profile is kept even past the budget.
  std::string out = Dump(body) + "\n";
  for (size_t i = wanted.size(); out.size() > limit && i-- > 0;) {
    json& kept = body["sections"][wanted[i]->name];
    while (out.size() > limit && !kept.empty()) {
      kept.erase(kept.size() - 1);
      json* note = nullptr;
      for (json& cut : body["trimmed"]) {
        if (cut["section"] == wanted[i]->name) note = &cut;
      }
      if (note == nullptr) {
        body["trimmed"].push_back(
            {{"section", wanted[i]->name}, {"kept", 0}, {"of", rows[i].size()}});
        note = &body["trimmed"].back();
      }
      (*note)["kept"] = kept.size();
      out = Dump(body) + "\n";
    }
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  LOG(kDebug, "context") << "org " << org << ": context of customer " << id << " (" << out.size()
                         << " bytes, " << body["trimmed"].size() << " sections trimmed) in " << ms
                         << " ms";
  return {200, "application/json", std::move(out), {}};
}

HttpReply ContextApi::Search(const HttpRequest& request) {
  std::string org;
  HttpReply denied;
  if (!Authorize(request, &org, &denied)) return denied;
  const std::string q = request.Param("q").value_or("");
  if (q.size() > kMaxQueryBytes) {
    return Error(400, "q: at most " + std::to_string(kMaxQueryBytes) + " bytes");
  }
  const std::vector<std::string> words = SearchWords(q);
  if (words.empty()) return Error(400, "q: give at least one word to search for");
  std::vector<json> results;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto db = Db();
    Status st = db.status();
    if (db.ok()) {
      std::string match;
      if ((*db)->dialect() == SqlDialect::kSqlite) {
        for (const std::string& w : words) match += (match.empty() ? "" : " ") + w;
      } else {
        for (const std::string& w : words) {
          match += (match.empty() ? "" : " ") + w.substr(1, w.size() - 2);
        }
      }
      st = Rows(**db, (*db)->dialect() == SqlDialect::kSqlite ? kSearchSqlite : kSearchPostgres,
                {match, org}, kSearchFields, &results);
    }
    if (!st.ok()) {
      db_.reset();
      LOG(kWarn, "context") << "org " << org << ": search failed: " << st.ToString();
      return Error(503, "the store is not available; try again");
    }
  }
  LOG(kDebug, "context") << "org " << org << ": search of " << words.size() << " words, "
                         << results.size() << " results";
  json body = {{"org_id", org}, {"results", results}, {"limit", kSearchLimit}};
  return JsonReply(200, body);
}

}  // namespace ingestlab
