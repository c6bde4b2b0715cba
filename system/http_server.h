// HttpServer: ingestd's small HTTP endpoint (GET /healthz, GET /metrics) on cpp-httplib, and the
// renderers for what those endpoints say.
//
// /healthz answers JSON:
//   {"status":"ok"|"degraded"|"unavailable",
//    "nats":{"connected":true,"detail":"...","reconnects":0,"in_flight":0,"lag":{"BILLING":0}},
//    "kafka":{...same...},          (a transport that is not configured is left out)
//    "db":{"ok":true,"path":"/tmp/ingest.db"},
//    "last_commit_unix_ms":..., "queue":N, "uptime_s":...}
// HTTP 200 while the database is usable ("degraded" when a configured transport is not
// connected), 503 when it is not.
// Thread-safety: Handle before Start; Start/Stop from one controlling thread; handlers run on
// the server's worker threads and must be thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "system/source.h"

namespace ingestlab {

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra response headers
};

// What a prefix route sees of a GET request: the percent-decoded path and query parameters, and
// the Authorization header.
struct HttpRequest {
  std::string path;
  std::multimap<std::string, std::string> query;
  std::string authorization;

  // The first value of query parameter `name`, or nullopt.
  std::optional<std::string> Param(const std::string& name) const {
    auto it = query.find(name);
    if (it == query.end()) return std::nullopt;
    return it->second;
  }
};

class HttpServer {
 public:
  HttpServer();
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Registers a GET route. REQUIRES: before Start.
  void Handle(const std::string& path, std::function<HttpReply()> handler);
  // Registers a handler for every GET whose path starts with `prefix`, matched by plain string
  // comparison (no regular expression sees the untrusted path). REQUIRES: before Start.
  void HandlePrefix(const std::string& prefix,
                    std::function<HttpReply(const HttpRequest&)> handler);
  // Binds host:port (port 0 = any free port) and serves on a background thread. Errors name
  // the address.
  Status Start(const std::string& host, int port);
  int port() const;  // the bound port, 0 before Start
  // Stops serving and joins. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What /healthz reports; gathered by the caller.
struct HealthInputs {
  std::optional<SourceHealth> nats;  // nullopt: not configured
  std::optional<SourceHealth> kafka;
  bool db_ok = false;
  std::string db_path;
  std::string db_error;  // when !db_ok
  int64_t last_commit_unix_ms = 0;
  size_t queue = 0;
  int64_t uptime_s = 0;
  std::string downstream_json;  // the context API's sources (Downstreams::HealthJson), or ""
};

HttpReply RenderHealthz(const HealthInputs& health);

// Prometheus gauges for each configured source: ingest_source_connected{transport},
// ingest_source_in_flight{transport} and ingest_source_lag{transport,consumer}. (Reconnects are
// the sources' own counter, ingest_reconnects_total{transport}.)
std::string RenderSourceMetrics(const HealthInputs& health);

}  // namespace ingestlab
