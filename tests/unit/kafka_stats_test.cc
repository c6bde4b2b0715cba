// Specification of the broker statistics parsing and tracking of KafkaSource
// (system/kafka/kafka_stats.h), on statistics JSON of the shape librdkafka emits.
#include <catch2/catch.hpp>

#include <string>

#include "system/kafka/kafka_stats.h"

using ingestlab::BrokerNodeFromTransportError;
using ingestlab::BrokerStats;
using ingestlab::BrokerTracker;
using ingestlab::ParseBrokerStats;

namespace {

// A consumer's statistics trimmed to what matters (and a little that does not): two brokers
// known by id, the bootstrap connection that learned node 1's id, the logical
// GroupCoordinator, and a bootstrap connection that never learned an id.
std::string Sample(const std::string& state1, int disconnects1, const std::string& state2) {
  return R"({
  "name": "ingestd#consumer-1", "client_id": "ingestd", "type": "consumer",
  "ts": 5412345678, "time": 1764770000, "replyq": 0, "msg_cnt": 0,
  "brokers": {
    "127.0.0.1:9092/1": {"name": "127.0.0.1:9092/1", "nodeid": 1, "nodename": "127.0.0.1:9092",
                         "source": "learned", "state": ")" +
         state1 + R"(", "stateage": 120000,
                         "disconnects": )" +
         std::to_string(disconnects1) + R"(, "connects": 1,
                         "rtt": {"min": 100, "max": 900, "avg": 300}},
    "127.0.0.1:9093/2": {"name": "127.0.0.1:9093/2", "nodeid": 2, "nodename": "127.0.0.1:9093",
                         "source": "learned", "state": ")" +
         state2 + R"(", "disconnects": 0},
    "127.0.0.1:9092/bootstrap": {"name": "127.0.0.1:9092/bootstrap", "nodeid": 1,
                                 "source": "configured", "state": "INIT", "disconnects": 1},
    "127.0.0.1:9094/bootstrap": {"name": "127.0.0.1:9094/bootstrap", "nodeid": -1,
                                 "source": "configured", "state": "UP", "disconnects": 0},
    "GroupCoordinator": {"name": "GroupCoordinator", "nodeid": 2, "source": "logical",
                         "state": "UP", "disconnects": 7}
  },
  "topics": {"crm.leads": {"topic": "crm.leads", "partitions": {}}},
  "cgrp": {"state": "up", "join_state": "steady", "assignment_size": 4}
})";
}

}  // namespace

TEST_CASE("ParseBrokerStats: one entry a node id, real connections only", "[kafka_stats]") {
  const auto nodes = ParseBrokerStats(Sample("UP", 2, "DOWN"));
  REQUIRE(nodes.has_value());
  REQUIRE(nodes->size() == 2);
  const auto& one = nodes->at("1");
  CHECK(one.up);
  CHECK(one.disconnects == 3);            // the learned connection's 2 and the bootstrap one's 1
  CHECK(one.name == "127.0.0.1:9092/1");  // the non-bootstrap name wins
  const auto& two = nodes->at("2");
  CHECK_FALSE(two.up);  // the logical GroupCoordinator does not count
  CHECK(two.disconnects == 0);
  CHECK(two.name == "127.0.0.1:9093/2");
}

TEST_CASE("ParseBrokerStats: a node is up if any connection to it is", "[kafka_stats]") {
  const auto nodes = ParseBrokerStats(R"({"brokers": {
      "b:1/bootstrap": {"nodeid": 3, "state": "UP", "disconnects": 1},
      "b:1/3": {"nodeid": 3, "state": "CONNECT"}}})");
  REQUIRE(nodes.has_value());
  REQUIRE(nodes->size() == 1);
  CHECK(nodes->at("3").up);
  CHECK(nodes->at("3").disconnects == 1);
  CHECK(nodes->at("3").name == "b:1/3");
}

