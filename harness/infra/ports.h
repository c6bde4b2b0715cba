// Loopback networking and scratch space for tests and the harness: free ports, waiting for a
// listener, and a temporary directory removed when it goes out of scope.
// Thread-safety: free functions are safe from any thread; a TempDir has one owner.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace ingestlab {

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
Result<int> FreeLoopbackPort();

// Polls until something accepts TCP connections on host:port, or timeout_ms passes.
Status WaitForTcp(const std::string& host, int port, int64_t timeout_ms);

// A fresh directory (mkdtemp under $TMPDIR or /tmp), removed recursively on destruction unless
// INGEST_KEEP_TEMP=1 (then its path is logged so a failed run can be inspected).
class TempDir {
 public:
  static Result<TempDir> Create(const std::string& prefix = "ingestlab");
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  void Remove();
  std::string path_;
};

}  // namespace ingestlab
