// TcpProxy: one poll(2) event loop forwarding loopback connections with injected faults.
#include "harness/infra/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "common/rng.h"

namespace ingestlab {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxQueuedBytes = 4 * 1024 * 1024;  // per direction, then stop reading

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

void CloseWithReset(int fd) {
  if (fd < 0) return;
  struct linger l {};
  l.l_onoff = 1;
  l.l_linger = 0;
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

struct Chunk {
  int64_t due_ns = 0;
  std::string data;
  size_t offset = 0;
};

struct Direction {
  int from = -1;
  int to = -1;
  std::deque<Chunk> queue;
  size_t queued_bytes = 0;
  bool from_eof = false;
  bool shut_down = false;
  double tokens = 0;
  int64_t last_refill_ns = 0;
  int64_t last_due_ns = 0;
};

struct Connection {
  int client = -1;
  int upstream = -1;
  Direction up;    // client → upstream
  Direction down;  // upstream → client
  bool dead = false;
};

}  // namespace

struct TcpProxy::Impl {
  std::string upstream_host;
  int upstream_port = 0;
  int listen_fd = -1;
  int wake_fd = -1;
  Rng rng{1};
  Clock* clock = &Clock::System();

  std::atomic<bool> stop{false};
  std::atomic<bool> cut{false};
  std::atomic<bool> blackhole{false};
  std::atomic<bool> reset_requested{false};
  std::atomic<int64_t> latency_ms{0};
  std::atomic<int64_t> jitter_ms{0};
  std::atomic<int64_t> bandwidth_bps{0};

  std::vector<std::unique_ptr<Connection>> conns;

  int ConnectUpstream() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(upstream_port));
    inet_pton(AF_INET, upstream_host == "localhost" ? "127.0.0.1" : upstream_host.c_str(),
              &addr.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SetNonBlocking(fd);
    return fd;
  }

  void Accept(TcpProxy* owner) {
    for (;;) {
      int client = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (client < 0) return;
      owner->accepted_++;
      if (cut.load() && !blackhole.load()) {
        close(client);
        continue;
      }
      int one = 1;
      setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      int upstream = ConnectUpstream();
      if (upstream < 0) {
        close(client);
        continue;
      }
      auto c = std::make_unique<Connection>();
      c->client = client;
      c->upstream = upstream;
      c->up.from = client;
      c->up.to = upstream;
      c->down.from = upstream;
      c->down.to = client;
      const int64_t now = clock->NowMonoNanos();
      c->up.last_refill_ns = c->down.last_refill_ns = now;
      conns.push_back(std::move(c));
      owner->open_++;
    }
  }

  void Refill(Direction& d, int64_t now) {
    const int64_t bps = bandwidth_bps.load();
    if (bps <= 0) return;
    const double cap = std::max<double>(static_cast<double>(bps) / 20.0, 1024.0);
    d.tokens = std::min(cap, d.tokens + static_cast<double>(now - d.last_refill_ns) * 1e-9 *
                                            static_cast<double>(bps));
    d.last_refill_ns = now;
  }

  // Reads what is available from d.from into the delay queue.
  bool ReadInto(Direction& d, int64_t now) {
    char buf[kReadChunk];
    while (d.queued_bytes < kMaxQueuedBytes) {
      ssize_t n = read(d.from, buf, sizeof buf);
      if (n > 0) {
        Chunk chunk;
        int64_t delay_ms = latency_ms.load();
        const int64_t jitter = jitter_ms.load();
        if (jitter > 0) delay_ms += rng.Range(-jitter, jitter);
        chunk.due_ns = std::max(now + std::max<int64_t>(delay_ms, 0) * 1'000'000, d.last_due_ns);
        d.last_due_ns = chunk.due_ns;
        chunk.data.assign(buf, static_cast<size_t>(n));
        d.queued_bytes += chunk.data.size();
        d.queue.push_back(std::move(chunk));
        continue;
      }
      if (n == 0) {
        d.from_eof = true;
        return true;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR) continue;
      return false;
    }
    return true;
  }

