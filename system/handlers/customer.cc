// customer.* handlers: the customer-event dialect of shared/seeds/000 (CATALOG.md). Every event
// auto-creates its customer (configurable) and fills empty profile fields from data.email,
// data.customer_name and data.phone; customer.profile.updated overwrites them, last writer (by
// event time) wins.
#include <string>

#include "system/handlers/registry.h"
#include "system/mutant.h"

namespace ingestlab::handlers::customer {

namespace {

ProfileFields ProfileOf(const Event& e) {
  ProfileFields p;
  p.email = e.data.str("email");
  p.name = e.data.str("customer_name");
  p.phone = e.data.str("phone");
  p.company = e.data.str("company");
  return p;
}

}  // namespace

constexpr char kInsertPurchase[] = R"sql(
INSERT INTO purchases(purchase_id, customer_id, org_id, event_id, product_name, product_sku,
                      quantity, price, amount, currency, status, warranty_expires, purchased_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'USD', ?10, ?11, ?12)
ON CONFLICT(purchase_id) DO NOTHING)sql";

Status PurchaseRecorded(ApplyContext& ctx, const Event& e) {
  const std::string_view customer_id = ApplyContext::CustomerOf(e);
  if (customer_id.empty()) return Status::Schema(e.type + ": customer_id is required");
  // As billing.purchase.completed: with auto-creation the purchase goes first and the customer
  // upsert carries the lifetime value; without it the (possibly waiting) check comes first.
  const bool create = ctx.options().auto_create_customers;
  if (!create) INGEST_RETURN_IF_ERROR(ctx.TouchCustomer(e, customer_id, ProfileOf(e)));
  const std::string_view purchase_id = e.data.str("purchase_id").value_or(e.id);
  // A number in this dialect (CATALOG.md): 1.5 kg is a quantity too, not a missing one.
  const auto quantity = e.data.number("quantity");
  const auto price = e.data.number("price");
  double amount = 0;
  if (auto total = e.data.number("total")) {
    amount = *total;
  } else if (price) {
    amount = *price * quantity.value_or(1);
  }
  INGEST_RETURN_IF_ERROR(Exec(ctx, kInsertPurchase, purchase_id, customer_id, Opt(e.org_id),
                              std::string_view(e.id), e.data.str("product_name"),
                              e.data.str("product_sku"), quantity, price, amount,
                              e.data.str("status").value_or("completed"),
                              e.data.int64("warranty_expires"), e.event_time_ms));
  const double added = ctx.Changes() > 0 ? amount : 0.0;
  if (create) return ctx.TouchCustomer(e, customer_id, ProfileOf(e), added);
  return added != 0 ? ctx.AddLifetimeValue(customer_id, added) : Status::Ok();
}

constexpr char kInsertTicket[] = R"sql(
INSERT INTO tickets(ticket_id, customer_id, org_id, title, description, summary, priority, status,
                    channel, opened_at, updated_at, status_at, priority_at, comment_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?10, ?10, ?10)
ON CONFLICT(ticket_id) DO NOTHING)sql";

Status TicketOpened(ApplyContext& ctx, const Event& e) {
  std::string_view customer_id;
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomerOf(e, &customer_id, ProfileOf(e)));
  const auto description = e.data.str("description");
  return Exec(ctx, kInsertTicket, e.data.str("ticket_id").value_or(e.id), customer_id,
              Opt(e.org_id), e.data.str("title"), description, ctx.SummaryFor(description),
              e.data.str("priority").value_or("medium"), e.data.str("status").value_or("open"),
              e.data.str("channel"), e.event_time_ms);
}

constexpr char kInsertWorkOrder[] = R"sql(
INSERT INTO work_orders(work_order_id, customer_id, org_id, description, summary, priority,
                        status, assigned_to, cost, created_at, updated_at, status_at, cost_at,
                        notes_at, assigned_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?10, ?10, ?10, ?10)
ON CONFLICT(work_order_id) DO NOTHING)sql";

