// Downstreams: the live sources of the customer context (seed 002's CRM, scheduling and email
// systems), each behind its own circuit breaker, per-call timeout and TTL cache
// (circuit_breaker.h). A service answers GET {base}/v1/customers/{id} (header X-Org-Id: ORG) with
// a JSON object of at most 64 KiB; anything else (an error status, a timeout, a refused
// connection, a body that is not a JSON object) is a failure of that call.
//
// Fetch asks every service at once, on threads of its own, and returns when all have answered or
// timed out: a fresh cache entry answers without a call; an open breaker answers without a call
// from the cache, stale or not, if it can; a failed call falls back to the cache the same way.
// Metrics (Prometheus): ingest_downstream_calls_total{service,outcome}, ingest_breaker_state
// {service} (0 closed, 1 open, 2 half-open), ingest_breaker_opened_total{service},
// ingest_context_cache_total{service,result=hit|miss|stale}.
// Thread-safety: Fetch and Health may run on any number of threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "system/circuit_breaker.h"
#include "system/metrics.h"

namespace ingestlab {

struct DownstreamOptions {
  std::vector<std::pair<std::string, std::string>> services;  // name -> base URL (http://h:p)
  int timeout_ms = 200;
  BreakerOptions breaker;
  int64_t cache_ttl_ms = 30'000;
  size_t cache_entries = 10'000;
};

class Downstreams {
 public:
  Downstreams(DownstreamOptions options, Metrics* metrics, Clock* clock);
  ~Downstreams();

  struct Answer {
    std::string service;
    std::optional<std::string> body;  // a JSON object's text
    std::string from;                 // "live", "cache", "stale" or "none"
    std::string error;                // why no live answer ("" for live and fresh cache)
  };
  std::vector<Answer> Fetch(const std::string& org, const std::string& customer_id);

  // {"crm":{"breaker":"closed","opened_total":0,"cache_entries":12,"url":"http://..."},...}
  std::string HealthJson();
  bool empty() const { return services_.empty(); }

 private:
  struct Service;
  Answer Ask(Service& service, const std::string& org, const std::string& customer_id,
             const std::string& key);

  const DownstreamOptions options_;
  Metrics* const metrics_;
  Clock* const clock_;
  std::vector<std::unique_ptr<Service>> services_;
};

}  // namespace ingestlab
