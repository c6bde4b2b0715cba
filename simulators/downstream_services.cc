// See downstream_services.h.
#include "simulators/downstream_services.h"

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

namespace ingestlab::sim {
namespace {

// SplitMix64: a seeded, well-mixed value per (seed, text, salt).
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t Hash(uint64_t seed, const std::string& text, uint64_t salt) {
  uint64_t h = Mix(seed ^ salt);
  for (unsigned char c : text) h = Mix(h ^ c);
  return h;
}

constexpr int64_t kBaseMs = 1'790'000'000'000;  // answers' times: a fixed epoch plus seeded days

nlohmann::json Crm(uint64_t seed, const std::string& id) {
  static const char* kStages[] = {"onboarding", "active", "at-risk", "churned", "vip"};
  static const char* kSentiments[] = {"positive", "neutral", "negative"};
  static const char* kTags[] = {"newsletter", "beta", "enterprise", "trial", "referral"};
  const uint64_t h = Hash(seed, id, 1);
  nlohmann::json tags = nlohmann::json::array();
  for (int i = 0; i < 5; ++i) {
    if ((h >> (8 + i)) & 1) tags.push_back(kTags[i]);
  }
  return {{"customer_id", id},
          {"lifecycle_stage", kStages[h % 5]},
          {"sentiment", kSentiments[(h >> 4) % 3]},
          {"tags", tags},
          {"last_interaction_ms", kBaseMs + static_cast<int64_t>((h >> 16) % 90) * 86'400'000}};
}

nlohmann::json Scheduling(uint64_t seed, const std::string& id) {
  static const char* kKinds[] = {"coaching", "onboarding", "review"};
  const uint64_t h = Hash(seed, id, 2);
  const int upcoming = static_cast<int>(h % 4);
  nlohmann::json next = nullptr;
  if (upcoming > 0) {
    next = {{"at_ms", kBaseMs + static_cast<int64_t>((h >> 8) % 30 + 1) * 86'400'000},
            {"kind", kKinds[(h >> 4) % 3]}};
  }
  return {{"customer_id", id},
          {"next_appointment", next},
          {"upcoming", upcoming},
          {"session_count", static_cast<int>((h >> 20) % 40)}};
}

nlohmann::json Email(uint64_t seed, const std::string& id) {
  const uint64_t h = Hash(seed, id, 3);
  return {{"customer_id", id},
          {"subscribed", (h & 1) == 0},
          {"unread", static_cast<int>((h >> 2) % 12)},
          {"last_sent_ms", kBaseMs + static_cast<int64_t>((h >> 16) % 60) * 86'400'000}};
}

}  // namespace

Result<std::unique_ptr<DownstreamService>> DownstreamService::Start(const std::string& name,
                                                                    uint64_t seed) {
  if (name != "crm" && name != "scheduling" && name != "email") {
    return Status::InvalidArgument("downstream: unknown service '" + name +
                                   "' (crm, scheduling or email)");
  }
  std::unique_ptr<DownstreamService> service(new DownstreamService(name, seed));
  std::lock_guard<std::mutex> lock(service->mu_);
  INGEST_RETURN_IF_ERROR(service->Listen());
  return service;
}

DownstreamService::~DownstreamService() {
  std::unique_ptr<HttpServer> server;
  {
    std::lock_guard<std::mutex> lock(mu_);
    server = std::move(server_);
  }
  server.reset();  // stops and joins, outside the lock its handlers take
}

std::string DownstreamService::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

Status DownstreamService::Listen() {
  auto server = std::make_unique<HttpServer>();
  server->HandlePrefix("/v1/customers/", [this](const HttpRequest& r) { return Answer(r); });
  INGEST_RETURN_IF_ERROR(server->Start("127.0.0.1", port_));
  port_ = server->port();
  server_ = std::move(server);
  return Status::Ok();
}

Status DownstreamService::SetFault(const DownstreamFault& fault) {
  std::unique_ptr<HttpServer> stopped;
  Status st;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fault_ = fault;
    if (fault.down && server_ != nullptr) stopped = std::move(server_);
    if (!fault.down && server_ == nullptr) st = Listen();
  }
  stopped.reset();
  return st.Annotate("downstream " + name_);
}

HttpReply DownstreamService::Answer(const HttpRequest& request) {
  requests_.fetch_add(1);
  DownstreamFault fault;
  bool fail = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fault = fault_;
    if (fault.error_rate > 0) {
      const uint64_t draw = Mix(seed_ ^ Mix(++draws_));
      fail = static_cast<double>(draw % 1'000'000) < fault.error_rate * 1'000'000;
    }
  }
  if (fault.latency_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(fault.latency_ms));
  }
  if (fail) return {500, "application/json", "{\"error\":\"injected failure\"}\n", {}};
  const std::string id = request.path.substr(std::string("/v1/customers/").size());
  if (id.empty() || id.find('/') != std::string::npos) {
    return {404, "application/json", "{\"error\":\"not found\"}\n", {}};
  }
  const nlohmann::json body = name_ == "crm"          ? Crm(seed_, id)
                              : name_ == "scheduling" ? Scheduling(seed_, id)
                                                      : Email(seed_, id);
  return {200,
          "application/json",
          body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
          {}};
}

Result<std::unique_ptr<DownstreamSet>> DownstreamSet::Start(uint64_t seed) {
  auto set = std::make_unique<DownstreamSet>();
  for (const char* name : {"crm", "scheduling", "email"}) {
    auto service = DownstreamService::Start(name, seed);
    if (!service.ok()) return service.status();
    set->services_.push_back(std::move(*service));
  }
  return set;
}

DownstreamService* DownstreamSet::Find(const std::string& name) const {
  for (const auto& s : services_) {
    if (s->name() == name) return s.get();
  }
  return nullptr;
}

Status DownstreamSet::SetFault(const std::string& target, const DownstreamFault& fault) {
  if (target == "all") {
    for (const auto& s : services_) INGEST_RETURN_IF_ERROR(s->SetFault(fault));
    return Status::Ok();
  }
  DownstreamService* s = Find(target);
  if (s == nullptr) {
    return Status::InvalidArgument("downstream: unknown target '" + target +
                                   "' (crm, scheduling, email or all)");
  }
  return s->SetFault(fault);
}

}  // namespace ingestlab::sim
