// kcat -J parsing; see log_import.h.
#include "harness/log_import.h"

#include <nlohmann/json.hpp>

namespace ingestlab::harness {

Result<sim::PublishRecord> ParseKcatLine(const std::string& line, int64_t first_ts_ms) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("topic") || !j["topic"].is_string()) {
    return Status::Parse("not a kcat -J message line: " + line.substr(0, 80));
  }
  sim::PublishRecord r;
  r.transport = "kafka";
  r.subject = j["topic"].get<std::string>();
  if (j.contains("key") && j["key"].is_string()) r.key = j["key"].get<std::string>();
  if (j.contains("payload") && j["payload"].is_string())
    r.payload = j["payload"].get<std::string>();
  if (j.contains("headers") && j["headers"].is_array()) {
    const auto& h = j["headers"];
    for (size_t i = 0; i + 1 < h.size(); i += 2) {
      if (h[i].is_string() && h[i + 1].is_string())
        r.headers[h[i].get<std::string>()] = h[i + 1].get<std::string>();
    }
  }
  const int64_t ts = j.contains("ts") && j["ts"].is_number_integer() ? j["ts"].get<int64_t>() : 0;
  r.published_ms = ts;
  r.offset_ms = first_ts_ms < 0 ? 0 : ts - first_ts_ms;
  if (j.contains("offset") && j["offset"].is_number_integer()) r.seq = j["offset"].get<uint64_t>();
  r.expected = "applied";
  r.acked = true;
  return r;
}

}  // namespace ingestlab::harness
