// support.* handlers: tickets, work orders, knowledge notes (CATALOG.md). Long descriptions and
// notes get an extractive summary beside them.
#include <string>

#include "system/handlers/registry.h"

namespace ingestlab::handlers {
namespace {

std::optional<std::string_view> Opt(const std::string& s) {
  return std::optional<std::string_view>(s);
}

constexpr char kInsertTicket[] = R"sql(
INSERT INTO tickets(ticket_id, customer_id, org_id, title, description, summary, priority, status,
                    channel, opened_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open', ?8, ?9, ?9)
ON CONFLICT(ticket_id) DO NOTHING)sql";

Status TicketOpened(ApplyContext& ctx, const Event& e) {
  std::string_view ticket_id, title;
  INGEST_RETURN_IF_ERROR(RequireText(e, "ticket_id", &ticket_id));
  INGEST_RETURN_IF_ERROR(RequireText(e, "title", &title));
  const std::string_view customer_id = ApplyContext::CustomerOf(e);
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomer(e, customer_id, {}));
  const auto description = e.data.str("description");
  INGEST_PREPARE(stmt, ctx, kInsertTicket);
  stmt->Bind(1, ticket_id);
  stmt->Bind(2, customer_id);
  stmt->Bind(3, Opt(e.org_id));
  stmt->Bind(4, title);
  stmt->Bind(5, description);
  stmt->Bind(6, ctx.SummaryFor(description));
  stmt->Bind(7, e.data.str("priority").value_or("medium"));
  stmt->Bind(8, e.data.str("channel"));
  stmt->Bind(9, e.event_time_ms);
  return stmt->Run();
}

// Last writer wins by event time: an update older than what the ticket already reflects
// (redelivered, or held back on the way) changes nothing, so the final state does not depend on
// arrival order. It still matches the row: the ticket exists, nothing to wait for.
constexpr char kUpdateTicket[] = R"sql(
UPDATE tickets SET
  status = CASE WHEN ?5 >= COALESCE(updated_at, ?5) THEN COALESCE(?2, status) ELSE status END,
  priority = CASE WHEN ?5 >= COALESCE(updated_at, ?5) THEN COALESCE(?3, priority)
                  ELSE priority END,
  last_comment = CASE WHEN ?5 >= COALESCE(updated_at, ?5) THEN COALESCE(?4, last_comment)
                      ELSE last_comment END,
  updated_at = MAX(COALESCE(updated_at, ?5), ?5)
WHERE ticket_id = ?1)sql";

Status TicketUpdated(ApplyContext& ctx, const Event& e) {
  std::string_view ticket_id;
  INGEST_RETURN_IF_ERROR(RequireText(e, "ticket_id", &ticket_id));
  INGEST_PREPARE(stmt, ctx, kUpdateTicket);
  stmt->Bind(1, ticket_id);
  stmt->Bind(2, e.data.str("status"));
  stmt->Bind(3, e.data.str("priority"));
  stmt->Bind(4, e.data.str("comment"));
  stmt->Bind(5, e.event_time_ms);
  INGEST_RETURN_IF_ERROR(stmt->Run());
  if (stmt->Changes() == 0) return WaitingFor("ticket", ticket_id);
  return Status::Ok();
}

constexpr char kResolveTicket[] = R"sql(
UPDATE tickets SET
  status = 'resolved',
  resolution = COALESCE(?2, resolution),
  resolved_at = ?3,
  updated_at = MAX(COALESCE(updated_at, ?3), ?3)
WHERE ticket_id = ?1)sql";

Status TicketResolved(ApplyContext& ctx, const Event& e) {
  std::string_view ticket_id;
  INGEST_RETURN_IF_ERROR(RequireText(e, "ticket_id", &ticket_id));
  INGEST_PREPARE(stmt, ctx, kResolveTicket);
  stmt->Bind(1, ticket_id);
  stmt->Bind(2, e.data.str("resolution"));
  stmt->Bind(3, e.event_time_ms);
  INGEST_RETURN_IF_ERROR(stmt->Run());
  if (stmt->Changes() == 0) return WaitingFor("ticket", ticket_id);
  return Status::Ok();
}

