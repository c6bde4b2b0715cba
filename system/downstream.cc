// See downstream.h.
#include "system/downstream.h"

#include <httplib.h>

#include <future>

#include <nlohmann/json.hpp>

#include "common/log.h"

#include "system/mutant.h"

namespace ingestlab {
namespace {

constexpr size_t kMaxBodyBytes = 64 * 1024;

// Percent-encodes everything but unreserved characters (RFC 3986), so an id is one path segment.
std::string EncodeSegment(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

struct Downstreams::Service {
  Service(const std::string& service_name, const std::string& service_url,
          const DownstreamOptions& options, Metrics* metrics, Clock* clock)
      : name(service_name),
        url(service_url),
        breaker(options.breaker, clock),
        cache(options.cache_ttl_ms, options.cache_entries, clock) {
    const Labels labels = {{"service", name}};
    auto calls = [&](const char* outcome) {
      return metrics->counter("ingest_downstream_calls_total",
                              "calls to a context downstream service by outcome",
                              {{"service", name}, {"outcome", outcome}});
    };
    ok = calls("ok");
    failed = calls("error");
    refused = calls("breaker_open");
    state =
        metrics->gauge("ingest_breaker_state",
                       "circuit breaker of a downstream: 0 closed, 1 open, 2 half-open", labels);
    opened = metrics->counter("ingest_breaker_opened_total", "times a breaker opened", labels);
    auto cache_result = [&](const char* result) {
      return metrics->counter("ingest_context_cache_total",
                              "context cache lookups of a downstream by result",
                              {{"service", name}, {"result", result}});
    };
    hits = cache_result("hit");
    misses = cache_result("miss");
    stale = cache_result("stale");
  }

  void Publish() {
    state->Set(static_cast<double>(breaker.state()));
    const int64_t total = breaker.opened_total();
    const int64_t seen = opened->value();
    if (total > seen) opened->Inc(total - seen);
  }

  const std::string name;
  const std::string url;
  CircuitBreaker breaker;
  TtlCache cache;
  Counter *ok, *failed, *refused, *opened, *hits, *misses, *stale;
  Gauge* state;
};

Downstreams::Downstreams(DownstreamOptions options, Metrics* metrics, Clock* clock)
    : options_(std::move(options)), metrics_(metrics), clock_(clock) {
  for (const auto& [name, url] : options_.services) {
    services_.push_back(std::make_unique<Service>(name, url, options_, metrics_, clock_));
  }
}

Downstreams::~Downstreams() = default;

Downstreams::Answer Downstreams::Ask(Service& s, const std::string& org,
                                     const std::string& customer_id, const std::string& key) {
  Answer answer{s.name, std::nullopt, "none", ""};
  auto cached = s.cache.Get(key);
  if (cached && cached->fresh) {
    s.hits->Inc();
    return {s.name, std::move(cached->value), "cache", ""};
  }
  s.misses->Inc();
  if (!s.breaker.Allow()) {
    s.refused->Inc();
    answer.error = "circuit breaker open";
  } else {
    httplib::Client client(s.url);
    int64_t timeout_ms = options_.timeout_ms;
#ifdef INGESTD_MUTANTS
    // Mutant downstream_no_timeout: a call waits as long as the service takes (up to 30 s).
    if (Mutant("downstream_no_timeout")) timeout_ms = 30'000;
#endif
    const time_t sec = static_cast<time_t>(timeout_ms / 1000);
    const time_t usec = static_cast<time_t>((timeout_ms % 1000) * 1000);
    client.set_tcp_nodelay(true);
    client.set_connection_timeout(sec, usec);
    client.set_read_timeout(sec, usec);
    client.set_write_timeout(sec, usec);
    auto res =
        client.Get(("/v1/customers/" + EncodeSegment(customer_id)).c_str(), {{"X-Org-Id", org}});
    if (!res) {
      answer.error = httplib::to_string(res.error());
    } else if (res->status != 200) {
      answer.error = "HTTP " + std::to_string(res->status);
    } else if (res->body.size() > kMaxBodyBytes) {
      answer.error = "answer over 64 KiB";
    } else {
      auto body = nlohmann::json::parse(res->body, nullptr, false);
      if (!body.is_object()) {
        answer.error = "answer is not a JSON object";
      } else {
        s.breaker.Success();
        s.ok->Inc();
        s.Publish();
        std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        s.cache.Put(key, text);
        return {s.name, std::move(text), "live", ""};
      }
    }
    s.breaker.Failure();
    s.failed->Inc();
  }
  s.Publish();
  if (cached) {
    s.stale->Inc();
    answer.body = std::move(cached->value);
    answer.from = "stale";
  }
  return answer;
}

std::vector<Downstreams::Answer> Downstreams::Fetch(const std::string& org,
                                                    const std::string& customer_id) {
  const std::string key = org + '\n' + customer_id;
  std::vector<std::future<Answer>> pending;
  for (auto& service : services_) {
    pending.push_back(std::async(std::launch::async, [this, &service, &org, &customer_id, &key] {
      return Ask(*service, org, customer_id, key);
    }));
  }
  std::vector<Answer> answers;
  for (auto& p : pending) answers.push_back(p.get());
  return answers;
}

std::string Downstreams::HealthJson() {
  nlohmann::json j = nlohmann::json::object();
  for (auto& s : services_) {
    s->Publish();
    j[s->name] = {{"breaker", CircuitBreaker::Name(s->breaker.state())},
                  {"opened_total", s->breaker.opened_total()},
                  {"cache_entries", s->cache.size()},
                  {"cache_hits", s->hits->value()},
                  {"cache_misses", s->misses->value()},
                  {"url", s->url}};
  }
  return j.dump();
}

}  // namespace ingestlab
