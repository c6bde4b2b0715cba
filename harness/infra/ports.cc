// Free loopback ports, waiting for listeners, temporary directories; see ports.h.
#include "harness/infra/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/clock.h"
#include "common/log.h"

namespace ingestlab {

Result<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Io(std::string("socket: ") + strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd);
    return Status::Io(std::string("bind 127.0.0.1:0: ") + strerror(err));
  }
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    close(fd);
    return Status::Io(std::string("getsockname: ") + strerror(err));
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

static bool TcpConnects(const std::string& host, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    close(fd);
    return false;
  }
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

Status WaitForTcp(const std::string& host, int port, int64_t timeout_ms) {
  Clock& clock = Clock::System();
  const int64_t deadline = clock.NowMonoNanos() + timeout_ms * 1'000'000;
  while (true) {
    if (TcpConnects(host, port)) return Status::Ok();
    if (clock.NowMonoNanos() >= deadline) {
      return Status::Transient("nothing listening on " + host + ":" + std::to_string(port) +
                               " after " + std::to_string(timeout_ms) + " ms");
    }
    clock.SleepFor(std::chrono::milliseconds(10));
  }
}

Result<TempDir> TempDir::Create(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    return Status::Io("mkdtemp " + tmpl + ": " + strerror(errno));
  }
  return TempDir(tmpl);
}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

TempDir::~TempDir() { Remove(); }

void TempDir::Remove() {
  if (path_.empty()) return;
  const char* keep = std::getenv("INGEST_KEEP_TEMP");
  if (keep && std::string(keep) == "1") {
    LOG(kInfo, "tempdir") << "keeping " << path_ << " (INGEST_KEEP_TEMP=1)";
  } else {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  path_.clear();
}

}  // namespace ingestlab
