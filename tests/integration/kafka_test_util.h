// Test helpers for the Kafka integration tests against librdkafka's mock cluster: reading a
// topic once something has arrived on it, a record's headers, and an ingestd's /metrics.
// Thread-safety: stateless free functions; each makes its own client.
#pragma once

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <httplib.h>

#include "harness/infra/kafka_cluster.h"
#include "tests/support/child.h"
#include "tests/support/wait.h"

namespace ingestlab::testing {

struct TopicRead {
  bool arrived = false;  // something was on the topic before the timeout
  Result<std::vector<KafkaReadRecord>> records = std::vector<KafkaReadRecord>{};
};

// Reads `topic` again and again until it holds a record or `timeout` passes; the last read.
inline TopicRead AwaitTopic(const std::string& bootstrap, const std::string& topic,
                            std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  TopicRead out;
  out.arrived = WaitUntil(
      [&] {
        out.records = ReadTopic(bootstrap, topic);
        return out.records.ok() && !out.records->empty();
      },
      timeout);
  return out;
}

// A record's headers by name (the first of repeated names).
inline std::map<std::string, std::string> HeaderMap(const KafkaReadRecord& record) {
  return {record.headers.begin(), record.headers.end()};
}

// Sum of every series of a metric on the /metrics of the ingestd whose HTTP port is in
// `port_file` (-1 if unreachable).
inline double MetricValue(const std::string& port_file, const std::string& name) {
  std::ifstream in(port_file);
  int port = 0;
  if (!(in >> port)) return -1;
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/metrics");
  if (!res || res->status != 200) return -1;
  double sum = 0;
  std::istringstream lines(res->body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != ' ' && next != '{') continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

}  // namespace ingestlab::testing
