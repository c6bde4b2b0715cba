// Pieces of the result.json files the report tests write as samples (format 1, docs/reports.md).
// Numbers are taken as json so that a sample keeps 25 an integer and 12.5 a double, as written.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace ingestlab::testing {

// One entry of a load result's "thresholds".
inline nlohmann::json LoadThreshold(const std::string& name, const std::string& op,
                                    const nlohmann::json& threshold, const nlohmann::json& measured,
                                    bool passed, const std::string& unit) {
  return {{"name", name},         {"op", op},         {"threshold", threshold},
          {"measured", measured}, {"passed", passed}, {"unit", unit}};
}

}  // namespace ingestlab::testing
