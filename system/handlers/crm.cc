// crm.* handlers: leads, contacts, opportunities (CATALOG.md, shared/seeds/001). Each row keeps
// its org and event date (UTC YYYY-MM-DD), indexed together like the seed's partitioned
// staging tables, so per-tenant date-range queries stay cheap. On PostgreSQL the tables are
// partitioned by month of that date (store_schema.h, PartitionedTables).
#include <string>

#include "system/handlers/registry.h"

namespace ingestlab::handlers::crm {
namespace {

// PostgreSQL: the unique keys of a partitioned table must hold event_date, so a creation event
// first claims its id in the table's keys table, which keeps the date of the row holding the id.
struct Keys {
  const char* claim;  // claims ?1 for a row dated ?2
  const char* date;   // the date of the row holding ?1
};
constexpr char kClaimLead[] =
    "INSERT INTO crm_lead_keys(lead_id, event_date) VALUES (?1, ?2) ON CONFLICT DO NOTHING";
constexpr char kLeadDate[] = "SELECT event_date FROM crm_lead_keys WHERE lead_id = ?1";
constexpr char kClaimContact[] =
    "INSERT INTO crm_contact_keys(contact_id, event_date) VALUES (?1, ?2) ON CONFLICT DO NOTHING";
constexpr char kContactDate[] = "SELECT event_date FROM crm_contact_keys WHERE contact_id = ?1";
constexpr char kClaimOpportunity[] =
    "INSERT INTO crm_opportunity_keys(opportunity_id, event_date) VALUES (?1, ?2) "
    "ON CONFLICT DO NOTHING";
constexpr char kOpportunityDate[] =
    "SELECT event_date FROM crm_opportunity_keys WHERE opportunity_id = ?1";
constexpr Keys kLeadKeys{kClaimLead, kLeadDate};
constexpr Keys kContactKeys{kClaimContact, kContactDate};
constexpr Keys kOpportunityKeys{kClaimOpportunity, kOpportunityDate};

// The row for `id` created by an event dated `date`: *row_date is the date of the row that holds
// the id once this event is applied (the first creation's, as SQLite's upserts keep it), and
// *created whether this event's row is the first. SQLite: `date` and true (the statement's ON
// CONFLICT decides). PostgreSQL: claims the id and, for a new row, its month's partition.
Status RowFor(ApplyContext& ctx, const Keys& keys, std::string_view id, std::string_view date,
              std::string* row_date, bool* created) {
  row_date->assign(date);
  *created = true;
  if (ctx.db().dialect() != SqlDialect::kPostgres) return Status::Ok();
  {
    auto claim = ctx.Prepare(keys.claim);
    if (!claim.ok()) return claim.status();
    claim->Bind(1, id);
    claim->Bind(2, date);
    INGEST_RETURN_IF_ERROR(claim->Run());
    *created = claim->Changes() > 0;
  }
  if (*created) return ctx.EnsureMonthPartition(*row_date);
  auto held = ctx.Prepare(keys.date);
  if (!held.ok()) return held.status();
  held->Bind(1, id);
  auto row = held->Step();
  if (!row.ok()) return row.status();
  if (*row) row_date->assign(held->Text(0));
  return Status::Ok();
}

// `sql` for the store's dialect: on PostgreSQL, ON CONFLICT(<key>) names the partitioned table's
// key, (<key>, event_date).
class Partitioned {
 public:
  Partitioned(const char* sql, std::string_view key) : sqlite_(sql), postgres_(sql) {
    const std::string target = "ON CONFLICT(" + std::string(key) + ")";
    postgres_.replace(postgres_.find(target), target.size(),
                      "ON CONFLICT(" + std::string(key) + ", event_date)");
  }
  const char* For(const ApplyContext& ctx) const {
    return ctx.db().dialect() == SqlDialect::kPostgres ? postgres_.c_str() : sqlite_;
  }

