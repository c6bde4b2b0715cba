// LatencyProbe: ordered JetStream consumers that timestamp every delivery.
#include "harness/latency_probe.h"

#include <nats/nats.h>

#include "common/clock.h"
#include "system/nats/jetstream_source.h"
#include "system/nats/nats_util.h"

namespace ingestlab {
namespace {

void OnMessage(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  const int64_t now = Clock::System().NowUnixMillis();
  const char* id = nullptr;
  if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id != nullptr && *id != '\0') {
    static_cast<LatencyProbe*>(closure)->Record(id, now);
  }
  natsMsg_Destroy(msg);
}

}  // namespace

Result<std::unique_ptr<LatencyProbe>> LatencyProbe::StartNats(const std::string& urls,
                                                              const NatsSecurity& security) {
  std::unique_ptr<LatencyProbe> probe(new LatencyProbe());
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  const std::vector<std::string> list = nats_util::SplitUrls({urls});
  std::vector<const char*> servers;
  for (const auto& u : list) servers.push_back(u.c_str());
  if (s == NATS_OK) s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts, "ingestlab-latency-probe");
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 100);
  if (s == NATS_OK) {
    if (Status st = ApplyNatsSecurity(opts, security); !st.ok()) {
      natsOptions_Destroy(opts);
      return st.Annotate("latency probe");
    }
  }
  if (s == NATS_OK) s = natsConnection_Connect(&probe->conn_, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) return nats_util::ToStatus(s, "latency probe: connect");
  s = natsConnection_JetStream(&probe->js_, probe->conn_, nullptr);
  if (s != NATS_OK) return nats_util::ToStatus(s, "latency probe: jetstream context");
  for (const auto& stream : DefaultStreams()) {
    if (stream.name == "DLQ") continue;
    for (const auto& subject : stream.subjects) {
      jsSubOptions so;
      jsSubOptions_Init(&so);
      so.Stream = stream.name.c_str();
      so.Ordered = true;
      so.Config.DeliverPolicy = js_DeliverNew;
      natsSubscription* sub = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      s = js_Subscribe(&sub, probe->js_, subject.c_str(), OnMessage, probe.get(), nullptr, &so,
                       &jerr);
      if (s != NATS_OK) {
        return nats_util::ToStatus(s, "latency probe: subscribe to " + subject, jerr);
      }
      natsSubscription_SetPendingLimits(sub, -1, 256 * 1024 * 1024);
      probe->subs_.push_back(sub);
    }
  }
  return probe;
}

void LatencyProbe::Record(std::string event_id, int64_t delivered_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!stopped_) delivered_ms_.emplace(std::move(event_id), delivered_ms);
}

std::unordered_map<std::string, int64_t> LatencyProbe::Stop() {
  for (natsSubscription* sub : subs_) {
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
  }
  subs_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  return std::move(delivered_ms_);
}

LatencyProbe::~LatencyProbe() {
  Stop();
  jsCtx_Destroy(js_);
  if (conn_ != nullptr) {
    natsConnection_Close(conn_);
    natsConnection_Destroy(conn_);
  }
}

}  // namespace ingestlab
