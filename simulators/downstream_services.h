// Seed 002's downstream systems as simulated HTTP services: CRM, scheduling and email, each on
// its own loopback port, answering GET /v1/customers/{id} (header X-Org-Id) with seeded data for
// that customer: the same seed and id always give the same answer, so a run can be reproduced.
//
//   crm:        {"customer_id","lifecycle_stage","sentiment","tags":[...],"last_interaction_ms"}
//   scheduling: {"customer_id","next_appointment":{"at_ms","kind"}|null,"upcoming","session_count"}
//   email:      {"customer_id","subscribed","unread","last_sent_ms"}
//
// Faults, set at any time (the harness's downstream_slow / downstream_error / downstream_down):
// `latency_ms` before every answer, `error_rate` of answers that are HTTP 500 (seeded), and
// `down`: the port is closed (connections are refused) until the fault is lifted, when the
// service listens on the same port again.
// Thread-safety: SetFault and the counters may be used from any thread while requests are served.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "system/http_server.h"

namespace ingestlab::sim {

struct DownstreamFault {
  int64_t latency_ms = 0;
  double error_rate = 0;
  bool down = false;
};

class DownstreamService {
 public:
  // Names: "crm", "scheduling", "email".
  static Result<std::unique_ptr<DownstreamService>> Start(const std::string& name, uint64_t seed);
  ~DownstreamService();

  const std::string& name() const { return name_; }
  std::string url() const;  // http://127.0.0.1:PORT
  Status SetFault(const DownstreamFault& fault);
  int64_t requests() const { return requests_.load(); }

 private:
  DownstreamService(std::string name, uint64_t seed) : name_(std::move(name)), seed_(seed) {}
  Status Listen();  // REQUIRES: mu_ held
  HttpReply Answer(const HttpRequest& request);

  const std::string name_;
  const uint64_t seed_;
  std::mutex mu_;
  std::unique_ptr<HttpServer> server_;  // null while down
  int port_ = 0;
  DownstreamFault fault_;  // guarded by mu_
  uint64_t draws_ = 0;     // error-rate draws so far, guarded by mu_
  std::atomic<int64_t> requests_{0};
};

// The three services of seed 002, started together.
class DownstreamSet {
 public:
  static Result<std::unique_ptr<DownstreamSet>> Start(uint64_t seed);
  // `target`: crm, scheduling, email or all.
  Status SetFault(const std::string& target, const DownstreamFault& fault);
  const std::vector<std::unique_ptr<DownstreamService>>& services() const { return services_; }
  DownstreamService* Find(const std::string& name) const;

 private:
  std::vector<std::unique_ptr<DownstreamService>> services_;
};

}  // namespace ingestlab::sim
