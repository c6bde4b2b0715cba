// Builds the type → handler table from every domain's entries. See registry.h.
#include "system/handlers/registry.h"

#include <algorithm>
#include <unordered_map>

namespace ingestlab::handlers {
namespace {

const std::unordered_map<std::string_view, Handler>& Table() {
  static const auto* table = [] {
    auto* t = new std::unordered_map<std::string_view, Handler>();
    for (auto domain : {BillingHandlers(), SupportHandlers(), AuthHandlers(), LearningHandlers(),
                        CrmHandlers(), CustomerHandlers()}) {
      for (const HandlerEntry& e : domain) t->emplace(e.type, e.handler);
    }
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
