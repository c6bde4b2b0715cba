// IngestdApp: ingestd assembled — store, schemas, pipeline, HTTP and the transport sources — with
// its start order, graceful stop, and the process entry point (signals, exit codes).
//
// Start order: open the store (error: fatal), load schemas (embedded or --schemas), start the
// pipeline, start HTTP, create and start the sources (a broker that is not reachable yet is not
// fatal: sources retry in the background and /healthz says "degraded"), log one "ready" line.
// Stop order: sources (stop fetching, wait for in-flight settlements), pipeline (drain), HTTP.
//
// The sources are built through SourceFactories so that this file (in ingest_core) needs no
// broker client; ingestd_main.cc passes factories for JetStreamSource and KafkaSource, tests pass
// fakes.
// Thread-safety: Start/Stop from one controlling thread; Health from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "system/config.h"
#include "system/http_server.h"
#include "system/kafka/kafka_source.h"
#include "system/metrics.h"
#include "system/nats/jetstream_source.h"
#include "system/source.h"

namespace ingestlab {

struct SourceFactories {
  std::function<Result<std::unique_ptr<Source>>(JetStreamOptions, BatchSink*, Metrics*, Clock*)>
      jetstream;
  std::function<Result<std::unique_ptr<Source>>(KafkaOptions, BatchSink*, Metrics*, Clock*)> kafka;
};

class IngestdApp {
 public:
  // clock is not owned; nullptr = the system clock.
  IngestdApp(IngestdConfig config, SourceFactories factories, Clock* clock = nullptr);
  ~IngestdApp();  // Stop()s
  IngestdApp(const IngestdApp&) = delete;
  IngestdApp& operator=(const IngestdApp&) = delete;

  // Errors name what failed; an InvalidArgument status is a configuration problem.
  Status Start();
  // Graceful stop; idempotent.
  void Stop();

  int http_port() const;  // bound port once started
  HealthInputs Health();
  Metrics& metrics();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The whole process: parses argv + environment, runs until SIGTERM/SIGINT, returns the exit code
// (0 clean stop, 1 start-up failure or second signal, 2 bad usage).
int RunIngestd(int argc, char** argv, const SourceFactories& factories);

}  // namespace ingestlab
