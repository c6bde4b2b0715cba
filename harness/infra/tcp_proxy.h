// TcpProxy: a loopback TCP proxy in front of one upstream (a nats-server node), through which
// the harness injects network faults between ingestd and its broker — Toxiproxy's set:
//   Cut(close)     drop every connection and refuse new ones (accepted, then closed at once)
//   Cut(blackhole) keep connections open but forward nothing (a silent partition)
//   Restore()      undo a cut
//   SetLatency     delay every chunk by latency ± jitter (order preserved)
//   SetBandwidth   cap bytes per second per direction (0 = unlimited)
//   ResetAll()     abort every open connection with a TCP RST
// One event-loop thread owns every socket; the control methods are safe from any thread and
// take effect within a few milliseconds.
// Thread-safety: all public methods are safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace ingestlab {

enum class CutMode { kClose, kBlackhole };

class TcpProxy {
 public:
  // Listens on 127.0.0.1:listen_port (0 = any free port) and forwards to upstream_host:port.
  // `seed` drives the jitter.
  static Result<std::unique_ptr<TcpProxy>> Start(const std::string& upstream_host,
                                                 int upstream_port, int listen_port = 0,
                                                 uint64_t seed = 1);
  ~TcpProxy();  // closes everything, joins the thread
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return listen_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(listen_port_); }

  void Cut(CutMode mode = CutMode::kClose);
  void Restore();
  void SetLatency(int64_t latency_ms, int64_t jitter_ms);
  void SetBandwidth(int64_t bytes_per_second);
  void ResetAll();
  // Clears every fault (cut, latency, bandwidth).
  void ClearFaults();

  int64_t connections_accepted() const { return accepted_.load(); }
  int open_connections() const { return open_.load(); }

 private:
  struct Impl;
  TcpProxy() = default;
  void Wake();

  std::unique_ptr<Impl> impl_;
  int listen_port_ = 0;
  std::atomic<int64_t> accepted_{0};
  std::atomic<int> open_{0};
  std::thread thread_;
};

}  // namespace ingestlab
