// ContextLoad: reads of ingestd's context API alongside a run's event load (a scenario's
// `context:` section), and a watch on the downstream circuit breakers meanwhile.
//
// Readers: `readers` threads share `rate` reads per second. Each read picks an organisation
// (uniformly among those with customers), one of its customers (uniformly), and an instance
// (in turn), and sends GET /v1/customers/{id}/context with that organisation's bearer token; a
// `cross_tenant` share sends another organisation's token instead (the answer must be 404). Each
// reader keeps one kept-alive connection per instance. A read that gets no answer within
// kReadTimeoutMs is recorded with status 0 and the error.
// Watcher: every kSampleEveryMs, each instance's /healthz "downstream" object gives every
// service's breaker state and its opened count.
// The schedule and choices come from the seed; what the answers hold does not.
// Thread-safety: Start, Stop and the getters from one thread; Stop joins every thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness/assertions.h"

namespace ingestlab {

struct ContextLoadOptions {
  double rate = 20;           // reads per second, over every reader
  double cross_tenant = 0.1;  // share of reads sent with another organisation's token
  int readers = 4;
  uint64_t seed = 1;
  int64_t start_unix_ms = 0;  // the run's origin: BreakerSample::t_s counts from it
  // Per instance: its name and base URL ("http://127.0.0.1:PORT").
  std::vector<std::pair<std::string, std::string>> instances;
  std::map<std::string, std::string> tokens;                  // org -> bearer token
  std::map<std::string, std::vector<std::string>> customers;  // org -> customer ids
};

class ContextLoad {
 public:
  static constexpr int64_t kReadTimeoutMs = 5000;
  static constexpr int64_t kSampleEveryMs = 200;

  // InvalidArgument when there is no instance, no customer or an organisation without a token.
  static Result<std::unique_ptr<ContextLoad>> Start(ContextLoadOptions options);
  ~ContextLoad();  // Stop()

  // Stops the readers and the watcher (each finishes the request it is in) and joins them.
  void Stop();

  // After Stop: every read, in the order they were sent, and every breaker sample.
  std::vector<ContextRead> TakeReads();
  std::vector<BreakerSample> TakeBreakerSamples();

 private:
  explicit ContextLoad(ContextLoadOptions options) : options_(std::move(options)) {}
  void ReadLoop(int reader);
  void WatchLoop();

  const ContextLoadOptions options_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::vector<ContextRead> reads_;       // guarded by mu_
  std::vector<BreakerSample> breakers_;  // guarded by mu_
};

// Bearer tokens for the run: one per organisation in `orgs`, plus kOutsiderOrg (an organisation
// with no customers, so that cross-tenant reads exist with a single organisation). Random, 32
// hex characters.
inline constexpr const char* kOutsiderOrg = "org-outsider";
std::map<std::string, std::string> MakeContextTokens(const std::vector<std::string>& orgs);

}  // namespace ingestlab
