// Specification of NatsCluster and ChildProcess: real nats-server nodes start with JetStream
// ready, keep their data across a restart, and leave no process behind.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nats/nats.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "harness/infra/nats_cluster.h"
#include "harness/infra/ports.h"
#include "harness/infra/process.h"
#include "tests/integration/nats_test_util.h"

using namespace ingestlab;

namespace {

NatsClusterOptions ClusterOptions(int nodes, const std::string& dir) {
  NatsClusterOptions options;
  options.nodes = nodes;
  options.dir = dir;
  return options;
}

// A JetStream context on a plain connection to `urls` (comma-separated, no reconnects).
class JsConnection {
 public:
  explicit JsConnection(const std::string& urls) {
    REQUIRE(natsOptions_Create(&opts_) == NATS_OK);
    REQUIRE(ingestlab::testing::SetNatsServers(opts_, urls) == NATS_OK);
    REQUIRE(natsConnection_Connect(&nc_, opts_) == NATS_OK);
    REQUIRE(natsConnection_JetStream(&js_, nc_, nullptr) == NATS_OK);
  }
  ~JsConnection() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
    natsOptions_Destroy(opts_);
  }
  JsConnection(const JsConnection&) = delete;
  JsConnection& operator=(const JsConnection&) = delete;
  jsCtx* js() { return js_; }

 private:
  natsOptions* opts_ = nullptr;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

bool ProcessExists(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

// utime + stime of `pid` in clock ticks, -1 if unreadable.
long CpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  long utime = -1, stime = -1;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stol(field);
    if (i == 15) {
      stime = std::stol(field);
      break;
    }
  }
  return utime < 0 || stime < 0 ? -1 : utime + stime;
}

nlohmann::json GetJson(const std::string& base_url, const std::string& path) {
  httplib::Client client(base_url);
  auto res = client.Get(path.c_str());
  REQUIRE(res);
  REQUIRE(res->status == 200);
  return nlohmann::json::parse(res->body);
}

// Creates stream TEST (subjects test.>, given replicas) and publishes `n` messages.
void CreateStreamAndPublish(const std::string& urls, int replicas, int n) {
  JsConnection conn(urls);
  jsCtx* js = conn.js();
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = "TEST";
  const char* subjects[] = {"test.>"};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = replicas;
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  REQUIRE(js_AddStream(&si, js, &cfg, nullptr, &jerr) == NATS_OK);
  jsStreamInfo_Destroy(si);
  for (int i = 0; i < n; ++i) {
    jsPubAck* ack = nullptr;
    REQUIRE(js_Publish(&ack, js, "test.x", "hello", 5, nullptr, &jerr) == NATS_OK);
    jsPubAck_Destroy(ack);
  }
}

uint64_t StreamMessages(const std::string& urls) {
  JsConnection conn(urls);
  jsCtx* js = conn.js();
  jsStreamInfo* si = nullptr;
  uint64_t msgs = 0;
  // A restarted cluster may need a moment to elect a stream leader.
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (js_GetStreamInfo(&si, js, "TEST", nullptr, nullptr) == NATS_OK) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(si != nullptr);
  msgs = si->State.Msgs;
  jsStreamInfo_Destroy(si);
  return msgs;
}

}  // namespace

