// The mixed-soak Kafka stall, reduced: librdkafka's mock cluster accept()s its broker
// connections without close-on-exec, so a child process forked and exec'd while they are open
// holds a copy of each. When a mock broker goes down it closes its connections, but the copies
// keep them open: the clients never learn they were cut, keep sending requests nobody reads, and
// stall for good (the soak's ingestd restart was such a child). ChildProcess now hands the child
// stdin, stdout and stderr only; these tests hold it to that and check that a bare librdkafka
// producer and consumer get over a 4 s broker outage while a child runs.
#include <dirent.h>
#include <librdkafka/rdkafka.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "harness/infra/kafka_cluster.h"
#include "harness/infra/process.h"

using namespace ingestlab;
using namespace std::chrono_literals;

namespace {

std::set<int> OpenDescriptors(pid_t pid) {
  std::set<int> fds;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return fds;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') fds.insert(std::stoi(e->d_name));
  }
  closedir(d);
  return fds;
}

rd_kafka_conf_t* Conf(const std::map<std::string, std::string>& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : props) {
    REQUIRE(rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) == RD_KAFKA_CONF_OK);
  }
  return conf;
}

}  // namespace

TEST_CASE("a spawned child holds no descriptor of ours but stdin, stdout and stderr", "[process]") {
  // Opened the way librdkafka's mock accepts connections: without close-on-exec.
  const int sock = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(sock >= 0);
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);

  auto child = ChildProcess::Spawn({"sleep", {"30"}, {}, "", ""});
  REQUIRE(child.ok());
  // Spawn returns once exec succeeded, so these are the program's own descriptors. Right after
  // exec the dynamic loader may still hold a library open for a moment (as fd 3), so look
  // until the set settles; a descriptor inherited from us would stay.
  std::set<int> fds;
  for (int i = 0; i < 100; ++i) {
    fds = OpenDescriptors((*child)->pid());
    if (fds == std::set<int>{0, 1, 2}) break;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(fds == std::set<int>{0, 1, 2});
  (*child)->Stop(1'000);
  close(sock);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

TEST_CASE("a 4 s mock broker outage while a child process runs: producer and consumer recover",
          "[kafka]") {
  KafkaClusterOptions options;
  options.create_default_topics = false;
  auto started = KafkaMockCluster::Start(options);
  REQUIRE(started.ok());
  auto cluster = std::move(started).value();
  REQUIRE(cluster->CreateTopic("orders", 4, 3).ok());
  for (int p = 0; p < 4; ++p) REQUIRE(cluster->SetPartitionLeader("orders", p, p % 2 + 1).ok());

  // The simulator's producer settings; delivery reports record the offsets acked per partition.
  std::mutex mu;
  std::map<int32_t, int64_t> acked_next, consumed_next;
  int failed = 0;
  struct Opaque {
    std::mutex* mu;
    std::map<int32_t, int64_t>* acked_next;
    int* failed;
  } opaque{&mu, &acked_next, &failed};
  rd_kafka_conf_t* pconf = Conf({{"bootstrap.servers", cluster->bootstrap()},
                                 {"enable.idempotence", "true"},
                                 {"acks", "all"},
                                 {"linger.ms", "5"},
                                 {"message.timeout.ms", "60000"}});
  rd_kafka_conf_set_opaque(pconf, &opaque);
  rd_kafka_conf_set_dr_msg_cb(pconf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* o) {
    auto* op = static_cast<Opaque*>(o);
    std::lock_guard<std::mutex> lock(*op->mu);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      (*op->failed)++;
      return;
    }
    int64_t& next = (*op->acked_next)[m->partition];
    next = std::max(next, m->offset + 1);
  });
  char err[512];
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof(err));
  REQUIRE(producer != nullptr);

  // A plain consumer of every partition from the start (no group: no join delay).
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER,
                                      Conf({{"bootstrap.servers", cluster->bootstrap()},
                                            {"group.id", "child-outage"},
                                            {"enable.auto.commit", "false"},
                                            {"fetch.wait.max.ms", "10"}}),
                                      err, sizeof(err));
  REQUIRE(consumer != nullptr);
  rd_kafka_poll_set_consumer(consumer);
  rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(4);
  for (int p = 0; p < 4; ++p) {
    rd_kafka_topic_partition_list_add(assignment, "orders", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  REQUIRE(rd_kafka_assign(consumer, assignment) == RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(assignment);

  std::atomic<bool> stop_producing{false}, stop{false};
  std::atomic<int> produce_errors{0};
  std::thread producing([&] {
    for (int i = 0; !stop_producing.load(); ++i) {
      const std::string key = "k" + std::to_string(i % 31), value = "m" + std::to_string(i);
      if (rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("orders"),
                            RD_KAFKA_V_KEY(key.data(), key.size()),
                            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_END) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        produce_errors++;
      }
      rd_kafka_poll(producer, 0);
      std::this_thread::sleep_for(4ms);
    }
  });
  std::thread consuming([&] {
    while (!stop.load()) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 20);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::lock_guard<std::mutex> lock(mu);
        int64_t& next = consumed_next[m->partition];
        next = std::max(next, m->offset + 1);
      }
      rd_kafka_message_destroy(m);
    }
  });

  // Both clients are connected to every broker by now; the child inherits whatever leaks.
  std::this_thread::sleep_for(1500ms);
  auto child = ChildProcess::Spawn({"sleep", {"60"}, {}, "", ""});
  REQUIRE(child.ok());
  REQUIRE(cluster->BrokerDown(1).ok());
  std::this_thread::sleep_for(4s);
  REQUIRE(cluster->BrokerUp(1).ok());
  std::this_thread::sleep_for(3s);
  stop_producing = true;
  producing.join();

  // Every message is delivered: nothing waits on a connection the broker closed.
  const rd_kafka_resp_err_t flushed = rd_kafka_flush(producer, 15'000);
  INFO("undelivered " << rd_kafka_outq_len(producer));
  CHECK(flushed == RD_KAFKA_RESP_ERR_NO_ERROR);
  CHECK(produce_errors.load() == 0);

  // And the consumer reads every acked offset of every partition, broker 1's included.
  auto caught_up = [&] {
    std::lock_guard<std::mutex> lock(mu);
    if (acked_next.size() != 4) return false;
    for (const auto& [p, next] : acked_next) {
      if (consumed_next[p] < next) return false;
    }
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (!caught_up() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  std::string progress;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [p, next] : acked_next) {
      progress += "\n  orders/" + std::to_string(p) + ": acked up to " + std::to_string(next) +
                  ", consumed up to " + std::to_string(consumed_next[p]);
    }
    CHECK(failed == 0);
  }
  INFO("per partition:" << progress);
  CHECK(caught_up());

  stop = true;
  consuming.join();
  (*child)->Stop(1'000);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  rd_kafka_destroy(producer);
}
