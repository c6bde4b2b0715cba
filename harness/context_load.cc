// ContextLoad: context API readers and the breaker watcher; see context_load.h.
#include "harness/context_load.h"

#include <httplib.h>

#include <chrono>
#include <random>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/rng.h"

namespace ingestlab {
namespace {

// Sleeps until `deadline_mono_ns` or until `stop` is set, in short steps.
void SleepUntil(Clock& clock, int64_t deadline_mono_ns, const std::atomic<bool>& stop) {
  for (;;) {
    const int64_t left = deadline_mono_ns - clock.NowMonoNanos();
    if (left <= 0 || stop.load()) return;
    clock.SleepFor(std::chrono::nanoseconds(std::min<int64_t>(left, 50'000'000)));
  }
}

std::unique_ptr<httplib::Client> MakeClient(const std::string& base_url, int64_t timeout_ms) {
  auto client = std::make_unique<httplib::Client>(base_url);
  client->set_connection_timeout(std::chrono::milliseconds(1000));
  client->set_read_timeout(std::chrono::milliseconds(timeout_ms));
  client->set_keep_alive(true);
  client->set_tcp_nodelay(true);
  return client;
}

// Fills the fields of a 200 answer that the checks use; a body that is not the documented
// object leaves them unset and says so in `error`.
void ReadAnswer(const std::string& body, ContextRead* read) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    read->error = "answer is not a JSON object";
    return;
  }
  if (auto it = j.find("org_id"); it != j.end() && it->is_string()) {
    read->response_org = it->get<std::string>();
  }
  if (auto p = j.find("profile"); p != j.end() && p->is_object()) {
    if (auto v = p->find("lifetime_value"); v != p->end() && v->is_number()) {
      read->has_lifetime_value = true;
      read->lifetime_value = v->get<double>();
    }
  }
  if (auto it = j.find("partial"); it != j.end() && it->is_boolean()) {
    read->partial = it->get<bool>();
  }
  if (auto m = j.find("missing_sources"); m != j.end() && m->is_array()) {
    for (const auto& s : *m) {
      if (s.is_string()) read->missing_sources.push_back(s.get<std::string>());
    }
  }
}

}  // namespace

std::map<std::string, std::string> MakeContextTokens(const std::vector<std::string>& orgs) {
  std::random_device device;
  std::map<std::string, std::string> tokens;
  auto make = [&] {
    static const char kHex[] = "0123456789abcdef";
    std::string token;
    for (int i = 0; i < 32; ++i) token += kHex[device() % 16];
    return token;
  };
  for (const auto& org : orgs) tokens.emplace(org, make());
  tokens.emplace(kOutsiderOrg, make());
  return tokens;
}

Result<std::unique_ptr<ContextLoad>> ContextLoad::Start(ContextLoadOptions options) {
  if (options.instances.empty()) return Status::InvalidArgument("context reads: no instance");
  if (options.customers.empty()) return Status::InvalidArgument("context reads: no customers");
  for (const auto& [org, ids] : options.customers) {
    if (ids.empty()) return Status::InvalidArgument("context reads: no customer in " + org);
    if (!options.tokens.count(org)) {
      return Status::InvalidArgument("context reads: no token for " + org);
    }
  }
  if (options.rate <= 0 || options.readers < 1) {
    return Status::InvalidArgument("context reads: rate and readers must be positive");
  }
  std::unique_ptr<ContextLoad> load(new ContextLoad(std::move(options)));
  for (int r = 0; r < load->options_.readers; ++r) {
    load->threads_.emplace_back([l = load.get(), r] { l->ReadLoop(r); });
  }
  load->threads_.emplace_back([l = load.get()] { l->WatchLoop(); });
  return load;
}

ContextLoad::~ContextLoad() { Stop(); }

void ContextLoad::Stop() {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::vector<ContextRead> ContextLoad::TakeReads() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ContextRead> out = std::move(reads_);
  std::sort(out.begin(), out.end(),
            [](const ContextRead& a, const ContextRead& b) { return a.start_ms < b.start_ms; });
  return out;
}