constexpr char kInsertWorkOrder[] = R"sql(
INSERT INTO work_orders(work_order_id, customer_id, org_id, description, summary, priority,
                        status, assigned_to, cost, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7, ?8, ?9, ?9)
ON CONFLICT(work_order_id) DO NOTHING)sql";

Status WorkOrderCreated(ApplyContext& ctx, const Event& e) {
  std::string_view work_order_id, description;
  INGEST_RETURN_IF_ERROR(RequireText(e, "work_order_id", &work_order_id));
  INGEST_RETURN_IF_ERROR(RequireText(e, "description", &description));
  const std::string_view customer_id = ApplyContext::CustomerOf(e);
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomer(e, customer_id, {}));
  INGEST_PREPARE(stmt, ctx, kInsertWorkOrder);
  stmt->Bind(1, work_order_id);
  stmt->Bind(2, customer_id);
  stmt->Bind(3, Opt(e.org_id));
  stmt->Bind(4, description);
  stmt->Bind(5, ctx.SummaryFor(description));
  stmt->Bind(6, e.data.str("priority").value_or("medium"));
  stmt->Bind(7, e.data.str("assigned_to"));
  stmt->Bind(8, e.data.number("cost"));
  stmt->Bind(9, e.event_time_ms);
  return stmt->Run();
}

// Last writer wins by event time, as for tickets.
constexpr char kUpdateWorkOrder[] = R"sql(
UPDATE work_orders SET
  status = CASE WHEN ?6 >= COALESCE(updated_at, ?6) THEN COALESCE(?2, status) ELSE status END,
  cost = CASE WHEN ?6 >= COALESCE(updated_at, ?6) THEN COALESCE(?3, cost) ELSE cost END,
  resolution_notes = CASE WHEN ?6 >= COALESCE(updated_at, ?6)
                          THEN COALESCE(?4, resolution_notes) ELSE resolution_notes END,
  assigned_to = CASE WHEN ?6 >= COALESCE(updated_at, ?6) THEN COALESCE(?5, assigned_to)
                     ELSE assigned_to END,
  updated_at = MAX(COALESCE(updated_at, ?6), ?6)
WHERE work_order_id = ?1)sql";

Status WorkOrderUpdated(ApplyContext& ctx, const Event& e) {
  std::string_view work_order_id;
  INGEST_RETURN_IF_ERROR(RequireText(e, "work_order_id", &work_order_id));
  INGEST_PREPARE(stmt, ctx, kUpdateWorkOrder);
  stmt->Bind(1, work_order_id);
  stmt->Bind(2, e.data.str("status"));
  stmt->Bind(3, e.data.number("cost"));
  stmt->Bind(4, e.data.str("resolution_notes"));
  stmt->Bind(5, e.data.str("assigned_to"));
  stmt->Bind(6, e.event_time_ms);
  INGEST_RETURN_IF_ERROR(stmt->Run());
  if (stmt->Changes() == 0) return WaitingFor("work order", work_order_id);
  return Status::Ok();
}

Status NoteAdded(ApplyContext& ctx, const Event& e) {
  std::string_view note;
  INGEST_RETURN_IF_ERROR(RequireText(e, "note", &note));
  const std::string_view customer_id = ApplyContext::CustomerOf(e);
  INGEST_RETURN_IF_ERROR(ctx.TouchCustomer(e, customer_id, {}));
  return InsertKnowledge(ctx, e, customer_id, note);
}

constexpr HandlerEntry kEntries[] = {
    {"support.ticket.opened", TicketOpened},
    {"support.ticket.updated", TicketUpdated},
    {"support.ticket.resolved", TicketResolved},
    {"support.work_order.created", WorkOrderCreated},
    {"support.work_order.updated", WorkOrderUpdated},
    {"support.note.added", NoteAdded},
};

}  // namespace

std::span<const HandlerEntry> SupportHandlers() { return kEntries; }

}  // namespace ingestlab::handlers
