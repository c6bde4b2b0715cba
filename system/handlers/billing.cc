// billing.* handlers: customers, purchases, refunds, invoices, subscriptions (CATALOG.md).
#include <string>

#include "system/handlers/registry.h"

namespace ingestlab::handlers::billing {

constexpr char kUpsertBillingCustomer[] = R"sql(
INSERT INTO customers(customer_id, org_id, email, name, plan, lifetime_value, created_at,
                      updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6)
ON CONFLICT(customer_id) DO UPDATE SET
  org_id = COALESCE(NULLIF(customers.org_id, ''), excluded.org_id),
  email = COALESCE(excluded.email, customers.email),
  name = COALESCE(excluded.name, customers.name),
  plan = COALESCE(excluded.plan, customers.plan),
  created_at = MIN(COALESCE(customers.created_at, excluded.created_at), excluded.created_at),
  updated_at = MAX(COALESCE(customers.updated_at, excluded.updated_at), excluded.updated_at))sql";

Status CustomerCreated(ApplyContext& ctx, const Event& e) {
  std::string_view customer_id = e.data.str("customer_id").value_or(e.customer_id);
  if (customer_id.empty()) return Status::Schema(e.type + ": data.customer_id is required");
  std::string_view email;
  INGEST_RETURN_IF_ERROR(RequireText(e, "email", &email));
  INGEST_RETURN_IF_ERROR(ctx.BeforeCustomerWrite(customer_id));
  INGEST_RETURN_IF_ERROR(Exec(ctx, kUpsertBillingCustomer, customer_id, Opt(e.org_id), email,
                              e.data.str("name"), e.data.str("plan"), e.event_time_ms));
  return ctx.AfterCustomerWrite();
}

constexpr char kInsertPurchase[] = R"sql(
INSERT INTO purchases(purchase_id, customer_id, org_id, event_id, product_name, product_sku,
                      quantity, price, amount, currency, status, warranty_expires, purchased_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
ON CONFLICT(purchase_id) DO NOTHING)sql";

Status PurchaseCompleted(ApplyContext& ctx, const Event& e) {
  std::string_view purchase_id;
  INGEST_RETURN_IF_ERROR(RequireText(e, "purchase_id", &purchase_id));
  double amount = 0;
  INGEST_RETURN_IF_ERROR(RequireNumber(e, "amount", &amount));
  const std::string_view customer_id = ApplyContext::CustomerOf(e);
  if (customer_id.empty()) return Status::Schema(e.type + ": customer_id is required");
  // Without auto-creation the customer check may wait, so it comes before any write; with it,
  // the purchase goes first and the customer upsert carries the lifetime value (one statement
  // fewer on the hot path).
  const bool create = ctx.options().auto_create_customers;
  if (!create) INGEST_RETURN_IF_ERROR(ctx.TouchCustomer(e, customer_id, {}));
  INGEST_RETURN_IF_ERROR(
      Exec(ctx, kInsertPurchase, purchase_id, customer_id, Opt(e.org_id), std::string_view(e.id),
           e.data.str("product_name"), e.data.str("product_sku"), e.data.int64("quantity"),
           e.data.number("price"), amount, e.data.str("currency").value_or("USD"),
           std::string_view("completed"), e.data.int64("warranty_expires"), e.event_time_ms));
  // A second event for the same purchase (a producer-side re-send under a new id) adds nothing.
  const double added = ctx.Changes() > 0 ? amount : 0.0;
  if (create) return ctx.TouchCustomer(e, customer_id, {}, added);
  return added != 0 ? ctx.AddLifetimeValue(customer_id, added) : Status::Ok();
}

constexpr char kRefundPurchase[] = R"sql(
UPDATE purchases SET
  refunded_amount = refunded_amount + ?2,
  status = 'refunded',
  refund_reason = COALESCE(?3, refund_reason),
  refunded_at = MAX(COALESCE(refunded_at, ?4), ?4)