  bool WriteFrom(Direction& d, int64_t now) {
    while (!d.queue.empty() && d.queue.front().due_ns <= now) {
      Chunk& chunk = d.queue.front();
      size_t want = chunk.data.size() - chunk.offset;
      if (bandwidth_bps.load() > 0) {
        Refill(d, now);
        if (d.tokens < 1) return true;
        want = std::min(want, static_cast<size_t>(d.tokens));
      }
      ssize_t n = send(d.to, chunk.data.data() + chunk.offset, want, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        if (errno == EINTR) continue;
        return false;
      }
      if (bandwidth_bps.load() > 0) d.tokens -= static_cast<double>(n);
      chunk.offset += static_cast<size_t>(n);
      d.queued_bytes -= static_cast<size_t>(n);
      if (chunk.offset == chunk.data.size()) d.queue.pop_front();
    }
    if (d.queue.empty() && d.from_eof && !d.shut_down) {
      shutdown(d.to, SHUT_WR);
      d.shut_down = true;
    }
    return true;
  }

  // Milliseconds until this direction can make progress on its own (-1: waits for I/O only).
  int64_t WaitMs(Direction& d, int64_t now) {
    if (d.queue.empty()) return -1;
    const int64_t due = d.queue.front().due_ns;
    if (due > now) return (due - now) / 1'000'000 + 1;
    if (bandwidth_bps.load() > 0 && d.tokens < 1) {
      return std::max<int64_t>(1, 1000 / std::max<int64_t>(1, bandwidth_bps.load() / 1024));
    }
    return -1;
  }

  void CloseConnection(TcpProxy* owner, Connection& c, bool reset) {
    if (c.dead) return;
    if (reset) {
      CloseWithReset(c.client);
      CloseWithReset(c.upstream);
    } else {
      close(c.client);
      close(c.upstream);
    }
    c.dead = true;
    owner->open_--;
  }

  void Loop(TcpProxy* owner) {
    std::vector<pollfd> fds;
    std::vector<std::pair<Connection*, Direction*>> refs;  // parallel to fds after the first two
    while (!stop.load()) {
      if (reset_requested.exchange(false)) {
        for (auto& c : conns) CloseConnection(owner, *c, /*reset=*/true);
      }
      if (cut.load() && !blackhole.load()) {
        for (auto& c : conns) CloseConnection(owner, *c, /*reset=*/false);
      }
      conns.erase(std::remove_if(conns.begin(), conns.end(),
                                 [](const std::unique_ptr<Connection>& c) { return c->dead; }),
                  conns.end());

      const bool frozen = cut.load() && blackhole.load();
      const int64_t now = clock->NowMonoNanos();
      int64_t timeout_ms = 100;
      fds.clear();
      refs.clear();
      fds.push_back({wake_fd, POLLIN, 0});
      fds.push_back({listen_fd, POLLIN, 0});
      for (auto& c : conns) {
        for (Direction* d : {&c->up, &c->down}) {
          short in_events = 0;
          short out_events = 0;
          if (!frozen && !d->from_eof && d->queued_bytes < kMaxQueuedBytes) in_events = POLLIN;
          if (!frozen && !d->queue.empty() && d->queue.front().due_ns <= now &&
              (bandwidth_bps.load() <= 0 || d->tokens >= 1)) {
            out_events = POLLOUT;
          }
          if (!frozen) {
            Refill(*d, now);
            int64_t w = WaitMs(*d, now);
            if (w >= 0) timeout_ms = std::min(timeout_ms, w);
          }
          fds.push_back({d->from, in_events, 0});
          refs.emplace_back(c.get(), d);
          fds.push_back({d->to, out_events, 0});
          refs.emplace_back(c.get(), d);
        }
      }
      int rc = poll(fds.data(), fds.size(), static_cast<int>(timeout_ms));
      if (rc < 0 && errno != EINTR) break;
      if (fds[0].revents & POLLIN) {
        uint64_t v;
        [[maybe_unused]] ssize_t n = read(wake_fd, &v, sizeof v);
      }
      if (fds[1].revents & POLLIN) Accept(owner);
      if (frozen) continue;
      const int64_t after = clock->NowMonoNanos();
      for (size_t i = 2; i < fds.size(); i += 2) {
        auto [conn, dir] = refs[i - 2];
        if (conn->dead) continue;
        const short rin = fds[i].revents;
        if ((rin & (POLLIN | POLLHUP | POLLERR)) && !dir->from_eof) {
          if (!ReadInto(*dir, after)) {
            CloseConnection(owner, *conn, /*reset=*/true);
            continue;
          }
        }
        if (fds[i + 1].revents & (POLLERR)) {
          CloseConnection(owner, *conn, /*reset=*/true);
          continue;
        }
        if (!WriteFrom(*dir, after)) {
          CloseConnection(owner, *conn, /*reset=*/true);
          continue;
        }
      }
      for (auto& c : conns) {
        if (!c->dead && c->up.shut_down && c->down.shut_down) CloseConnection(owner, *c, false);
      }
    }
    for (auto& c : conns) CloseConnection(owner, *c, /*reset=*/false);
    conns.clear();
  }
};

