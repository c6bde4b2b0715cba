// Specification of the fault-injecting TCP proxy, against a loopback echo server.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "harness/infra/tcp_proxy.h"

using namespace ingestlab;
using Ms = std::chrono::milliseconds;

namespace {

// Echoes every byte back, one thread per connection; stops when destroyed.
class EchoServer {
 public:
  EchoServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(fd_, 16) == 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~EchoServer() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
    for (auto& t : workers_) t.join();
  }
  int port() const { return port_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      workers_.emplace_back([this, c] {
        char buf[4096];
        while (!stop_) {
          pollfd q{c, POLLIN, 0};
          if (poll(&q, 1, 50) <= 0) continue;
          ssize_t n = read(c, buf, sizeof buf);
          if (n <= 0) break;
          if (write(c, buf, static_cast<size_t>(n)) != n) break;
        }
        close(c);
      });
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> workers_;
};

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends `text` and reads the echo. Returns what came back ("" on close, "ERR:<errno>" on error,
// "TIMEOUT" when nothing arrives within timeout_ms).
std::string RoundTrip(int fd, const std::string& text, int timeout_ms = 2000) {
  if (send(fd, text.data(), text.size(), MSG_NOSIGNAL) < 0) return "ERR:" + std::to_string(errno);
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + Ms(timeout_ms);
  while (got.size() < text.size()) {
    auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return "TIMEOUT";
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) return got;
    if (n < 0) return "ERR:" + std::to_string(errno);
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

int64_t ElapsedMs(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - since).count();
}

// Connects through the proxy on `port` and checks that `probe` comes back; the connection.
int ConnectEchoing(int port, const std::string& probe) {
  const int fd = Connect(port);
  REQUIRE(fd >= 0);
  CHECK(RoundTrip(fd, probe) == probe);
  return fd;
}

}  // namespace

TEST_CASE("the proxy forwards bytes both ways and injects faults on demand") {
  EchoServer echo;
  auto proxy_or = TcpProxy::Start("127.0.0.1", echo.port(), 0, 1);
  REQUIRE(proxy_or.ok());
  auto& proxy = *proxy_or;

  SECTION("without faults it is transparent") {
    int fd = ConnectEchoing(proxy->port(), "hello");
    std::string big(200000, 'x');
    CHECK(RoundTrip(fd, big).size() == big.size());
    close(fd);
  }

  SECTION("latency delays every round trip") {
    proxy->SetLatency(60, 10);
    int fd = Connect(proxy->port());
    REQUIRE(fd >= 0);
    auto start = std::chrono::steady_clock::now();
    CHECK(RoundTrip(fd, "ping") == "ping");
    // Both directions are delayed: at least 2 × (60 - 10) ms.
    CHECK(ElapsedMs(start) >= 100);
    proxy->SetLatency(0, 0);
    start = std::chrono::steady_clock::now();
    CHECK(RoundTrip(fd, "pong") == "pong");
    CHECK(ElapsedMs(start) < 100);
    close(fd);
  }

  SECTION("cut closes open connections and refuses new ones until restored") {
    int fd = ConnectEchoing(proxy->port(), "before");
    proxy->Cut(CutMode::kClose);
    std::string after = RoundTrip(fd, "during");
    CHECK(after != "during");
    close(fd);
    int fd2 = Connect(proxy->port());
    if (fd2 >= 0) {
      CHECK(RoundTrip(fd2, "refused") != "refused");
      close(fd2);
    }
    proxy->Restore();
    int fd3 = ConnectEchoing(proxy->port(), "again");
    close(fd3);
  }

  SECTION("a blackhole cut stalls traffic without closing, and restore releases it") {
    int fd = ConnectEchoing(proxy->port(), "a");
    proxy->Cut(CutMode::kBlackhole);
    std::this_thread::sleep_for(Ms(30));
    CHECK(RoundTrip(fd, "stalled", 300) == "TIMEOUT");
    proxy->Restore();
    // The stalled bytes arrive after the restore.
    std::string got;
    char buf[64];
    pollfd p{fd, POLLIN, 0};
    while (got.size() < 7 && poll(&p, 1, 2000) > 0) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    CHECK(got == "stalled");
    close(fd);
  }

  SECTION("reset aborts open connections with RST") {
    int fd = ConnectEchoing(proxy->port(), "x");
    REQUIRE(proxy->open_connections() == 1);
    proxy->ResetAll();
    std::this_thread::sleep_for(Ms(50));
    char buf[8];
    ssize_t n = read(fd, buf, sizeof buf);
    CHECK(n < 0);
    CHECK(errno == ECONNRESET);
    CHECK(proxy->open_connections() == 0);
    close(fd);
    // New connections still work: reset is one-shot.
    int fd2 = Connect(proxy->port());
    CHECK(RoundTrip(fd2, "y") == "y");
    close(fd2);
  }

  SECTION("bandwidth limits throughput") {
    proxy->SetBandwidth(100 * 1024);  // 100 KiB/s each way
    int fd = Connect(proxy->port());
    REQUIRE(fd >= 0);
    std::string payload(60 * 1024, 'b');
    auto start = std::chrono::steady_clock::now();
    CHECK(RoundTrip(fd, payload, 5000).size() == payload.size());
    // 60 KiB at 100 KiB/s is ~0.6 s (less the initial burst allowance).
    CHECK(ElapsedMs(start) >= 400);
    close(fd);
  }
}

TEST_CASE("a proxy whose upstream is down closes client connections") {
  int dead_port;
  {
    EchoServer gone;
    dead_port = gone.port();
  }
  auto proxy = TcpProxy::Start("127.0.0.1", dead_port, 0, 1);
  REQUIRE(proxy.ok());
  int fd = Connect((*proxy)->port());
  if (fd >= 0) {
    CHECK(RoundTrip(fd, "nobody", 1000) != "nobody");
    close(fd);
  }
}
