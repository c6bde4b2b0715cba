// Broker statistics parsing and tracking: see kafka_stats.h.
#include "system/kafka/kafka_stats.h"

#include <cctype>
#include <cstring>
#include <nlohmann/json.hpp>

namespace ingestlab {

std::optional<BrokerStats> ParseBrokerStats(std::string_view json) {
  nlohmann::json stats = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (stats.is_discarded() || !stats.contains("brokers")) return std::nullopt;
  BrokerStats nodes;
  for (const auto& [name, broker] : stats["brokers"].items()) {
    const int64_t id = broker.value("nodeid", int64_t{-1});
    if (id < 0 || name.find(':') == std::string::npos) continue;
    BrokerNodeStats& node = nodes[std::to_string(id)];
    node.up = node.up || broker.value("state", std::string()) == "UP";
    node.disconnects += broker.value("disconnects", int64_t{0});
    if (node.name.empty() || name.find("bootstrap") == std::string::npos) node.name = name;
  }
  return nodes;
}

std::string BrokerNodeFromTransportError(const char* reason) {
  if (reason == nullptr) return {};
  const char* colon_space = std::strstr(reason, ": ");
  const char* slash =
      colon_space ? static_cast<const char*>(memrchr(reason, '/', colon_space - reason)) : nullptr;
  if (slash == nullptr) return {};
  std::string node(slash + 1, colon_space);
  if (node.empty() || !std::isdigit(static_cast<unsigned char>(node[0]))) return {};
  return node;
}

BrokerTracker::Update BrokerTracker::Apply(const BrokerStats& nodes) {
  Update update;
  for (const auto& [id, node] : nodes) {
    update.any_up = update.any_up || node.up;
    Seen& seen = seen_[id];
    if (seen.up && !node.up) update.changes.push_back({node.name, false});
    if (!node.up && seen.ever_up) seen.was_down = true;
    if (node.up && (seen.was_down || (seen.ever_up && node.disconnects > seen.disconnects_at_up))) {
      update.reconnects++;
      update.changes.push_back({node.name, true});
    }
    if (node.up) {
      seen.disconnects_at_up = node.disconnects;
      seen.ever_up = true;
      seen.was_down = false;
    }
    seen.up = node.up;
  }
  return update;
}

void BrokerTracker::MarkDown(const std::string& node) { seen_[node].was_down = true; }

}  // namespace ingestlab