Status RepairRequested(ApplyContext& ctx, const Event& e) {
  std::string_view customer_id;
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomerOf(e, &customer_id, ProfileOf(e)));
  const auto description = e.data.str("description");
  return Exec(ctx, kInsertWorkOrder, e.data.str("work_order_id").value_or(e.id), customer_id,
              Opt(e.org_id), description, ctx.SummaryFor(description),
              e.data.str("priority").value_or("medium"), e.data.str("status").value_or("open"),
              e.data.str("assigned_to"), e.data.number("cost"), e.event_time_ms);
}

// Timeline-only events: the `events` row is the record; the profile may still learn fields.
Status TimelineOnly(ApplyContext& ctx, const Event& e) {
  std::string_view customer_id;
  return ctx.TouchCustomerOf(e, &customer_id, ProfileOf(e));
}

// Last writer wins by event time: the guard on profile_event_time makes an update older than
// the one already applied change nothing, whatever order they arrive in. Equal times (the
// dialect's timestamps are whole seconds) are broken by event id, so the outcome never depends
// on arrival order.
constexpr char kProfileUpdate[] = R"sql(
UPDATE customers SET
  name = COALESCE(?2, name),
  email = COALESCE(?3, email),
  phone = COALESCE(?4, phone),
  company = COALESCE(?5, company),
  tags = COALESCE(?6, tags),
  profile_event_time = ?7,
  profile_event_id = ?8,
  updated_at = MAX(COALESCE(updated_at, ?7), ?7)
WHERE customer_id = ?1 AND (profile_event_time IS NULL OR profile_event_time < ?7 OR
                            (profile_event_time = ?7 AND profile_event_id <= ?8)))sql";

#ifdef INGESTD_MUTANTS
namespace {

// Mutant arrival_order_wins: kProfileUpdate cut before its event-time guard, so the update that
// arrives last wins even when an older one arrives after a newer one.
const char* ProfileUpdateArrivalOrder() {
  static const std::string sql = [] {
    const std::string_view update = kProfileUpdate;
    return std::string(update.substr(0, update.find(" AND (profile_event_time")));
  }();
  return sql.c_str();
}

}  // namespace
#endif

Status ProfileUpdated(ApplyContext& ctx, const Event& e) {
  std::string_view customer_id;
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomerOf(e, &customer_id));
  auto name = e.data.str("name");
  if (!name) name = e.data.str("customer_name");
  const std::optional<std::string> tags = e.data.json("tags");
  INGEST_RETURN_IF_ERROR(ctx.BeforeCustomerWrite(customer_id));
  {
#ifdef INGESTD_MUTANTS
    INGEST_PREPARE(stmt, ctx,
                   Mutant("arrival_order_wins") ? ProfileUpdateArrivalOrder() : kProfileUpdate);
#else
    INGEST_PREPARE(stmt, ctx, kProfileUpdate);
#endif
    stmt->Bind(1, customer_id);
    stmt->Bind(2, name);
    stmt->Bind(3, e.data.str("email"));
    stmt->Bind(4, e.data.str("phone"));
    stmt->Bind(5, e.data.str("company"));
    if (tags) {
      stmt->Bind(6, std::string_view(*tags));
    } else {
      stmt->BindNull(6);
    }
    stmt->Bind(7, e.event_time_ms);
    stmt->Bind(8, std::string_view(e.id));
    INGEST_RETURN_IF_ERROR(stmt->Run());
  }
  return ctx.AfterCustomerWrite();
}

Status NoteAdded(ApplyContext& ctx, const Event& e) {
  auto note = e.data.str("note");
  if (!note || note->empty()) note = e.data.str("description");
  if (!note || note->empty()) {
    return Status::Schema(e.type + ": data.note or data.description is required");
  }
  std::string_view customer_id;
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomerOf(e, &customer_id, ProfileOf(e)));
  return InsertKnowledge(ctx, e, customer_id, *note);
}

}  // namespace ingestlab::handlers::customer