std::vector<BreakerSample> ContextLoad::TakeBreakerSamples() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::move(breakers_);
}

void ContextLoad::ReadLoop(int reader) {
  Clock& clock = Clock::System();
  Rng rng = Rng(options_.seed).Fork("context-reader-" + std::to_string(reader));
  std::vector<std::string> orgs;
  for (const auto& [org, _] : options_.customers) orgs.push_back(org);
  std::vector<std::string> token_orgs;
  for (const auto& [org, _] : options_.tokens) token_orgs.push_back(org);
  std::vector<std::unique_ptr<httplib::Client>> clients(options_.instances.size());
  const int64_t interval_ns = static_cast<int64_t>(1e9 * options_.readers / options_.rate);
  // Readers start spread over one interval, so the reads are spread evenly.
  int64_t next = clock.NowMonoNanos() + interval_ns * reader / options_.readers;
  size_t turn = static_cast<size_t>(reader);
  while (!stop_.load()) {
    SleepUntil(clock, next, stop_);
    if (stop_.load()) break;
    next += interval_ns;
    // Behind schedule (a slow answer): skip the missed slots rather than burst.
    if (const int64_t now = clock.NowMonoNanos(); next < now) next = now;

    ContextRead read;
    read.customer_org = orgs[rng.Uniform(orgs.size())];
    const auto& ids = options_.customers.at(read.customer_org);
    read.customer_id = ids[rng.Uniform(ids.size())];
    read.token_org = read.customer_org;
    if (token_orgs.size() > 1 && rng.Chance(options_.cross_tenant)) {
      while (read.token_org == read.customer_org) {
        read.token_org = token_orgs[rng.Uniform(token_orgs.size())];
      }
    }
    const size_t i = turn++ % options_.instances.size();
    read.instance = options_.instances[i].first;
    if (!clients[i]) clients[i] = MakeClient(options_.instances[i].second, kReadTimeoutMs);
    const httplib::Headers headers = {
        {"Authorization", "Bearer " + options_.tokens.at(read.token_org)}};
    read.start_ms = clock.NowUnixMillis();
    auto res = clients[i]->Get("/v1/customers/" + read.customer_id + "/context", headers);
    read.end_ms = clock.NowUnixMillis();
    if (!res) {
      read.error = httplib::to_string(res.error());
      clients[i].reset();  // a fresh connection next time
    } else {
      read.status = res->status;
      if (res->status == 200) ReadAnswer(res->body, &read);
    }
    std::lock_guard<std::mutex> lock(mu_);
    reads_.push_back(std::move(read));
  }
}

void ContextLoad::WatchLoop() {
  Clock& clock = Clock::System();
  std::vector<std::unique_ptr<httplib::Client>> clients(options_.instances.size());
  int64_t next = clock.NowMonoNanos();
  while (!stop_.load()) {
    for (size_t i = 0; i < options_.instances.size() && !stop_.load(); ++i) {
      if (!clients[i]) clients[i] = MakeClient(options_.instances[i].second, 1000);
      auto res = clients[i]->Get("/healthz");
      if (!res) {
        clients[i].reset();
        continue;
      }
      const double t_s = (clock.NowUnixMillis() - options_.start_unix_ms) / 1000.0;
      auto j = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object() || !j.contains("downstream") || !j["downstream"].is_object()) continue;
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [service, v] : j["downstream"].items()) {
        if (!v.is_object()) continue;
        BreakerSample b;
        b.t_s = t_s;
        b.instance = options_.instances[i].first;
        b.service = service;
        b.state = v.value("breaker", std::string());
        b.opened_total = v.value("opened_total", 0.0);
        breakers_.push_back(std::move(b));
      }
    }
    next += kSampleEveryMs * 1'000'000;
    SleepUntil(clock, next, stop_);
  }
}

}  // namespace ingestlab