Result<std::unique_ptr<TcpProxy>> TcpProxy::Start(const std::string& upstream_host,
                                                  int upstream_port, int listen_port,
                                                  uint64_t seed) {
  std::unique_ptr<TcpProxy> proxy(new TcpProxy());
  proxy->impl_ = std::make_unique<Impl>();
  Impl& impl = *proxy->impl_;
  impl.upstream_host = upstream_host;
  impl.upstream_port = upstream_port;
  impl.rng = Rng(seed).Fork("tcp_proxy");
  impl.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (impl.listen_fd < 0) return Status::Io(std::string("tcp proxy: socket: ") + strerror(errno));
  int one = 1;
  setsockopt(impl.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(listen_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(impl.listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(impl.listen_fd, 128) != 0) {
    Status st = Status::Io("tcp proxy: cannot listen on 127.0.0.1:" + std::to_string(listen_port) +
                           ": " + strerror(errno));
    close(impl.listen_fd);
    return st;
  }
  socklen_t len = sizeof addr;
  getsockname(impl.listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  proxy->listen_port_ = ntohs(addr.sin_port);
  impl.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  TcpProxy* raw = proxy.get();
  proxy->thread_ = std::thread([raw] { raw->impl_->Loop(raw); });
  return proxy;
}

TcpProxy::~TcpProxy() {
  if (!impl_) return;
  impl_->stop = true;
  Wake();
  if (thread_.joinable()) thread_.join();
  close(impl_->listen_fd);
  close(impl_->wake_fd);
}

void TcpProxy::Wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(impl_->wake_fd, &one, sizeof one);
}

void TcpProxy::Cut(CutMode mode) {
  impl_->blackhole = mode == CutMode::kBlackhole;
  impl_->cut = true;
  Wake();
}

void TcpProxy::Restore() {
  impl_->cut = false;
  impl_->blackhole = false;
  Wake();
}

void TcpProxy::SetLatency(int64_t latency_ms, int64_t jitter_ms) {
  impl_->latency_ms = std::max<int64_t>(0, latency_ms);
  impl_->jitter_ms = std::max<int64_t>(0, jitter_ms);
  Wake();
}

void TcpProxy::SetBandwidth(int64_t bytes_per_second) {
  impl_->bandwidth_bps = std::max<int64_t>(0, bytes_per_second);
  Wake();
}

void TcpProxy::ResetAll() {
  impl_->reset_requested = true;
  Wake();
}

void TcpProxy::ClearFaults() {
  impl_->latency_ms = 0;
  impl_->jitter_ms = 0;
  impl_->bandwidth_bps = 0;
  Restore();
}

}  // namespace ingestlab