 private:
  const char* sqlite_;
  std::string postgres_;
};

}  // namespace

constexpr char kInsertLead[] = R"sql(
INSERT INTO crm_leads(lead_id, org_id, event_date, email, name, company, lead_source, status,
                      score, schema_version, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)
ON CONFLICT(lead_id) DO NOTHING)sql";

// v1 carries `name`; v2 carries first_name + last_name and a score.
Status LeadCreated(ApplyContext& ctx, const Event& e) {
  std::string_view lead_id, email;
  INGEST_RETURN_IF_ERROR(RequireText(e, {{"lead_id", &lead_id}, {"email", &email}}));
  std::optional<std::string_view> name = e.data.str("name");
  std::string joined;
  if (!name) {
    const auto first = e.data.str("first_name");
    const auto last = e.data.str("last_name");
    if (first) joined.assign(*first);
    if (last && !last->empty()) {
      if (!joined.empty()) joined += ' ';
      joined += *last;
    }
    if (!joined.empty()) name = joined;
  }
  static const Partitioned insert(kInsertLead, "lead_id");
  std::string date;
  bool created;
  INGEST_RETURN_IF_ERROR(
      RowFor(ctx, kLeadKeys, lead_id, ctx.DateOf(e.event_time_ms), &date, &created));
  if (!created) return Status::Ok();
  return ctx.PartitionChecked(
      Exec(ctx, insert.For(ctx), lead_id, Opt(e.org_id), std::string_view(date), email, name,
           e.data.str("company"), e.data.str("lead_source"), e.data.str("status").value_or("new"),
           e.data.number("score"), static_cast<int64_t>(e.schema_version), e.event_time_ms));
}

constexpr char kUpdateLead[] = R"sql(
UPDATE crm_leads SET
  status = CASE WHEN status = 'converted' THEN status ELSE COALESCE(?2, status) END,
  score = COALESCE(?3, score),
  company = COALESCE(?4, company),
  updated_at = MAX(COALESCE(updated_at, ?5), ?5)
WHERE lead_id = ?1)sql";

Status LeadUpdated(ApplyContext& ctx, const Event& e) {
  return UpdateByKey(ctx, e, "lead_id", kUpdateLead, "lead", e.data.str("status"),
                     e.data.number("score"), e.data.str("company"), e.event_time_ms);
}

constexpr char kConvertLead[] = R"sql(
UPDATE crm_leads SET status = 'converted', converted_at = ?2, contact_id = ?3,
  opportunity_id = COALESCE(?4, opportunity_id), updated_at = MAX(COALESCE(updated_at, ?2), ?2)
WHERE lead_id = ?1)sql";

Status LeadConverted(ApplyContext& ctx, const Event& e) {
  std::string_view lead_id, contact_id;
  INGEST_RETURN_IF_ERROR(RequireText(e, {{"lead_id", &lead_id}, {"contact_id", &contact_id}}));
  return UpdateOrWait(ctx, kConvertLead, "lead", lead_id, e.event_time_ms, contact_id,
                      e.data.str("opportunity_id"));
}

constexpr char kUpsertContact[] = R"sql(
INSERT INTO crm_contacts(contact_id, org_id, event_date, email, name, phone, company, lead_id,
                         created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
ON CONFLICT(contact_id) DO UPDATE SET
  email = excluded.email,
  name = COALESCE(excluded.name, crm_contacts.name),
  phone = COALESCE(excluded.phone, crm_contacts.phone),
  company = COALESCE(excluded.company, crm_contacts.company),
  lead_id = COALESCE(excluded.lead_id, crm_contacts.lead_id),
  created_at = MIN(COALESCE(crm_contacts.created_at, excluded.created_at), excluded.created_at),
  updated_at = MAX(COALESCE(crm_contacts.updated_at, excluded.updated_at), excluded.updated_at))sql";

