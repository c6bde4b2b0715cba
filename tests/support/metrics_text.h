// Reading a Prometheus text exposition (what ingestd serves on /metrics) in tests.
// Thread-safety: stateless.
#pragma once

#include <sstream>
#include <string>

namespace ingestlab::testing {

// The sum of every sample of metric `name` (all label sets) in `text`; 0 when there is none.
inline double SumMetric(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  double sum = 0;
  while (std::getline(lines, line)) {
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != ' ' && next != '{') continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

}  // namespace ingestlab::testing
