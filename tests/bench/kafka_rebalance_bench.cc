// Rebalance latency of a three-member consumer group on librdkafka's mock cluster (docs/kafka.md,
// "Rebalance protocol and static membership"). 12 partitions, one message on each every 30 ms;
// one member is killed (destroyed without closing: no LeaveGroup, like kill -9) and restarted.
// Prints, per protocol (and with or without group.instance.id): how long until the dead
// member's partitions are consumed again, the longest pause on the survivors' partitions, how
// long the restarted member takes to consume, and the longest pause on partitions that stayed.
//
//   build/tests/kafka_rebalance_bench [range|cooperative-sticky ...] [--static]
//
// A plain program, not a Google Benchmark: each configuration takes about 30 s.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness/infra/kafka_cluster.h"

using namespace ingestlab;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr int kPartitions = 12;
constexpr int kSessionTimeoutMs = 6000;

double Ms(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// What every member reports: who owns each partition, and when each was last consumed.
struct Observed {
  std::mutex mu;
  std::map<int, int> owner;  // partition -> member (-1: none)
  std::map<int, SteadyClock::time_point> last_seen;
  std::map<int, double> max_gap_ms;
};

struct Member {
  int index = 0;
  Observed* observed = nullptr;
  rd_kafka_t* rk = nullptr;
  std::thread poller;
  std::atomic<bool> stop{false};
};

void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                 void* opaque) {
  auto* m = static_cast<Member*>(opaque);
  const bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
  {
    std::lock_guard<std::mutex> lock(m->observed->mu);
    for (int i = 0; i < parts->cnt; ++i) {
      int& owner = m->observed->owner[parts->elems[i].partition];
      if (assign) {
        owner = m->index;
      } else if (owner == m->index) {
        owner = -1;
      }
    }
  }
  if (std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0) {
    rd_kafka_error_t* e =
        assign ? rd_kafka_incremental_assign(rk, parts) : rd_kafka_incremental_unassign(rk, parts);
    if (e != nullptr) rd_kafka_error_destroy(e);
  } else {
    rd_kafka_assign(rk, assign ? parts : nullptr);
  }
}

bool Start(Member* m, const std::string& bootstrap, const std::string& strategy,
           bool static_membership) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  std::map<std::string, std::string> props = {
      {"bootstrap.servers", bootstrap},
      {"group.id", "rebalance-bench"},
      {"partition.assignment.strategy", strategy},
      {"session.timeout.ms", std::to_string(kSessionTimeoutMs)},
      {"heartbeat.interval.ms", "500"},
      {"fetch.wait.max.ms", "10"},
      {"auto.offset.reset", "latest"},
      {"log_level", "3"},
  };
  if (static_membership) props["group.instance.id"] = "member-" + std::to_string(m->index);
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "%s=%s: %s\n", k.c_str(), v.c_str(), err);
      rd_kafka_conf_destroy(conf);
      return false;
    }
  }
  rd_kafka_conf_set_rebalance_cb(conf, OnRebalance);
  rd_kafka_conf_set_opaque(conf, m);
  m->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (m->rk == nullptr) return false;
  rd_kafka_poll_set_consumer(m->rk);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, "rebalance", RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(m->rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  m->stop = false;
  m->poller = std::thread([m] {
    while (!m->stop.load()) {
      rd_kafka_message_t* msg = rd_kafka_consumer_poll(m->rk, 10);
      if (msg == nullptr) continue;
      if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const auto now = SteadyClock::now();
        std::lock_guard<std::mutex> lock(m->observed->mu);
        auto it = m->observed->last_seen.find(msg->partition);
        if (it != m->observed->last_seen.end()) {
          double& gap = m->observed->max_gap_ms[msg->partition];
          gap = std::max(gap, Ms(it->second, now));
        }
        m->observed->last_seen[msg->partition] = now;
      }
      rd_kafka_message_destroy(msg);
    }
  });
  return true;
}

