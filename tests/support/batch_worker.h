// The "writer" thread of the fake BatchSinks in the source tests and benchmarks: batches are
// handled one at a time, in the order they were submitted, on a thread of their own, as the
// pipeline's writer does.
// Thread-safety: Submit from any thread; `handle` runs on the worker thread only. The destructor
// handles every batch still queued, then joins; a Submit racing it may be refused. Declare the
// worker as the owning sink's last member, so it stops before what `handle` touches goes away.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include "system/pipeline_types.h"

namespace ingestlab::testing {

class BatchWorker {
 public:
  explicit BatchWorker(std::function<void(InboundBatch)> handle)
      : handle_(std::move(handle)), thread_([this] { Run(); }) {}
  ~BatchWorker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  BatchWorker(const BatchWorker&) = delete;
  BatchWorker& operator=(const BatchWorker&) = delete;

  // Queues `batch` for the worker; false (and the batch dropped) once the worker is stopping.
  bool Submit(InboundBatch batch) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return false;
    queue_.push_back(std::move(batch));
    cv_.notify_all();
    return true;
  }

 private:
  void Run() {
    while (true) {
      InboundBatch batch;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        batch = std::move(queue_.front());
        queue_.pop_front();
      }
      handle_(std::move(batch));
    }
  }

  const std::function<void(InboundBatch)> handle_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<InboundBatch> queue_;
  bool stop_ = false;
  std::thread thread_;  // last: it starts once everything above exists
};

}  // namespace ingestlab::testing
