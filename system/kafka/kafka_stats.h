// Broker health from librdkafka: the statistics JSON (statistics.interval.ms) and the transport
// errors, apart from librdkafka itself so that it can be tested alone
// (tests/unit/kafka_stats_test.cc). KafkaSource feeds it from its poll thread.
//
// - ParseBrokerStats reads the "brokers" object of one statistics JSON into one entry a node id.
//   A node can appear more than once (a bootstrap connection that learned its id, logical
//   brokers such as "GroupCoordinator"); entries without a node id or without "host:port" in
//   their name are left out. A node is up if any of its connections is in state "UP"; its
//   disconnects are summed; its name is the first non-bootstrap connection's (else the
//   bootstrap one's). Not JSON, or no "brokers": nullopt.
// - BrokerNodeFromTransportError takes the node id from a transport error's reason
//   ("127.0.0.1:9092/1: Disconnected ..." → "1"); empty when it names none.
// - BrokerTracker remembers each node between statistics and says what changed: a node seen up
//   that is now down ("down"), and a node up again after being down, or up with more disconnects
//   than when it was last seen up ("reconnected": one reconnect each). A transport error marks
//   its node as lost (MarkDown) until the statistics see it up again.
//
// Not thread-safe: KafkaSource calls it from the poll thread only (statistics and error
// callbacks).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ingestlab {

struct BrokerNodeStats {
  bool up = false;
  int64_t disconnects = 0;
  std::string name;  // "127.0.0.1:9092/1"
};

// Node id ("1") → its state in one statistics JSON.
using BrokerStats = std::map<std::string, BrokerNodeStats>;

std::optional<BrokerStats> ParseBrokerStats(std::string_view json);

std::string BrokerNodeFromTransportError(const char* reason);

class BrokerTracker {
 public:
  struct Change {
    std::string name;  // the node's name in the statistics
    bool reconnected;  // false: went down
  };
  struct Update {
    bool any_up = false;
    std::vector<Change> changes;  // in node id order
    int reconnects = 0;           // the reconnected changes
  };

  Update Apply(const BrokerStats& nodes);
  void MarkDown(const std::string& node);

 private:
  struct Seen {
    bool up = false;
    bool ever_up = false;
    bool was_down = false;  // lost since last seen up (stats or a transport error)
    int64_t disconnects_at_up = 0;
  };
  std::map<std::string, Seen> seen_;
};

}  // namespace ingestlab
