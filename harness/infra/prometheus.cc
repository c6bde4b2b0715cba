// Prometheus text: fetch and parse.
#include "harness/infra/prometheus.h"

#include <httplib.h>

#include <cstdlib>
#include <sstream>

namespace ingestlab {

double PrometheusSample::Labeled(const std::string& name, const std::string& label,
                                 const std::string& value) const {
  auto it = series.find(name + "{" + label + "=\"" + value + "\"}");
  if (it != series.end()) return it->second;
  // Several labels: match the label anywhere inside the braces.
  const std::string needle = label + "=\"" + value + "\"";
  double sum = 0;
  for (auto s = series.lower_bound(name + "{"); s != series.end(); ++s) {
    if (s->first.rfind(name + "{", 0) != 0) break;
    if (s->first.find(needle) != std::string::npos) sum += s->second;
  }
  return sum;
}

PrometheusSample ParsePrometheusText(const std::string& text) {
  PrometheusSample out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    // name{labels} value [timestamp]; label values may contain spaces inside quotes.
    size_t end_of_series = 0;
    if (size_t brace = line.find('{'); brace != std::string::npos && brace < line.find(' ')) {
      bool in_quotes = false;
      size_t i = brace;
      for (; i < line.size(); ++i) {
        if (line[i] == '\\') {
          ++i;
          continue;
        }
        if (line[i] == '"') in_quotes = !in_quotes;
        if (line[i] == '}' && !in_quotes) break;
      }
      end_of_series = i + 1;
    } else {
      end_of_series = line.find(' ');
    }
    if (end_of_series == std::string::npos || end_of_series >= line.size()) continue;
    const std::string series = line.substr(0, end_of_series);
    const std::string rest = line.substr(end_of_series);
    char* end = nullptr;
    double value = std::strtod(rest.c_str(), &end);
    if (end == rest.c_str()) continue;
    out.series[series] = value;
    const std::string name = series.substr(0, series.find('{'));
    out.totals[name] += value;
  }
  return out;
}

Result<std::string> HttpGetText(const std::string& url, int timeout_ms, const std::string& who) {
  constexpr std::string_view kScheme = "http://";
  if (url.compare(0, kScheme.size(), kScheme) != 0) {
    return Status::InvalidArgument(who + ": not an http:// URL: " + url);
  }
  const size_t slash = url.find('/', kScheme.size());
  const std::string path = slash == std::string::npos ? "/" : url.substr(slash);
  httplib::Client client(url.substr(0, slash));
  client.set_connection_timeout(timeout_ms / 1000, (timeout_ms % 1000) * 1000);
  client.set_read_timeout(timeout_ms / 1000, (timeout_ms % 1000) * 1000);
  auto res = client.Get(path);
  if (!res) {
    return Status::Transient(who + ": GET " + path + " failed: " + httplib::to_string(res.error()));
  }
  if (res->status != 200) {
    return Status::Transient(who + ": GET " + path + " answered " + std::to_string(res->status) +
                             ": " + res->body.substr(0, 300));
  }
  return res->body;
}

}  // namespace ingestlab
