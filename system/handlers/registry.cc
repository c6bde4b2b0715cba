// The one table from canonical type to handler. See registry.h.
#include "system/handlers/registry.h"

#include <algorithm>
#include <unordered_map>

namespace ingestlab::handlers {
namespace {

struct HandlerEntry {
  std::string_view type;
  Handler handler;
};

// In the order of CATALOG.md.
constexpr HandlerEntry kEntries[] = {
    {"billing.customer.created", billing::CustomerCreated},
    {"billing.purchase.completed", billing::PurchaseCompleted},
    {"billing.purchase.refunded", billing::PurchaseRefunded},
    {"billing.invoice.issued", billing::InvoiceIssued},
    {"billing.invoice.paid", billing::InvoicePaid},
    {"billing.subscription.started", billing::SubscriptionStarted},
    {"billing.subscription.cancelled", billing::SubscriptionCancelled},
    {"support.ticket.opened", support::TicketOpened},
    {"support.ticket.updated", support::TicketUpdated},
    {"support.ticket.resolved", support::TicketResolved},
    {"support.work_order.created", support::WorkOrderCreated},
    {"support.work_order.updated", support::WorkOrderUpdated},
    {"support.note.added", support::NoteAdded},
    {"auth.user.created", auth::UserCreated},
    {"auth.user.deleted", auth::UserDeleted},
    {"auth.user.login.succeeded", auth::LoginSucceeded},
    {"auth.user.login.failed", auth::LoginFailed},
    {"auth.user.role.assigned", auth::RoleAssigned},
    {"auth.user.role.revoked", auth::RoleRevoked},
    {"learning.session.started", learning::SessionStarted},
    {"learning.session.ended", learning::SessionEnded},
    {"learning.activity.completed", learning::ActivityCompleted},
    {"learning.skill.mastered", learning::SkillMastered},
    {"homework.question.asked", learning::QuestionAsked},
    {"homework.question.answered", learning::QuestionAnswered},
    {"recommendation.created", learning::RecommendationCreated},
    {"focus.ping", learning::FocusPing},
    {"focus.loss.idle", learning::FocusIdle},
    {"crm.lead.created", crm::LeadCreated},
    {"crm.lead.updated", crm::LeadUpdated},
    {"crm.lead.converted", crm::LeadConverted},
    {"crm.contact.created", crm::ContactCreated},
    {"crm.contact.updated", crm::ContactUpdated},
    {"crm.opportunity.created", crm::OpportunityCreated},
    {"crm.opportunity.updated", crm::OpportunityUpdated},
    {"crm.opportunity.won", crm::OpportunityWon},
    {"crm.opportunity.lost", crm::OpportunityLost},
    {"customer.purchase.recorded", customer::PurchaseRecorded},
    {"customer.ticket.opened", customer::TicketOpened},
    {"customer.repair.requested", customer::RepairRequested},
    {"customer.contact.recorded", customer::TimelineOnly},
    {"customer.profile.updated", customer::ProfileUpdated},
    {"customer.note.added", customer::NoteAdded},
    {"customer.event.recorded", customer::TimelineOnly},
};

const std::unordered_map<std::string_view, Handler>& Table() {
  static const auto* table = [] {
    auto* t = new std::unordered_map<std::string_view, Handler>();
    for (const HandlerEntry& e : kEntries) t->emplace(e.type, e.handler);
    return t;
  }();
  return *table;
}

}  // namespace

Handler FindHandler(std::string_view type) {
  const auto& table = Table();
  auto it = table.find(type);
  return it == table.end() ? nullptr : it->second;
}

std::vector<std::string_view> HandledTypes() {
  std::vector<std::string_view> types;
  for (const auto& [type, handler] : Table()) types.push_back(type);
  std::sort(types.begin(), types.end());
  return types;
}

}  // namespace ingestlab::handlers
