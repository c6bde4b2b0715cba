// The handler registry: canonical event type → the function that writes its effects
// (system/schemas/CATALOG.md). One source file per domain contributes its entries.
// Handlers return Status::Schema for semantically impossible events, Status::Transient
// (WaitingFor) when a **depends** prerequisite has not been applied yet.
// THE RULE: a handler returns such a status only before its first write (validate, then
// write; a "depends" check is a read, or an UPDATE that matched no row). The Store relies on
// it to undo a failed event without a savepoint (store.cc); a handler that breaks it costs one
// rolled-back batch, after which the Store runs it inside a SAVEPOINT.
// Thread-safety: the registry is immutable after first use; handlers run on the Store's thread.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "system/event.h"
#include "system/handlers/apply_context.h"

namespace ingestlab::handlers {

using Handler = Status (*)(ApplyContext& ctx, const Event& event);

struct HandlerEntry {
  std::string_view type;
  Handler handler;
};

// The handler for a canonical type, or nullptr when the type is unknown.
Handler FindHandler(std::string_view type);
// Every type with a handler, sorted.
std::vector<std::string_view> HandledTypes();

// Declared here, defined in the domain files.
std::span<const HandlerEntry> BillingHandlers();
std::span<const HandlerEntry> SupportHandlers();
std::span<const HandlerEntry> AuthHandlers();
std::span<const HandlerEntry> LearningHandlers();
std::span<const HandlerEntry> CrmHandlers();
std::span<const HandlerEntry> CustomerHandlers();

}  // namespace ingestlab::handlers