WHERE purchase_id = ?1
RETURNING customer_id)sql";

Status PurchaseRefunded(ApplyContext& ctx, const Event& e) {
  std::string_view purchase_id;
  INGEST_RETURN_IF_ERROR(RequireText(e, "purchase_id", &purchase_id));
  double amount = 0;
  INGEST_RETURN_IF_ERROR(RequireNumber(e, "amount", &amount));
  std::string customer_id;
  {
    INGEST_PREPARE(stmt, ctx, kRefundPurchase);
    stmt->Bind(1, purchase_id);
    stmt->Bind(2, amount);
    stmt->Bind(3, e.data.str("reason"));
    stmt->Bind(4, e.event_time_ms);
    auto row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return WaitingFor("purchase", purchase_id);
    customer_id.assign(stmt->Text(0));
    INGEST_RETURN_IF_ERROR(stmt->Run());
  }
  if (customer_id.empty()) return Status::Ok();
  return ctx.AddLifetimeValue(customer_id, -amount);
}

constexpr char kInsertInvoice[] = R"sql(
INSERT INTO invoices(invoice_id, customer_id, org_id, amount, currency, due_date, status,
                     issued_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'issued', ?7)
ON CONFLICT(invoice_id) DO NOTHING)sql";

Status InvoiceIssued(ApplyContext& ctx, const Event& e) {
  std::string_view invoice_id;
  INGEST_RETURN_IF_ERROR(RequireText(e, "invoice_id", &invoice_id));
  double amount = 0;
  INGEST_RETURN_IF_ERROR(RequireNumber(e, "amount", &amount));
  std::string_view customer_id;
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomerOf(e, &customer_id));
  return Exec(ctx, kInsertInvoice, invoice_id, customer_id, Opt(e.org_id), amount,
              e.data.str("currency").value_or("USD"), e.data.str("due_date"), e.event_time_ms);
}

constexpr char kPayInvoice[] = R"sql(
UPDATE invoices SET status = 'paid', paid_at = ?2, paid_amount = ?3 WHERE invoice_id = ?1)sql";

Status InvoicePaid(ApplyContext& ctx, const Event& e) {
  std::string_view invoice_id;
  INGEST_RETURN_IF_ERROR(RequireText(e, "invoice_id", &invoice_id));
  double amount = 0;
  INGEST_RETURN_IF_ERROR(RequireNumber(e, "amount", &amount));
  return UpdateOrWait(ctx, kPayInvoice, "invoice", invoice_id, e.event_time_ms, amount);
}

constexpr char kUpsertSubscription[] = R"sql(
INSERT INTO subscriptions(subscription_id, customer_id, org_id, plan, status, started_at)
VALUES (?1, ?2, ?3, ?4, 'active', ?5)
ON CONFLICT(subscription_id) DO UPDATE SET
  plan = excluded.plan,
  started_at = MIN(COALESCE(subscriptions.started_at, excluded.started_at), excluded.started_at))sql";

Status SubscriptionStarted(ApplyContext& ctx, const Event& e) {
  std::string_view subscription_id, plan;
  INGEST_RETURN_IF_ERROR(RequireText(e, {{"subscription_id", &subscription_id}, {"plan", &plan}}));
  std::string_view customer_id;
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomerOf(e, &customer_id));
  return Exec(ctx, kUpsertSubscription, subscription_id, customer_id, Opt(e.org_id), plan,
              e.event_time_ms);
}

constexpr char kCancelSubscription[] = R"sql(
UPDATE subscriptions SET status = 'cancelled', cancelled_at = ?2,
  cancel_reason = COALESCE(?3, cancel_reason)
WHERE subscription_id = ?1)sql";

Status SubscriptionCancelled(ApplyContext& ctx, const Event& e) {
  return UpdateByKey(ctx, e, "subscription_id", kCancelSubscription, "subscription",
                     e.event_time_ms, e.data.str("reason"));
}

}  // namespace ingestlab::handlers::billing
