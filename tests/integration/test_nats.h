// A real nats-server for an integration test: JetStream on, in a fresh temporary directory that
// is removed with it.
// Thread-safety: one owner; NatsCluster's own rules apply to `cluster`.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include <catch2/catch.hpp>

#include "harness/infra/nats_cluster.h"
#include "harness/infra/ports.h"

namespace ingestlab::testing {

struct TestNats {
  // `nodes` servers (1, or >= 3 for a JetStream cluster) under a temp dir named for `tag`;
  // the test stops (REQUIRE) when they do not start.
  explicit TestNats(const std::string& tag, int nodes = 1) : dir(TempDir::Create(tag).value()) {
    NatsClusterOptions o;
    o.nodes = nodes;
    o.dir = dir.path();
    auto c = NatsCluster::Start(o);
    REQUIRE(c.ok());
    cluster = std::move(c).value();
  }

  TempDir dir;
  std::unique_ptr<NatsCluster> cluster;
};

}  // namespace ingestlab::testing