void Stop(Member* m, bool crash) {
  if (m->rk == nullptr) return;
  m->stop = true;
  m->poller.join();
  if (crash) {
    rd_kafka_destroy_flags(m->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  } else {
    rd_kafka_consumer_close(m->rk);
    rd_kafka_destroy(m->rk);
  }
  m->rk = nullptr;
}

template <typename Pred>
bool WaitFor(Pred done, double max_ms) {
  const auto start = SteadyClock::now();
  while (!done() && Ms(start, SteadyClock::now()) < max_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

// One configuration; returns false if a step timed out.
bool Run(const std::string& strategy, bool static_membership) {
  KafkaClusterOptions options;
  options.create_default_topics = false;
  auto cluster = KafkaMockCluster::Start(options);
  if (!cluster.ok() || !(*cluster)->CreateTopic("rebalance", kPartitions, 3).ok()) return false;
  const std::string bootstrap = (*cluster)->bootstrap();
  auto producer = KafkaTestProducer::Create(bootstrap, {{"linger.ms", "1"}});
  if (!producer.ok()) return false;
  std::atomic<bool> stop_producing{false};
  std::thread producing([&] {
    for (int i = 0; !stop_producing.load(); ++i) {
      (void)(*producer)->Produce({"rebalance", i % kPartitions, "", "x", {}});
      std::this_thread::sleep_for(std::chrono::microseconds(2500));
    }
  });

  Observed observed;
  Member members[3];
  bool ok = true;
  for (int i = 0; i < 3; ++i) {
    members[i].index = i;
    members[i].observed = &observed;
    ok = ok && Start(&members[i], bootstrap, strategy, static_membership);
  }
  auto balanced = [&] {
    std::lock_guard<std::mutex> lock(observed.mu);
    std::set<int> owners;
    for (int p = 0; p < kPartitions; ++p) {
      auto it = observed.owner.find(p);
      if (it == observed.owner.end() || it->second < 0) return false;
      owners.insert(it->second);
    }
    return owners.size() == 3;
  };
  ok = ok && WaitFor(balanced, 60'000);
  std::this_thread::sleep_for(std::chrono::seconds(2));

  // Kill member 2.
  std::set<int> dead_parts, kept_parts;
  {
    std::lock_guard<std::mutex> lock(observed.mu);
    for (const auto& [p, o] : observed.owner) (o == 2 ? dead_parts : kept_parts).insert(p);
    observed.max_gap_ms.clear();
  }
  const auto killed_at = SteadyClock::now();
  Stop(&members[2], /*crash=*/true);
  ok = ok && WaitFor(
                 [&] {
                   std::lock_guard<std::mutex> lock(observed.mu);
                   for (int p : dead_parts) {
                     if (observed.last_seen[p] < killed_at) return false;
                   }
                   return true;
                 },
                 60'000);
  const double takeover_ms = Ms(killed_at, SteadyClock::now());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  double survivors_gap_ms = 0;
  std::map<int, int> before_restart;
  {
    std::lock_guard<std::mutex> lock(observed.mu);
    for (int p : kept_parts) survivors_gap_ms = std::max(survivors_gap_ms, observed.max_gap_ms[p]);
    observed.max_gap_ms.clear();
    before_restart = observed.owner;
  }

  // Restart it.
  const auto restarted_at = SteadyClock::now();
  ok = ok && Start(&members[2], bootstrap, strategy, static_membership);
  ok = ok && WaitFor(
                 [&] {
                   std::lock_guard<std::mutex> lock(observed.mu);
                   for (const auto& [p, o] : observed.owner) {
                     if (o == 2 && observed.last_seen[p] > restarted_at) return true;
                   }
                   return false;
                 },
                 60'000);
  const double rejoin_ms = Ms(restarted_at, SteadyClock::now());
  ok = ok && WaitFor(balanced, 30'000);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  double stayed_gap_ms = 0;
  {
    std::lock_guard<std::mutex> lock(observed.mu);
    for (int p = 0; p < kPartitions; ++p) {
      if (before_restart[p] == observed.owner[p]) {
        stayed_gap_ms = std::max(stayed_gap_ms, observed.max_gap_ms[p]);
      }
    }
  }

  std::printf("%-20s %-7s %10.0f %10.0f %10.0f %10.0f %s\n", strategy.c_str(),
              static_membership ? "static" : "dynamic", takeover_ms, survivors_gap_ms, rejoin_ms,
              stayed_gap_ms, ok ? "" : "(a step timed out)");
  std::fflush(stdout);
  stop_producing = true;
  producing.join();
  for (auto& m : members) Stop(&m, /*crash=*/false);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> strategies;
  bool static_membership = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--static") == 0) {
      static_membership = true;
    } else {
      strategies.emplace_back(argv[i]);
    }
  }
  if (strategies.empty()) strategies = {"range", "cooperative-sticky"};
  std::printf("%-20s %-7s %10s %10s %10s %10s   (ms; session.timeout.ms %d)\n", "strategy",
              "member", "takeover", "kill-gap", "rejoin", "stay-gap", kSessionTimeoutMs);
  bool ok = true;
  for (const auto& s : strategies) ok = Run(s, static_membership) && ok;
  return ok ? 0 : 1;
}
