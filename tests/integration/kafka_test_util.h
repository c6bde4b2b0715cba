// Test helpers for the Kafka integration tests against librdkafka's mock cluster: reading a
// topic once something has arrived on it, a record's headers, an ingestd's /metrics, and a
// producer on a thread of its own.
// Thread-safety: the free functions are stateless, each with its own client; a
// BackgroundProducer is owned by one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <catch2/catch.hpp>

#include "harness/infra/kafka_cluster.h"
#include "tests/support/child.h"
#include "tests/support/metrics_text.h"
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

// The one record that arrives on `topic` (within 10 s), which must be the only one.
inline KafkaReadRecord OnlyRecord(const std::string& bootstrap, const std::string& topic) {
  auto [arrived, records] = AwaitTopic(bootstrap, topic);
  CHECK(arrived);
  REQUIRE(records.ok());
  REQUIRE(records->size() == 1);
  return records->front();
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
  return SumMetric(res->body, name);
}

// Produces `total` records, make(i) for i in [0, total), on a background thread, sleeping
// `pause` after every `burst` of them, then flushes (30 s).
class BackgroundProducer {
 public:
  BackgroundProducer(const std::string& bootstrap, int total, int burst,
                     std::chrono::milliseconds pause, std::function<KafkaRecord(int)> make)
      : thread_([this, bootstrap, total, burst, pause, make = std::move(make)] {
          auto producer = KafkaTestProducer::Create(bootstrap);
          if (!producer.ok()) return;
          for (int i = 0; i < total; ++i) {
            (void)(*producer)->Produce(make(i));
            if (i % burst == burst - 1) std::this_thread::sleep_for(pause);
          }
          ok_ = (*producer)->Flush(30'000).ok();
        }) {}
  ~BackgroundProducer() {
    if (thread_.joinable()) thread_.join();
  }
  BackgroundProducer(const BackgroundProducer&) = delete;
  BackgroundProducer& operator=(const BackgroundProducer&) = delete;

  // Waits for the thread; whether every record was produced and flushed.
  bool Finish() {
    thread_.join();
    return ok_;
  }

 private:
  std::atomic<bool> ok_{false};
  std::thread thread_;
};

}  // namespace ingestlab::testing
