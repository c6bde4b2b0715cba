// StoreReader: sqlite3 queries over ingestd's database and the reference model.
#include "harness/store_reader.h"

#include <sqlite3.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_set>

namespace ingestlab {
namespace {

std::string Text(sqlite3_stmt* st, int col) {
  const void* p = sqlite3_column_blob(st, col);
  int n = sqlite3_column_bytes(st, col);
  return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr); }
  ~Statement() { sqlite3_finalize(st_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return st_; }
  bool Step() { return sqlite3_step(st_) == SQLITE_ROW; }

 private:
  sqlite3_stmt* st_ = nullptr;
  int rc_;
};

Status Prepared(sqlite3* db, Statement& st, const char* what) {
  if (st.ok()) return Status::Ok();
  return Status::Io(std::string("store: cannot query ") + what + ": " + sqlite3_errmsg(db));
}

std::string FormatMoney(double v) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(2);
  out << v;
  return out.str();
}

// The parts of a payload the reference model needs, whatever its dialect.
struct Decoded {
  std::string type;
  std::string customer_id;
  nlohmann::json data;
  bool ok = false;
};

Decoded Decode(const std::string& payload, const std::string& event_id) {
  Decoded d;
  auto j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return d;
  auto str = [](const nlohmann::json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (j.contains("specversion")) {
    d.type = str(j, "type");
    d.customer_id = str(j, "subject");
    d.data = j.value("data", nlohmann::json::object());
  } else if (j.contains("event_type") && j.contains("customer_id")) {
    static const std::map<std::string, std::string> kTypes = {
        {"purchase", "customer.purchase.recorded"},
        {"support_ticket", "customer.ticket.opened"},
        {"repair", "customer.repair.requested"},
        {"contact", "customer.contact.recorded"},
        {"profile_update", "customer.profile.updated"},
        {"note", "customer.note.added"}};
    auto it = kTypes.find(str(j, "event_type"));
    d.type = it == kTypes.end() ? "customer.event.recorded" : it->second;
    d.customer_id = str(j, "customer_id");
    d.data = j.value("data", nlohmann::json::object());
    if (d.type == "customer.purchase.recorded" && !d.data.contains("purchase_id")) {
      d.data["purchase_id"] = event_id;
    }
    if (d.type == "customer.ticket.opened" && !d.data.contains("ticket_id")) {
      d.data["ticket_id"] = event_id;
    }
  } else if (j.contains("organization_id") && j.contains("type")) {
    d.type = str(j, "type");
    if (d.type.rfind("user.", 0) == 0) d.type = "auth." + d.type;
    d.data = j.value("data", nlohmann::json::object());
    for (const char* k : {"customer_id", "user_id", "learner_id"}) {
      if (d.customer_id.empty()) d.customer_id = str(d.data, k);
    }
  } else {
    return d;
  }
  if (!d.data.is_object()) d.data = nlohmann::json::object();
  d.ok = !d.type.empty();
  return d;
}

double Number(const nlohmann::json& o, const char* k, double fallback = 0) {
  auto it = o.find(k);
  return it != o.end() && it->is_number() ? it->get<double>() : fallback;
}
std::string Str(const nlohmann::json& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<std::unique_ptr<StoreReader>> StoreReader::Open(const std::string& db_path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status::Io("store: cannot open " + db_path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  return std::unique_ptr<StoreReader>(new StoreReader(db));
}

StoreReader::~StoreReader() { sqlite3_close(db_); }

Result<StoreReader::Counts> StoreReader::ReadCounts() {
  Counts c;
  Statement st(db_,
               "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dead_letters), "
               "max(coalesce((SELECT max(committed_at) FROM events), 0), "
               "coalesce((SELECT max(dead_at) FROM dead_letters), 0))");
  INGEST_RETURN_IF_ERROR(Prepared(db_, st, "counts"));
  if (st.Step()) {
    c.events = sqlite3_column_int64(st.get(), 0);
    c.dead_letters = sqlite3_column_int64(st.get(), 1);
    c.last_commit_ms = sqlite3_column_int64(st.get(), 2);
  }
  return c;
}

Result<std::vector<AppliedRow>> StoreReader::ReadApplied() {
  Statement st(db_,
               "SELECT event_id, type, source, customer_id, event_time, received_at, "
               "committed_at, attempts FROM events");
  INGEST_RETURN_IF_ERROR(Prepared(db_, st, "events"));
  std::vector<AppliedRow> rows;
  while (st.Step()) {
    AppliedRow r;
    r.event_id = Text(st.get(), 0);
    r.type = Text(st.get(), 1);
    r.source = Text(st.get(), 2);
    r.customer_id = Text(st.get(), 3);
    r.event_time_ms = sqlite3_column_int64(st.get(), 4);
    r.received_at_ms = sqlite3_column_int64(st.get(), 5);
    r.committed_at_ms = sqlite3_column_int64(st.get(), 6);
    r.attempts = sqlite3_column_int(st.get(), 7);
    rows.push_back(std::move(r));
  }
  return rows;
}

Result<size_t> StoreReader::CountUnsettled(const std::unordered_set<std::string>& ids) {
  size_t settled = 0;
  {
    Statement st(db_, "SELECT event_id FROM events");
    INGEST_RETURN_IF_ERROR(Prepared(db_, st, "events"));
    while (st.Step()) settled += ids.count(Text(st.get(), 0));
  }
  auto dead = ReadDeadLetters();
  if (!dead.ok()) return dead.status();
  for (const auto& d : *dead) settled += ids.count(d.event_id);
  return settled >= ids.size() ? 0 : ids.size() - settled;
}

Result<std::vector<DeadLetterRow>> StoreReader::ReadDeadLetters() {
  Statement st(
      db_,
      "SELECT origin, subject, reason, error, attempts, payload, dead_at, "
      "published_at IS NOT NULL FROM dead_letters");
  INGEST_RETURN_IF_ERROR(Prepared(db_, st, "dead_letters"));
  std::vector<DeadLetterRow> rows;
  while (st.Step()) {
    DeadLetterRow r;
    r.origin = Text(st.get(), 0);
    r.subject = Text(st.get(), 1);
    r.reason = Text(st.get(), 2);
    r.error = Text(st.get(), 3);
    r.attempts = sqlite3_column_int(st.get(), 4);
    r.payload = Text(st.get(), 5);
    r.dead_at_ms = sqlite3_column_int64(st.get(), 6);
    r.published = sqlite3_column_int(st.get(), 7) != 0;
    auto j = nlohmann::json::parse(r.payload, nullptr, false);
    if (j.is_object() && j.contains("id") && j["id"].is_string()) r.event_id = j["id"];
    rows.push_back(std::move(r));
  }
  return rows;
}

Status StoreReader::CompareWithReferenceModel(const std::vector<PublishRecord>& publishes,
                                              const std::unordered_set<std::string>& skip,
                                              std::vector<StateMismatch>* mismatches,
                                              std::string* note) {
  // The model: every acked publish expected to apply, first copy of each id only.
  std::map<std::string, double> ltv;
  std::map<std::string, std::pair<std::string, double>> purchases;  // id -> customer, amount
  std::map<std::string, int64_t> logins;
  std::set<std::string> converted, tickets;
  std::unordered_set<std::string> seen;
  size_t modelled = 0, undecodable = 0;
  // Decode first, then fold in two passes: the log is in acknowledgement order, which need not
  // be the order ingestd applied them in (a refund may be acked before its purchase).
  std::vector<Decoded> decoded;
  for (const auto& p : publishes) {
    if (!p.acked || p.expect != "applied" || p.event_id.empty()) continue;
    if (!seen.insert(p.event_id).second) continue;
    if (skip.count(p.event_id)) continue;
    Decoded d = Decode(p.payload, p.event_id);
    if (!d.ok) {
      ++undecodable;
      continue;
    }
    ++modelled;
    decoded.push_back(std::move(d));
  }
  for (const auto& d : decoded) {
    const auto& data = d.data;
    std::string customer = Str(data, "customer_id");
    if (customer.empty()) customer = d.customer_id;
    if (d.type == "billing.purchase.completed") {
      const double amount = Number(data, "amount");
      ltv[customer] += amount;
      purchases[Str(data, "purchase_id")] = {customer, amount};
    } else if (d.type == "customer.purchase.recorded") {
      double total = Number(data, "total", -1);
      if (total < 0) total = Number(data, "price") * Number(data, "quantity", 1);
      ltv[customer] += total;
      purchases[Str(data, "purchase_id")] = {customer, total};
    } else if (d.type == "auth.user.login.succeeded") {
      logins[Str(data, "user_id")]++;
    } else if (d.type == "crm.lead.converted") {
      converted.insert(Str(data, "lead_id"));
    } else if (d.type == "support.ticket.opened" || d.type == "customer.ticket.opened") {
      tickets.insert(Str(data, "ticket_id"));
    }
  }
  for (const auto& d : decoded) {
    if (d.type != "billing.purchase.refunded") continue;
    auto it = purchases.find(Str(d.data, "purchase_id"));
    if (it != purchases.end()) ltv[it->second.first] -= Number(d.data, "amount");
  }
  auto add = [&](std::string what, std::string key, std::string expected, std::string observed) {
    mismatches->push_back(
        {std::move(what), std::move(key), std::move(expected), std::move(observed)});
  };

  {  // customers.lifetime_value
    Statement st(db_, "SELECT customer_id, lifetime_value FROM customers");
    INGEST_RETURN_IF_ERROR(Prepared(db_, st, "customers"));
    std::map<std::string, double> db;
    while (st.Step()) db[Text(st.get(), 0)] = sqlite3_column_double(st.get(), 1);
    for (const auto& [customer, value] : ltv) {
      auto it = db.find(customer);
      const double got = it == db.end() ? 0 : it->second;
      if (std::fabs(got - value) > 0.005 + 1e-9 * std::fabs(value)) {
        add("customers.lifetime_value", customer, FormatMoney(value),
            it == db.end() ? "no customer row" : FormatMoney(got));
      }
    }
    for (const auto& [customer, value] : db) {
      if (!ltv.count(customer) && std::fabs(value) > 0.005) {
        add("customers.lifetime_value", customer, "0.00", FormatMoney(value));
      }
    }
  }
  {  // users.login_count
    Statement st(db_, "SELECT user_id, login_count FROM users");
    INGEST_RETURN_IF_ERROR(Prepared(db_, st, "users"));
    std::map<std::string, int64_t> db;
    while (st.Step()) db[Text(st.get(), 0)] = sqlite3_column_int64(st.get(), 1);
    for (const auto& [user, n] : logins) {
      auto it = db.find(user);
      if (it == db.end() || it->second != n) {
        add("users.login_count", user, std::to_string(n),
            it == db.end() ? "no user row" : std::to_string(it->second));
      }
    }
    for (const auto& [user, n] : db) {
      if (!logins.count(user) && n != 0) add("users.login_count", user, "0", std::to_string(n));
    }
  }
  {  // converted leads
    Statement st(db_, "SELECT lead_id FROM crm_leads WHERE status = 'converted'");
    INGEST_RETURN_IF_ERROR(Prepared(db_, st, "crm_leads"));
    std::set<std::string> db;
    while (st.Step()) db.insert(Text(st.get(), 0));
    for (const auto& id : converted) {
      if (!db.count(id)) add("crm_leads.status", id, "converted", "not converted");
    }
    for (const auto& id : db) {
      if (!converted.count(id)) add("crm_leads.status", id, "not converted", "converted");
    }
  }
  {  // tickets opened
    Statement st(db_, "SELECT ticket_id FROM tickets");
    INGEST_RETURN_IF_ERROR(Prepared(db_, st, "tickets"));
    std::set<std::string> db;
    while (st.Step()) db.insert(Text(st.get(), 0));
    for (const auto& id : tickets) {
      if (!db.count(id)) add("tickets", id, "present", "absent");
    }
    for (const auto& id : db) {
      if (!tickets.count(id)) add("tickets", id, "absent", "present");
    }
  }
  std::ostringstream n;
  n << modelled << " events modelled: " << ltv.size() << " lifetime values, " << logins.size()
    << " users' login counts, " << converted.size() << " lead conversions, " << tickets.size()
    << " tickets";
  if (undecodable) n << "; " << undecodable << " payloads not modelled";
  *note = n.str();
  return Status::Ok();
}

}  // namespace ingestlab
