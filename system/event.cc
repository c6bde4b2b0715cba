#include "system/event.h"

#include <strings.h>

namespace ingestlab {

const std::string* FindHeader(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), name.size()) == 0) return &v;
  }
  return nullptr;
}

const char* DialectName(Dialect d) {
  switch (d) {
    case Dialect::kCloudEvents: return "cloudevents";
    case Dialect::kCloudEventsBinary: return "cloudevents-binary";
    case Dialect::kServiceEnvelope: return "service-envelope";
    case Dialect::kCustomerEvent: return "customer-event";
  }
  return "unknown";
}

std::optional<simdjson::dom::element> DataView::get(std::string_view key) const {
  if (!valid_) return std::nullopt;
  simdjson::dom::element v;
  if (e_.get_object()[key].get(v) != simdjson::SUCCESS) return std::nullopt;
  if (v.is_null()) return std::nullopt;
  return v;
}

bool DataView::has(std::string_view key) const { return get(key).has_value(); }

std::optional<std::string_view> DataView::str(std::string_view key) const {
  auto v = get(key);
  std::string_view s;
  if (!v || v->get_string().get(s) != simdjson::SUCCESS) return std::nullopt;
  return s;
}

std::optional<int64_t> DataView::int64(std::string_view key) const {
  auto v = get(key);
  if (!v) return std::nullopt;
  int64_t i;
  if (v->get_int64().get(i) == simdjson::SUCCESS) return i;
  uint64_t u;
  if (v->get_uint64().get(u) == simdjson::SUCCESS && u <= INT64_MAX) return static_cast<int64_t>(u);
  return std::nullopt;
}

std::optional<double> DataView::number(std::string_view key) const {
  auto v = get(key);
  double d;
  if (!v || !v->is_number() || v->get_double().get(d) != simdjson::SUCCESS) return std::nullopt;
  return d;
}

std::optional<bool> DataView::boolean(std::string_view key) const {
  auto v = get(key);
  bool b;
  if (!v || v->get_bool().get(b) != simdjson::SUCCESS) return std::nullopt;
  return b;
}

DataView DataView::object(std::string_view key) const {
  auto v = get(key);
  if (!v || !v->is_object()) return DataView();
  return DataView(*v);
}

std::optional<std::string> DataView::json(std::string_view key) const {
  auto v = get(key);
  if (!v) return std::nullopt;
  return simdjson::minify(*v);
}

std::string DataView::to_json() const {
  if (!valid_) return "{}";
  return simdjson::minify(e_);
}

}  // namespace ingestlab
