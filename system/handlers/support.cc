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
  INGEST_RETURN_IF_ERROR(RequireText(e, "ticket_id", &ticket_id));
  INGEST_RETURN_IF_ERROR(RequireText(e, "title", &title));
  const std::string_view customer_id = ApplyContext::CustomerOf(e);
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomer(e, customer_id, {}));
  const auto description = e.data.str("description");
  return Exec(ctx, kInsertTicket, ticket_id, customer_id, Opt(e.org_id), title, description,
              ctx.SummaryFor(description), e.data.str("priority").value_or("medium"),
              e.data.str("channel"), e.event_time_ms);
}

// Last writer wins by event time, field by field: an update sets a field it carries only if it
// is at least as new as the event that set the field's current value (its *_at), so the final
// state does not depend on arrival order, and a late update still sets the fields a newer event
// did not touch. (SQLite evaluates every SET expression against the row as it was.) It still
// matches the row: the ticket exists, nothing to wait for.
constexpr char kUpdateTicket[] = R"sql(
UPDATE tickets SET
  status = CASE WHEN ?2 IS NOT NULL AND ?5 >= COALESCE(status_at, ?5) THEN ?2 ELSE status END,
  status_at = CASE WHEN ?2 IS NOT NULL AND ?5 >= COALESCE(status_at, ?5) THEN ?5
                   ELSE status_at END,
  priority = CASE WHEN ?3 IS NOT NULL AND ?5 >= COALESCE(priority_at, ?5) THEN ?3
                  ELSE priority END,
  priority_at = CASE WHEN ?3 IS NOT NULL AND ?5 >= COALESCE(priority_at, ?5) THEN ?5
                     ELSE priority_at END,
  last_comment = CASE WHEN ?4 IS NOT NULL AND ?5 >= COALESCE(comment_at, ?5) THEN ?4
                      ELSE last_comment END,
  comment_at = CASE WHEN ?4 IS NOT NULL AND ?5 >= COALESCE(comment_at, ?5) THEN ?5
                    ELSE comment_at END,
  updated_at = MAX(COALESCE(updated_at, ?5), ?5)
WHERE ticket_id = ?1)sql";

Status TicketUpdated(ApplyContext& ctx, const Event& e) {
  return UpdateByKey(ctx, e, "ticket_id", kUpdateTicket, "ticket", e.data.str("status"),
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
  INGEST_RETURN_IF_ERROR(RequireText(e, "work_order_id", &work_order_id));
  INGEST_RETURN_IF_ERROR(RequireText(e, "description", &description));
  const std::string_view customer_id = ApplyContext::CustomerOf(e);
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomer(e, customer_id, {}));
  return Exec(ctx, kInsertWorkOrder, work_order_id, customer_id, Opt(e.org_id), description,
              ctx.SummaryFor(description), e.data.str("priority").value_or("medium"),
              e.data.str("assigned_to"), e.data.number("cost"), e.event_time_ms);
}

// Last writer wins by event time, field by field, as for tickets.
constexpr char kUpdateWorkOrder[] = R"sql(
UPDATE work_orders SET
  status = CASE WHEN ?2 IS NOT NULL AND ?6 >= COALESCE(status_at, ?6) THEN ?2 ELSE status END,
  status_at = CASE WHEN ?2 IS NOT NULL AND ?6 >= COALESCE(status_at, ?6) THEN ?6
                   ELSE status_at END,
  cost = CASE WHEN ?3 IS NOT NULL AND ?6 >= COALESCE(cost_at, ?6) THEN ?3 ELSE cost END,
  cost_at = CASE WHEN ?3 IS NOT NULL AND ?6 >= COALESCE(cost_at, ?6) THEN ?6 ELSE cost_at END,
  resolution_notes = CASE WHEN ?4 IS NOT NULL AND ?6 >= COALESCE(notes_at, ?6) THEN ?4
                          ELSE resolution_notes END,
  notes_at = CASE WHEN ?4 IS NOT NULL AND ?6 >= COALESCE(notes_at, ?6) THEN ?6
                  ELSE notes_at END,
  assigned_to = CASE WHEN ?5 IS NOT NULL AND ?6 >= COALESCE(assigned_at, ?6) THEN ?5
                     ELSE assigned_to END,
  assigned_at = CASE WHEN ?5 IS NOT NULL AND ?6 >= COALESCE(assigned_at, ?6) THEN ?6
                     ELSE assigned_at END,
  updated_at = MAX(COALESCE(updated_at, ?6), ?6)
WHERE work_order_id = ?1)sql";

Status WorkOrderUpdated(ApplyContext& ctx, const Event& e) {
  return UpdateByKey(ctx, e, "work_order_id", kUpdateWorkOrder, "work order", e.data.str("status"),
                     e.data.number("cost"), e.data.str("resolution_notes"),
                     e.data.str("assigned_to"), e.event_time_ms);
}

Status NoteAdded(ApplyContext& ctx, const Event& e) {
  std::string_view note;
  INGEST_RETURN_IF_ERROR(RequireText(e, "note", &note));
  const std::string_view customer_id = ApplyContext::CustomerOf(e);
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomer(e, customer_id, {}));
  return InsertKnowledge(ctx, e, customer_id, note);
}

}  // namespace ingestlab::handlers::support
