// The handler registry: canonical event type → the function that writes its effects
// (system/schemas/CATALOG.md). One source file per domain defines its handlers.
// Handlers return Status::Schema for semantically impossible events, Status::Transient
// (WaitingFor) when a **depends** prerequisite has not been applied yet.
// THE RULE: a handler returns such a status only before its first write (validate, then
// write; a "depends" check is a read, or an UPDATE that matched no row). The Store relies on
// it to undo a failed event without a savepoint (store.cc); a handler that breaks it costs one
// rolled-back batch, after which the Store runs it inside a SAVEPOINT.
// Thread-safety: the registry is immutable after first use; handlers run on the Store's thread.
#pragma once

#include <string_view>
#include <vector>

#include "common/status.h"
#include "system/event.h"
#include "system/handlers/apply_context.h"

namespace ingestlab::handlers {

using Handler = Status (*)(ApplyContext& ctx, const Event& event);

// The handler for a canonical type, or nullptr when the type is unknown.
Handler FindHandler(std::string_view type);
// Every type with a handler, sorted.
std::vector<std::string_view> HandledTypes();

// The handlers, one namespace per domain file (auth.cc, billing.cc, ...), declared through their
// function type. registry.cc holds the one table from canonical type to handler.
using HandlerFunction = Status(ApplyContext& ctx, const Event& event);
namespace auth {
HandlerFunction UserCreated, UserDeleted, LoginSucceeded, LoginFailed, RoleAssigned, RoleRevoked;
}  // namespace auth
namespace billing {
HandlerFunction CustomerCreated, PurchaseCompleted, PurchaseRefunded, InvoiceIssued, InvoicePaid,
    SubscriptionStarted, SubscriptionCancelled;
}  // namespace billing
namespace crm {
HandlerFunction LeadCreated, LeadUpdated, LeadConverted, ContactCreated, ContactUpdated,
    OpportunityCreated, OpportunityUpdated, OpportunityWon, OpportunityLost;
}  // namespace crm
namespace customer {
HandlerFunction PurchaseRecorded, TicketOpened, RepairRequested, TimelineOnly, ProfileUpdated,
    NoteAdded;
}  // namespace customer
namespace learning {
HandlerFunction SessionStarted, SessionEnded, ActivityCompleted, SkillMastered, QuestionAsked,
    QuestionAnswered, RecommendationCreated, FocusPing, FocusIdle;
}  // namespace learning
namespace support {
HandlerFunction TicketOpened, TicketUpdated, TicketResolved, WorkOrderCreated, WorkOrderUpdated,
    NoteAdded;
}  // namespace support

}  // namespace ingestlab::handlers
