// Prometheus text, as ingestd's /metrics answers it (and any system under test that exports
// the same counter names): fetched over HTTP and read into numbers.
// Thread-safety: pure functions; each fetch opens its own connection.
#pragma once

#include <map>
#include <string>

#include "common/status.h"

namespace ingestlab {

// Prometheus text → series value by full series name
// ("ingest_dead_letters_total{reason=\"parse\"}") and by metric name summed over labels
// ("ingest_dead_letters_total").
struct PrometheusSample {
  std::map<std::string, double> series;
  std::map<std::string, double> totals;
  double Total(const std::string& name) const {
    auto it = totals.find(name);
    return it == totals.end() ? 0 : it->second;
  }
  // Value of one label of a metric: LabelValue("ingest_dead_letters_total", "reason", "parse").
  double Labeled(const std::string& name, const std::string& label, const std::string& value) const;
};
PrometheusSample ParsePrometheusText(const std::string& text);

// GETs `url` (http://host:port/path) within timeout_ms; the body of a 200 answer, else an error
// naming `who`, the URL and what it answered.
Result<std::string> HttpGetText(const std::string& url, int timeout_ms, const std::string& who);

}  // namespace ingestlab
