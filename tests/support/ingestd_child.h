// ingestd as a child process for integration tests: started on a free HTTP port (--http
// 127.0.0.1:0, the port read from --http-port-file) with its SQLite store and log in a test's
// directory, asked over HTTP, stopped with SIGTERM. Plus the one CloudEvents purchase those
// tests publish.
// Thread-safety: on the test thread only (Catch2 assertions).
#pragma once

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <httplib.h>
#include <catch2/catch.hpp>

#include "harness/infra/process.h"
#include "tests/support/child.h"

namespace ingestlab::testing {

inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class IngestdChild {
 public:
  // ingestd --nats `nats_url` --db DIR/ingest.db ... then `args`, with `env` added; its log in
  // DIR/ingestd.log. Returns once its HTTP port is known (the test fails if it never is).
  IngestdChild(const TempDir& dir, const std::string& nats_url, std::vector<std::string> args = {},
               std::vector<std::pair<std::string, std::string>> env = {}) {
    log_path_ = dir.Sub("ingestd.log");
    const std::string port_file = dir.Sub("http-port");
    SpawnOptions spawn;
    spawn.program = INGESTLAB_INGESTD;
    spawn.args = {"--nats",      nats_url,           "--db",   dir.Sub("ingest.db"), "--http",
                  "127.0.0.1:0", "--http-port-file", port_file};
    spawn.args.insert(spawn.args.end(), args.begin(), args.end());
    spawn.env = std::move(env);
    spawn.log_path = log_path_;
    auto child = ChildProcess::Spawn(spawn);
    REQUIRE(child.ok());
    process_ = std::move(child).value();
    http_port_ = AwaitPortFile(port_file, *process_);
    INFO(process_->LogTail());
    REQUIRE(http_port_ > 0);
    REQUIRE(process_->Running());
  }

  // The body of GET `path`, "" when there is no answer within 2 s.
  std::string Get(const std::string& path) {
    httplib::Client client("127.0.0.1", http_port_);
    client.set_read_timeout(2, 0);
    auto res = client.Get(path.c_str());
    return res ? res->body : "";
  }
  bool Connected() { return Contains(Get("/healthz"), "\"connected\":true"); }
  // Whether /metrics counts exactly `n` purchases applied.
  bool Applied(int n) {
    return Contains(Get("/metrics"), "ingest_applied_total{type=\"billing.purchase.completed\"} " +
                                         std::to_string(n));
  }
  // Stops ingestd (SIGTERM, so the shutdown lines are logged too) and returns its whole log.
  std::string StopAndReadLog() {
    process_->Stop(10'000);
    return ReadAll(log_path_);
  }
  std::string log() const { return ReadAll(log_path_); }

 private:
  std::string log_path_;
  int http_port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// A CloudEvents billing.purchase.completed of 5 by cust-1 whose event and purchase id are `id`.
inline std::string PurchaseEvent(const std::string& id) {
  return R"({"specversion":"1.0","id":")" + id +
         R"(","source":"billing-svc","type":"billing.purchase.completed",)"
         R"("time":"2026-11-23T10:00:00Z","subject":"cust-1","data":{"purchase_id":")" +
         id + R"(","customer_id":"cust-1","amount":5}})";
}

}  // namespace ingestlab::testing
