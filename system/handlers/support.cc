// support.* handlers: tickets, work orders, knowledge notes (CATALOG.md). Long descriptions and
// notes get an extractive summary beside them.
#include <string>

#include "system/handlers/registry.h"

namespace ingestlab::handlers::support {

constexpr char kInsertTicket[] = R"sql(
INSERT INTO tickets(ticket_id, customer_id, org_id, title, description, summary, priority, status,
                    channel, opened_at, updated_at, status_at, priority_at, comment_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open', ?8, ?9, ?9, ?9, ?9, ?9)
ON CONFLICT(ticket_id) DO NOTHING)sql";

Status TicketOpened(ApplyContext& ctx, const Event& e) {
  std::string_view ticket_id, title;
  INGEST_RETURN_IF_ERROR(RequireText(e, {{"ticket_id", &ticket_id}, {"title", &title}}));
  std::string_view customer_id;
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomerOf(e, &customer_id));
  const auto description = e.data.str("description");
  return Exec(ctx, kInsertTicket, ticket_id, customer_id, Opt(e.org_id), title, description,
              ctx.SummaryFor(description), e.data.str("priority").value_or("medium"),
              e.data.str("channel"), e.event_time_ms);
}

// Last writer wins by event time, field by field (LastWriterWinsUpdate). It still matches the row:
// the ticket exists, nothing to wait for.
const char* UpdateTicketSql() {
  static const std::string sql = LastWriterWinsUpdate(
      "tickets", "ticket_id",
      {{"status", "status_at"}, {"priority", "priority_at"}, {"last_comment", "comment_at"}});
  return sql.c_str();
}

Status TicketUpdated(ApplyContext& ctx, const Event& e) {
  return UpdateByKey(ctx, e, "ticket_id", UpdateTicketSql(), "ticket", e.data.str("status"),
                     e.data.str("priority"), e.data.str("comment"), e.event_time_ms);
}

// A resolution is the status 'resolved' at its event time (a newer update may have reopened the
// ticket) plus the resolution text, last writer wins among resolutions.
constexpr char kResolveTicket[] = R"sql(
UPDATE tickets SET
  status = CASE WHEN ?3 >= COALESCE(status_at, ?3) THEN 'resolved' ELSE status END,
  status_at = CASE WHEN ?3 >= COALESCE(status_at, ?3) THEN ?3 ELSE status_at END,
  resolution = CASE WHEN ?3 >= COALESCE(resolved_at, ?3) THEN COALESCE(?2, resolution)
                    ELSE resolution END,
  resolved_at = MAX(COALESCE(resolved_at, ?3), ?3),
  updated_at = MAX(COALESCE(updated_at, ?3), ?3)
WHERE ticket_id = ?1)sql";

Status TicketResolved(ApplyContext& ctx, const Event& e) {
  return UpdateByKey(ctx, e, "ticket_id", kResolveTicket, "ticket", e.data.str("resolution"),
                     e.event_time_ms);
}

constexpr char kInsertWorkOrder[] = R"sql(
INSERT INTO work_orders(work_order_id, customer_id, org_id, description, summary, priority,
                        status, assigned_to, cost, created_at, updated_at, status_at, cost_at,
                        notes_at, assigned_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7, ?8, ?9, ?9, ?9, ?9, ?9, ?9)
ON CONFLICT(work_order_id) DO NOTHING)sql";

Status WorkOrderCreated(ApplyContext& ctx, const Event& e) {
  std::string_view work_order_id, description;
  INGEST_RETURN_IF_ERROR(
      RequireText(e, {{"work_order_id", &work_order_id}, {"description", &description}}));
  std::string_view customer_id;
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomerOf(e, &customer_id));
  return Exec(ctx, kInsertWorkOrder, work_order_id, customer_id, Opt(e.org_id), description,
              ctx.SummaryFor(description), e.data.str("priority").value_or("medium"),
              e.data.str("assigned_to"), e.data.number("cost"), e.event_time_ms);
}

// Last writer wins by event time, field by field, as for tickets.
const char* UpdateWorkOrderSql() {
  static const std::string sql =
      LastWriterWinsUpdate("work_orders", "work_order_id",
                           {{"status", "status_at"},
                            {"cost", "cost_at", "DOUBLE PRECISION"},
                            {"resolution_notes", "notes_at"},
                            {"assigned_to", "assigned_at"}});
  return sql.c_str();
}

Status WorkOrderUpdated(ApplyContext& ctx, const Event& e) {
  return UpdateByKey(ctx, e, "work_order_id", UpdateWorkOrderSql(), "work order", e.data.str("status"),
                     e.data.number("cost"), e.data.str("resolution_notes"),
                     e.data.str("assigned_to"), e.event_time_ms);
}

Status NoteAdded(ApplyContext& ctx, const Event& e) {
  std::string_view note;
  INGEST_RETURN_IF_ERROR(RequireText(e, "note", &note));
  std::string_view customer_id;
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomerOf(e, &customer_id));
  return InsertKnowledge(ctx, e, customer_id, note);
}

}  // namespace ingestlab::handlers::support