Status ContactCreated(ApplyContext& ctx, const Event& e) {
  std::string_view contact_id, email;
  INGEST_RETURN_IF_ERROR(RequireText(e, {{"contact_id", &contact_id}, {"email", &email}}));
  static const Partitioned upsert(kUpsertContact, "contact_id");
  std::string date;
  bool created;
  INGEST_RETURN_IF_ERROR(
      RowFor(ctx, kContactKeys, contact_id, ctx.DateOf(e.event_time_ms), &date, &created));
  return ctx.PartitionChecked(Exec(ctx, upsert.For(ctx), contact_id, Opt(e.org_id),
                                   std::string_view(date), email, e.data.str("name"),
                                   e.data.str("phone"), e.data.str("company"),
                                   e.data.str("lead_id"), e.event_time_ms));
}

constexpr char kUpdateContact[] = R"sql(
UPDATE crm_contacts SET
  email = COALESCE(?2, email),
  name = COALESCE(?3, name),
  phone = COALESCE(?4, phone),
  company = COALESCE(?5, company),
  updated_at = MAX(COALESCE(updated_at, ?6), ?6)
WHERE contact_id = ?1)sql";

Status ContactUpdated(ApplyContext& ctx, const Event& e) {
  return UpdateByKey(ctx, e, "contact_id", kUpdateContact, "contact", e.data.str("email"),
                     e.data.str("name"), e.data.str("phone"), e.data.str("company"),
                     e.event_time_ms);
}

constexpr char kInsertOpportunity[] = R"sql(
INSERT INTO crm_opportunities(opportunity_id, org_id, event_date, contact_id, name, amount, stage,
                              status, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open', ?8, ?8)
ON CONFLICT(opportunity_id) DO NOTHING)sql";

Status OpportunityCreated(ApplyContext& ctx, const Event& e) {
  std::string_view opportunity_id, name;
  INGEST_RETURN_IF_ERROR(RequireText(e, {{"opportunity_id", &opportunity_id}, {"name", &name}}));
  static const Partitioned insert(kInsertOpportunity, "opportunity_id");
  std::string date;
  bool created;
  INGEST_RETURN_IF_ERROR(
      RowFor(ctx, kOpportunityKeys, opportunity_id, ctx.DateOf(e.event_time_ms), &date, &created));
  if (!created) return Status::Ok();
  return ctx.PartitionChecked(Exec(ctx, insert.For(ctx), opportunity_id, Opt(e.org_id),
                                   std::string_view(date), e.data.str("contact_id"), name,
                                   e.data.number("amount"),
                                   e.data.str("stage").value_or("prospecting"), e.event_time_ms));
}

constexpr char kUpdateOpportunity[] = R"sql(
UPDATE crm_opportunities SET
  amount = COALESCE(?2, amount),
  stage = COALESCE(?3, stage),
  updated_at = MAX(COALESCE(updated_at, ?4), ?4)
WHERE opportunity_id = ?1)sql";

Status OpportunityUpdated(ApplyContext& ctx, const Event& e) {
  return UpdateByKey(ctx, e, "opportunity_id", kUpdateOpportunity, "opportunity",
                     e.data.number("amount"), e.data.str("stage"), e.event_time_ms);
}

constexpr char kCloseOpportunity[] = R"sql(
UPDATE crm_opportunities SET
  status = ?2,
  amount = COALESCE(?3, amount),
  close_reason = COALESCE(?4, close_reason),
  closed_at = ?5,
  updated_at = MAX(COALESCE(updated_at, ?5), ?5)
WHERE opportunity_id = ?1)sql";

namespace {

Status CloseOpportunity(ApplyContext& ctx, const Event& e, std::string_view status,
                        std::optional<double> amount, std::optional<std::string_view> reason) {
  return UpdateByKey(ctx, e, "opportunity_id", kCloseOpportunity, "opportunity", status, amount,
                     reason, e.event_time_ms);
}

}  // namespace

Status OpportunityWon(ApplyContext& ctx, const Event& e) {
  return CloseOpportunity(ctx, e, "won", e.data.number("amount"), std::nullopt);
}

Status OpportunityLost(ApplyContext& ctx, const Event& e) {
  return CloseOpportunity(ctx, e, "lost", std::nullopt, e.data.str("reason"));
}

}  // namespace ingestlab::handlers::crm
