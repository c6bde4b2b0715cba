// Test helpers for the NATS integration tests: a synchronous JetStream client (publish with
// headers, stream / consumer info, last message on a subject) and polling with a deadline.
// Thread-safety: a JsTestClient is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nats/nats.h>

#include "harness/infra/jetstream_stream.h"
#include "tests/support/wait.h"

namespace ingestlab::testing {

// Polls `done` every 10 ms until it returns true or timeout_ms passes; returns its last value.
// (tests/support/wait.h has the std::chrono form.)
inline bool WaitUntil(const std::function<bool()>& done, int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

inline void CheckNats(natsStatus s, const std::string& what) {
  if (s != NATS_OK) throw std::runtime_error(what + ": " + natsStatus_GetText(s));
}

// Sets the servers of `opts` from a comma-separated list of URLs.
inline natsStatus SetNatsServers(natsOptions* opts, const std::string& urls) {
  std::vector<std::string> list;
  size_t start = 0;
  while (start <= urls.size()) {
    size_t comma = urls.find(',', start);
    if (comma == std::string::npos) comma = urls.size();
    list.push_back(urls.substr(start, comma - start));
    start = comma + 1;
  }
  std::vector<const char*> ptrs;
  for (auto& u : list) ptrs.push_back(u.c_str());
  return natsOptions_SetServers(opts, ptrs.data(), static_cast<int>(ptrs.size()));
}

// Options for `urls` (comma-separated) that reconnect forever, every 100 ms, buffering up to
// 64 MiB of publishes meanwhile, so a client survives broker restarts. The caller destroys them.
inline natsOptions* ReconnectingOptions(const std::string& urls) {
  natsOptions* opts = nullptr;
  CheckNats(natsOptions_Create(&opts), "options");
  CheckNats(SetNatsServers(opts, urls), "servers " + urls);
  natsOptions_SetMaxReconnect(opts, -1);
  natsOptions_SetReconnectWait(opts, 100);
  natsOptions_SetReconnectBufSize(opts, 64 << 20);
  return opts;
}

struct ReceivedMessage {
  std::string subject;
  std::string payload;
  std::map<std::string, std::string> headers;
  uint64_t sequence = 0;
};

class JsTestClient {
 public:
  // urls: comma-separated. Reconnects forever, so it survives broker restarts.
  explicit JsTestClient(const std::string& urls) {
    natsOptions* opts = ReconnectingOptions(urls);
    CheckNats(natsConnection_Connect(&nc_, opts), "connect " + urls);
    natsOptions_Destroy(opts);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    jo.PublishAsync.MaxPending = 4096;
    CheckNats(natsConnection_JetStream(&js_, nc_, &jo), "jetstream");
  }
  ~JsTestClient() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);
  }
  JsTestClient(const JsTestClient&) = delete;
  JsTestClient& operator=(const JsTestClient&) = delete;

  jsCtx* js() { return js_; }
  natsConnection* nc() { return nc_; }

  // Publishes and waits for the PubAck; returns the status (no throw) so callers can retry.
  natsStatus Publish(const std::string& subject, const std::string& payload,
                     const std::vector<std::pair<std::string, std::string>>& headers = {},
                     int64_t wait_ms = 5000, bool* duplicate = nullptr) {
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(),
                                  static_cast<int>(payload.size()));
    if (s != NATS_OK) return s;
    for (const auto& [k, v] : headers) natsMsgHeader_Add(msg, k.c_str(), v.c_str());
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = wait_ms;
    jsPubAck* ack = nullptr;
    s = js_PublishMsg(&ack, js_, msg, &po, nullptr);
    natsMsg_Destroy(msg);
    if (s == NATS_OK) {
      if (duplicate) *duplicate = ack->Duplicate;
      jsPubAck_Destroy(ack);
    }
    return s;
  }

  // Publishes until a PubAck arrives (the broker may be restarting).
  void PublishRetrying(const std::string& subject, const std::string& payload,
                       const std::vector<std::pair<std::string, std::string>>& headers = {},
                       int64_t timeout_ms = 30'000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      natsStatus s = Publish(subject, payload, headers, 1000);
      if (s == NATS_OK) return;
      if (std::chrono::steady_clock::now() >= deadline) CheckNats(s, "publish " + subject);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // Subjects of a stream, or empty if it does not exist.
  std::vector<std::string> StreamSubjects(const std::string& stream) {
    jsStreamInfo* si = nullptr;
    std::vector<std::string> out;
    if (js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, nullptr) != NATS_OK) return out;
    for (int i = 0; i < si->Config->SubjectsLen; ++i) out.push_back(si->Config->Subjects[i]);
    jsStreamInfo_Destroy(si);
    return out;
  }

  // Runs `f` on the stream's info; false if the stream does not exist.
  bool WithStreamInfo(const std::string& stream, const std::function<void(jsStreamInfo*)>& f) {
    jsStreamInfo* si = nullptr;
    if (js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, nullptr) != NATS_OK) return false;
    f(si);
    jsStreamInfo_Destroy(si);
    return true;
  }

  bool WithConsumerInfo(const std::string& stream, const std::string& durable,
                        const std::function<void(jsConsumerInfo*)>& f) {
    jsConsumerInfo* ci = nullptr;
    if (js_GetConsumerInfo(&ci, js_, stream.c_str(), durable.c_str(), nullptr, nullptr) !=
        NATS_OK) {
      return false;
    }
    f(ci);
    jsConsumerInfo_Destroy(ci);
    return true;
  }

  // A stream as the harness creates it, on one server (one replica).
  void AddStream(const std::string& name, const std::vector<std::string>& subjects) {
    CheckNats(AddFileStream(js_, name, subjects, 1, nullptr), "add stream " + name);
  }

  uint64_t StreamMessages(const std::string& stream) {
    uint64_t n = 0;
    WithStreamInfo(stream, [&](jsStreamInfo* si) { n = si->State.Msgs; });
    return n;
  }

  // The last message stored on `subject` in `stream`; sequence 0 if none.
  ReceivedMessage LastMessage(const std::string& stream, const std::string& subject) {
    ReceivedMessage out;
    natsMsg* msg = nullptr;
    if (js_GetLastMsg(&msg, js_, stream.c_str(), subject.c_str(), nullptr, nullptr) != NATS_OK) {
      return out;
    }
    out.subject = natsMsg_GetSubject(msg);
    out.payload.assign(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
    out.sequence = natsMsg_GetSequence(msg);
    const char** keys = nullptr;
    int count = 0;
    if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
      for (int i = 0; i < count; ++i) {
        const char* v = nullptr;
        if (natsMsgHeader_Get(msg, keys[i], &v) == NATS_OK) out.headers[keys[i]] = v;
      }
      free(keys);
    }
    natsMsg_Destroy(msg);
    return out;
  }

 private:
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

}  // namespace ingestlab::testing