TEST_CASE("ParseBrokerStats: not statistics", "[kafka_stats]") {
  CHECK_FALSE(ParseBrokerStats("").has_value());
  CHECK_FALSE(ParseBrokerStats("{not json").has_value());
  CHECK_FALSE(ParseBrokerStats(R"({"name": "x", "topics": {}})").has_value());
  const auto empty = ParseBrokerStats(R"({"brokers": {}})");
  REQUIRE(empty.has_value());
  CHECK(empty->empty());
}

TEST_CASE("BrokerNodeFromTransportError", "[kafka_stats]") {
  CHECK(BrokerNodeFromTransportError("127.0.0.1:9092/1: Disconnected (after 5012ms in state UP)") ==
        "1");
  CHECK(BrokerNodeFromTransportError("broker:9092/12: Connect to ipv4#127.0.0.1:9092 failed") ==
        "12");
  CHECK(BrokerNodeFromTransportError("127.0.0.1:9092/bootstrap: Disconnected").empty());
  CHECK(BrokerNodeFromTransportError("no broker named here").empty());
  CHECK(BrokerNodeFromTransportError(nullptr).empty());
}

TEST_CASE("BrokerTracker: down, up again, reconnects", "[kafka_stats]") {
  BrokerTracker tracker;

  // First sight: node 1 up, node 2 not yet; nothing changed.
  auto u = tracker.Apply(*ParseBrokerStats(Sample("UP", 0, "CONNECT")));
  CHECK(u.any_up);
  CHECK(u.changes.empty());
  CHECK(u.reconnects == 0);

  // Node 2 comes up for the first time: not a reconnect.
  u = tracker.Apply(*ParseBrokerStats(Sample("UP", 0, "UP")));
  CHECK(u.changes.empty());
  CHECK(u.reconnects == 0);

  // Node 1 goes down.
  u = tracker.Apply(*ParseBrokerStats(Sample("DOWN", 1, "UP")));
  CHECK(u.any_up);
  REQUIRE(u.changes.size() == 1);
  CHECK(u.changes[0].name == "127.0.0.1:9092/1");
  CHECK_FALSE(u.changes[0].reconnected);
  CHECK(u.reconnects == 0);

  // Still down: said once only.
  u = tracker.Apply(*ParseBrokerStats(Sample("DOWN", 1, "UP")));
  CHECK(u.changes.empty());

  // Up again: one reconnect.
  u = tracker.Apply(*ParseBrokerStats(Sample("UP", 1, "UP")));
  REQUIRE(u.changes.size() == 1);
  CHECK(u.changes[0].reconnected);
  CHECK(u.reconnects == 1);

  // Disconnected and reconnected between two statistics: seen by the disconnect count.
  u = tracker.Apply(*ParseBrokerStats(Sample("UP", 4, "UP")));
  REQUIRE(u.changes.size() == 1);
  CHECK(u.changes[0].reconnected);
  CHECK(u.reconnects == 1);

  // Every node down.
  u = tracker.Apply(*ParseBrokerStats(Sample("DOWN", 5, "DOWN")));
  CHECK_FALSE(u.any_up);
  CHECK(u.changes.size() == 2);
  CHECK(u.reconnects == 0);
}

TEST_CASE("BrokerTracker: a transport error marks its node lost until seen up", "[kafka_stats]") {
  BrokerTracker tracker;
  auto u = tracker.Apply(*ParseBrokerStats(Sample("UP", 0, "UP")));
  CHECK(u.reconnects == 0);
  // Lost and back between two statistics, with the disconnect not yet counted.
  tracker.MarkDown(BrokerNodeFromTransportError("127.0.0.1:9093/2: Disconnected"));
  u = tracker.Apply(*ParseBrokerStats(Sample("UP", 0, "UP")));
  REQUIRE(u.changes.size() == 1);
  CHECK(u.changes[0].name == "127.0.0.1:9093/2");
  CHECK(u.changes[0].reconnected);
  CHECK(u.reconnects == 1);
  u = tracker.Apply(*ParseBrokerStats(Sample("UP", 0, "UP")));
  CHECK(u.reconnects == 0);
}