TEST_CASE("ChildProcess runs a program, reports how it ended, and leaves nothing behind") {
  auto dir = TempDir::Create("proc-test");
  REQUIRE(dir.ok());
  SECTION("exit code and log file") {
    auto child = ChildProcess::Spawn(
        {"/bin/sh", {"-c", "echo out; echo err >&2; exit 3"}, {}, dir->Sub("log"), ""});
    REQUIRE(child.ok());
    auto how = (*child)->WaitExit(5000);
    REQUIRE(how.ok());
    CHECK(how->exited);
    CHECK(how->code == 3);
    CHECK((*child)->LogTail() == "out\nerr\n");
  }
  SECTION("environment reaches the child") {
    auto child = ChildProcess::Spawn(
        {"/bin/sh", {"-c", "echo $INGEST_X"}, {{"INGEST_X", "42"}}, dir->Sub("log"), ""});
    REQUIRE(child.ok());
    REQUIRE((*child)->WaitExit(5000).ok());
    CHECK((*child)->LogTail() == "42\n");
  }
  SECTION("a missing program is a clear error") {
    auto child = ChildProcess::Spawn({"no-such-program-xyz", {}, {}, "", ""});
    REQUIRE(!child.ok());
    CHECK(child.status().message().find("no-such-program-xyz") != std::string::npos);
  }
  SECTION("Stop sends SIGTERM, then SIGKILL to a process that ignores it") {
    auto child = ChildProcess::Spawn(
        {"/bin/sh", {"-c", "trap '' TERM; while true; do sleep 0.05; done"}, {}, "", ""});
    REQUIRE(child.ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ExitStatus how = (*child)->Stop(300);
    CHECK(!how.exited);
    CHECK(how.signal == SIGKILL);
  }
  SECTION("a child started from a thread that has ended keeps running") {
    std::unique_ptr<ChildProcess> child;
    std::thread([&] {
      auto c = ChildProcess::Spawn({"sleep", {"30"}, {}, "", ""});
      if (c.ok()) child = std::move(c).value();
    }).join();
    REQUIRE(child);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(child->Running());
  }
  SECTION("Suspend returns only once the child has stopped running") {
    auto child = ChildProcess::Spawn(
        {"/bin/sh", {"-c", "while true; do :; done"}, {}, "", ""});
    REQUIRE(child.ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE((*child)->Suspend().ok());
    const long before = CpuTicks((*child)->pid());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(before >= 0);
    CHECK(CpuTicks((*child)->pid()) == before);  // a busy loop that ran would gain ~30 ticks
    REQUIRE((*child)->Signal(SIGCONT).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(CpuTicks((*child)->pid()) > before);
  }
  SECTION("the destructor kills and reaps a running child") {
    pid_t pid = 0;
    {
      auto child = ChildProcess::Spawn({"sleep", {"30"}, {}, "", ""});
      REQUIRE(child.ok());
      pid = (*child)->pid();
      CHECK(ProcessExists(pid));
    }
    CHECK(!ProcessExists(pid));  // reaped: not even a zombie
  }
}

TEST_CASE("A 1-node NATS cluster starts with JetStream and keeps its data across a restart") {
  auto dir = TempDir::Create("nats-1");
  REQUIRE(dir.ok());
  pid_t first_pid = 0, second_pid = 0;
  {
    auto cluster = NatsCluster::Start(ClusterOptions(1, dir->path()));
    REQUIRE(cluster.ok());
    NatsCluster& c = **cluster;
    CHECK(c.urls() == c.url(0));
    CHECK(c.urls().rfind("nats://127.0.0.1:", 0) == 0);
    auto jsz = GetJson(c.monitoring_url(0), "/jsz");
    CHECK(jsz.contains("config"));  // JetStream is enabled
    first_pid = c.pid(0);
    CHECK(ProcessExists(first_pid));

    CreateStreamAndPublish(c.urls(), 1, 10);
    REQUIRE(c.Restart(0).ok());
    second_pid = c.pid(0);
    CHECK(second_pid != first_pid);
    CHECK(!ProcessExists(first_pid));
    CHECK(StreamMessages(c.urls()) == 10);

    SECTION("Pause stops the node from answering until Resume") {
      REQUIRE(c.Pause(0).ok());
      httplib::Client client(c.monitoring_url(0));
      client.set_read_timeout(0, 300'000);
      CHECK(!client.Get("/healthz"));
      REQUIRE(c.Resume(0).ok());
      CHECK(c.WaitReady(0, 5000).ok());
    }
    SECTION("Kill takes the node down; Restart brings it back") {
      REQUIRE(c.Kill(0).ok());
      CHECK(!c.running(0));
      CHECK(!ProcessExists(second_pid));
      REQUIRE(c.Restart(0).ok());
      CHECK(c.running(0));
      CHECK(StreamMessages(c.urls()) == 10);
      second_pid = c.pid(0);
    }
  }
  CHECK(!ProcessExists(first_pid));
  CHECK(!ProcessExists(second_pid));
}

TEST_CASE("A 3-node NATS cluster elects a JetStream meta leader and survives a node restart") {
  auto dir = TempDir::Create("nats-3");
  REQUIRE(dir.ok());
  std::vector<pid_t> pids;
  {
    auto cluster = NatsCluster::Start(ClusterOptions(3, dir->path()));
    REQUIRE(cluster.ok());
    NatsCluster& c = **cluster;
    CHECK(c.url_list().size() == 3);
    const std::string urls = c.urls();
    CHECK(std::count(urls.begin(), urls.end(), ',') == 2);
    for (int i = 0; i < 3; ++i) {
      pids.push_back(c.pid(i));
      auto jsz = GetJson(c.monitoring_url(i), "/jsz");
      REQUIRE(jsz.contains("meta_cluster"));
      CHECK(jsz["meta_cluster"]["leader"].get<std::string>() != "");
      CHECK(jsz["meta_cluster"]["cluster_size"].get<int>() == 3);
    }
    CreateStreamAndPublish(c.urls(), 3, 5);
    REQUIRE(c.Restart(1).ok());
    pids.push_back(c.pid(1));
    CHECK(StreamMessages(c.urls()) == 5);
  }
  for (pid_t pid : pids) CHECK(!ProcessExists(pid));
}

TEST_CASE("NatsCluster reports a bad node count and a missing binary clearly") {
  auto dir = TempDir::Create("nats-bad");
  REQUIRE(dir.ok());
  auto two = NatsCluster::Start(ClusterOptions(2, dir->path()));
  CHECK(!two.ok());
  NatsClusterOptions options = ClusterOptions(1, dir->path());
  options.server_binary = "nats-server-nope";
  auto missing = NatsCluster::Start(options);
  REQUIRE(!missing.ok());
  CHECK(missing.status().message() == "nats-server-nope not found: apt-get install nats-server");
}
