// See dead_letter_tap.h.
#include "harness/dead_letter_tap.h"

#include <string>
#include <vector>

#include <nats/nats.h>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "system/json_depth.h"
#include "system/nats/nats_util.h"

namespace ingestlab {

std::string EventIdOfPayload(const std::string& payload) {
  if (JsonNestedDeeperThan(payload, 64)) return "";
  const auto doc = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return "";
  for (const char* key : {"id", "event_id"}) {
    auto it = doc.find(key);
    if (it != doc.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

Result<std::unique_ptr<DeadLetterTap>> DeadLetterTap::Start(const std::string& nats_urls,
                                                            const std::string& subject,
                                                            const NatsSecurity& security) {
  std::unique_ptr<DeadLetterTap> tap(new DeadLetterTap());
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s != NATS_OK) return Status::Io(std::string("dead-letter tap: ") + natsStatus_GetText(s));
  const std::vector<std::string> list = nats_util::SplitUrls({nats_urls});
  std::vector<const char*> servers;
  for (const auto& u : list) servers.push_back(u.c_str());
  s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts, "ingestlab-dead-letter-tap");
  if (s == NATS_OK) {
    if (Status st = ApplyNatsSecurity(opts, security); !st.ok()) {
      natsOptions_Destroy(opts);
      return st.Annotate("dead-letter tap");
    }
    s = natsConnection_Connect(&tap->conn_, opts);
  }
  natsOptions_Destroy(opts);
  if (s == NATS_OK) {
    s = natsConnection_Subscribe(&tap->sub_, tap->conn_, subject.c_str(), OnMessage, tap.get());
  }
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(tap->sub_, -1, -1);
  if (s == NATS_OK) s = natsConnection_Flush(tap->conn_);
  if (s != NATS_OK) {
    return Status::Io("dead-letter tap on " + subject + ": " + natsStatus_GetText(s));
  }
  return tap;
}

DeadLetterTap::~DeadLetterTap() {
  if (sub_) {
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
  }
  if (conn_) natsConnection_Destroy(conn_);
}

void DeadLetterTap::OnMessage(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* tap = static_cast<DeadLetterTap*>(closure);
  tap->count_.fetch_add(1);
  {
    std::lock_guard<std::mutex> lock(tap->mu_);
    if (tap->rows_.size() < kMaxTappedDeadLetters) {
      DeadLetterRow row;
      row.subject = natsMsg_GetSubject(msg);
      row.payload.assign(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
      auto header = [&](const char* key) {
        const char* value = nullptr;
        return natsMsgHeader_Get(msg, key, &value) == NATS_OK && value ? std::string(value)
                                                                       : std::string();
      };
      row.reason = header("Dlq-Reason");
      row.error = header("Dlq-Error");
      const std::string origin = header("Dlq-Origin");
      row.origin = "nats:" + (origin.empty() ? row.subject : origin);
      row.event_id = EventIdOfPayload(row.payload);
      row.dead_at_ms = Clock::System().NowUnixMillis();
      tap->rows_.push_back(std::move(row));
    }
  }
  natsMsg_Destroy(msg);
}

std::vector<DeadLetterRow> DeadLetterTap::Rows() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rows_;
}

}  // namespace ingestlab
