// Publisher: the small interface simulated services publish through. Adapters for real brokers
// live in nats_publisher.cc (cnats: JetStream async publish, core NATS) and kafka_publisher.cc
// (librdkafka idempotent producer); only they touch a broker library. MemoryPublisher keeps
// messages in memory (tests, dry runs), StreamPublisher writes payloads as lines to a FILE*.
// A publish counts as acked only when the broker said so (PubAck, delivery report).
// Thread-safety: Publish and Flush may be called from several threads; `done` callbacks run on
// a broker library thread (or inline for MemoryPublisher) and must not block for long.
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "simulators/encoding.h"

namespace ingestlab::sim {

struct PublishOutcome {
  bool acked = false;
  std::string error;  // why it was not acked ("" when acked)
  int attempts = 1;   // publish attempts, counting retries
};
using PublishDone = std::function<void(const PublishOutcome&)>;

class Publisher {
 public:
  virtual ~Publisher() = default;
  virtual TransportKind transport() const = 0;

  // Publishes asynchronously. On OK, `done` is called exactly once, from any thread, when the
  // broker acknowledged the message or the publish finally failed (after retries, or at Close).
  // Blocks while too many publishes are in flight (backpressure). On a non-OK return `done` is
  // never called and nothing was sent.
  virtual Status Publish(const std::string& subject, const std::string& key,
                         const MessageHeaders& headers, std::string_view payload,
                         PublishDone done) = 0;
  // Waits up to `timeout` until every outstanding publish has completed. Transient if some are
  // still outstanding (their callbacks come later, at the latest from Close).
  virtual Status Flush(std::chrono::milliseconds timeout) = 0;
  // Fails whatever is still outstanding (done with acked=false) and disconnects. Idempotent.
  virtual void Close() = 0;
};

// Keeps every message; acks at once (or fails those whose subject is in fail_subjects).
class MemoryPublisher final : public Publisher {
 public:
  struct Message {
    std::string subject;
    std::string key;
    MessageHeaders headers;
    std::string payload;
  };
  explicit MemoryPublisher(TransportKind transport = TransportKind::kJetStream)
      : transport_(transport) {}
  TransportKind transport() const override { return transport_; }
  Status Publish(const std::string& subject, const std::string& key, const MessageHeaders& headers,
                 std::string_view payload, PublishDone done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      messages_.push_back({subject, key, headers, std::string(payload)});
    }
    done(PublishOutcome{true, "", 1});
    return Status::Ok();
  }
  Status Flush(std::chrono::milliseconds) override { return Status::Ok(); }
  void Close() override {}
  std::vector<Message> messages() const {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }

 private:
  TransportKind transport_;
  mutable std::mutex mu_;
  std::vector<Message> messages_;
};

// Writes "<subject>\t<payload>\n" per message to a stream (dry runs: `simulate --print`).
class StreamPublisher final : public Publisher {
 public:
  StreamPublisher(std::FILE* out, TransportKind transport) : out_(out), transport_(transport) {}
  TransportKind transport() const override { return transport_; }
  Status Publish(const std::string& subject, const std::string&, const MessageHeaders&,
                 std::string_view payload, PublishDone done) override {
    flockfile(out_);  // whole lines, even with several publishers on one stream
    std::fwrite(subject.data(), 1, subject.size(), out_);
    std::fputc('\t', out_);
    std::fwrite(payload.data(), 1, payload.size(), out_);
    std::fputc('\n', out_);
    funlockfile(out_);
    done(PublishOutcome{true, "", 1});
    return Status::Ok();
  }
  Status Flush(std::chrono::milliseconds) override {
    std::fflush(out_);
    return Status::Ok();
  }
  void Close() override { Flush(std::chrono::milliseconds(0)); }

 private:
  std::FILE* out_;
  TransportKind transport_;
};

}  // namespace ingestlab::sim
