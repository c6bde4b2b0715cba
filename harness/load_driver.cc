// LoadDriver: ServiceRuns on threads, shared publishers, and the orphan fault.
#include "harness/load_driver.h"

#include <chrono>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "simulators/encoding.h"
#include "simulators/faults.h"
#include "simulators/generators.h"
#include "simulators/load_shape.h"

#include "simulators/kafka_publisher.h"
#include "simulators/nats_publisher.h"

namespace ingestlab {
namespace {

sim::FaultSpec ToFaultSpec(const std::map<std::string, double>& faults) {
  sim::FaultSpec f;
  auto get = [&](const char* k) {
    auto it = faults.find(k);
    return it == faults.end() ? 0.0 : it->second;
  };
  f.duplicate = get("duplicate");
  f.malformed = get("malformed");
  f.poison = get("poison");
  f.out_of_order = get("out_of_order");
  f.schema_mix = get("schema_mix");
  f.oversized = get("oversized");
  f.unknown_customer = get("unknown_customer");
  return f;
}

// An event whose dependency never exists: retried, then dead-lettered max_deliveries.
struct Orphan {
  std::string type;
  std::string kafka_topic;
  nlohmann::json data;
};

Orphan MakeOrphan(const std::string& service, const std::string& n) {
  if (service == "billing") {
    return {"billing.purchase.refunded",
            "billing.events",
            {{"purchase_id", "orphan-purchase-" + n}, {"amount", 1.0}, {"reason", "orphan"}}};
  }
  if (service == "support") {
    return {"support.ticket.resolved",
            "",
            {{"ticket_id", "orphan-ticket-" + n}, {"resolution", "orphan"}}};
  }
  if (service == "auth") {
    return {
        "auth.user.role.assigned", "", {{"user_id", "orphan-user-" + n}, {"role_id", "role-1"}}};
  }
  if (service == "learning") {
    return {
        "learning.session.ended", "", {{"session_id", "orphan-session-" + n}, {"duration_s", 1}}};
  }
  return {"crm.lead.converted",
          "crm.leads",
          {{"lead_id", "orphan-lead-" + n}, {"contact_id", "orphan-contact-" + n}}};
}

}  // namespace

bool ShouldCompressEventLog(const Scenario& scenario) {
  double expected = 0;
  for (const auto& spec : scenario.services) expected += spec.rate * scenario.duration_s;
  return expected > kCompressEventLogAbovePublishes;
}

Result<std::unique_ptr<LoadDriver>> LoadDriver::Create(const Scenario& scenario,
                                                       const std::string& nats_urls,
                                                       const std::string& kafka_bootstrap,
                                                       sim::EventLogWriter* log, Clock* clock,
                                                       const NatsSecurity& nats_security) {
  std::unique_ptr<LoadDriver> d(new LoadDriver());
  d->scenario_ = &scenario;
  d->log_ = log;
  d->clock_ = clock;
  // Expand "all" into every service, splitting its rate.
  for (const auto& spec : scenario.services) {
    std::vector<std::string> names;
    if (spec.name == "all") {
      names = sim::AllServices();
    } else {
      names = {spec.name};
    }
    for (const auto& name : names) {
      auto s = std::make_unique<Service>();
      s->name = name;
      s->spec = &spec;
      s->transport = name == "crm"                                      ? "kafka"
                     : (spec.transport == "kafka" && name == "billing") ? "kafka"
                                                                        : "nats";
      s->rate = spec.rate / static_cast<double>(names.size());
      auto it = spec.faults.find("orphan");
      s->orphan_share = it == spec.faults.end() ? 0 : it->second;

      auto shape = sim::LoadShape::Parse(spec.shape, s->rate, scenario.duration_s);
      if (!shape.ok()) return shape.status().Annotate("service " + name);
      d->services_.push_back(std::move(s));
    }
  }

  bool need_nats = false, need_kafka = false;
  for (const auto& s : d->services_) {
    (s->transport == "kafka" ? need_kafka : need_nats) = true;
  }
  if (need_nats) {
    sim::NatsPublisherOptions o;
    o.urls = nats_urls;
    o.security = nats_security;
    o.name = "ingestlab-" + scenario.name;
    auto p = sim::NatsPublisher::Connect(o);
    if (!p.ok() && nats_urls.find(',') != std::string::npos) {
      // Some client versions take one URL only; the first node's INFO names the others, which
      // the publisher then uses to reconnect.
      o.urls = nats_urls.substr(0, nats_urls.find(','));
      p = sim::NatsPublisher::Connect(o);
    }
    if (!p.ok()) return p.status().Annotate("simulator NATS publisher");
    d->nats_ = std::move(p.value());
  }
  if (need_kafka) {
    if (kafka_bootstrap.empty()) {
      return Status::InvalidArgument(scenario.path +
                                     ": a service publishes on Kafka but "
                                     "topology.kafka_brokers is 0");
    }
    sim::KafkaPublisherOptions o;
    o.bootstrap = kafka_bootstrap;
    o.client_id = "ingestlab-" + scenario.name;
    auto p = sim::KafkaPublisher::Create(o);
    if (!p.ok()) return p.status().Annotate("simulator Kafka publisher");
    d->kafka_ = std::move(p.value());
  }
  return d;
}

LoadDriver::~LoadDriver() {
  RequestStop();
  for (auto& s : services_) {
    if (s->thread.joinable()) s->thread.join();
  }
  for (auto& t : orphan_threads_) {
    if (t.joinable()) t.join();
  }
  if (nats_) nats_->Close();
  if (kafka_) kafka_->Close();
}

Status LoadDriver::Start(int64_t start_unix_ms) {
  for (auto& s : services_) {
    const ServiceSpec* spec = s->spec;
    sim::ServiceRunOptions o;
    o.stream.service = s->name;
    o.stream.seed = ServiceSeed(scenario_->seed, *spec);
    o.stream.org_id = spec->org;
    o.stream.faults = ToFaultSpec(spec->faults);
    if (spec->customers > 0) o.stream.customer_pool_size = spec->customers;
    o.stream.transport =
        s->transport == "kafka" ? sim::TransportKind::kKafka : sim::TransportKind::kJetStream;
    if (auto dl = spec->dialects.find("service"); dl != spec->dialects.end()) {
      o.stream.service_envelope_share = dl->second;
    }
    if (auto dl = spec->dialects.find("customer"); dl != spec->dialects.end()) {
      o.stream.customer_dialect_share = dl->second;
    }
    if (auto dl = spec->dialects.find("cloudevents");
        dl != spec->dialects.end() && dl->second >= 1) {
      o.stream.service_envelope_share = 0;
      o.stream.customer_dialect_share = 0;
    }
    auto shape = sim::LoadShape::Parse(spec->shape, s->rate, scenario_->duration_s);
    if (!shape.ok()) return shape.status().Annotate("service " + s->name);
    o.shape = shape.value();
    o.duration_seconds = scenario_->duration_s;
    o.start_unix_ms = start_unix_ms;
    o.on_send = send_observer_;
    sim::Publisher* pub = s->transport == "kafka" ? kafka_.get() : nats_.get();
    auto run = sim::ServiceRun::Create(o, pub, log_, clock_);
    if (!run.ok()) return run.status().Annotate("service " + s->name);
    s->run = std::move(run.value());
    // The timeline's rate steps, planned now so they take effect exactly at their time.
    for (const auto& step : scenario_->timeline) {
      if (step.action != "set_rate") continue;
      if (!step.target.empty() && step.target != "all" && step.target != s->name) continue;
      const int64_t at_ms = std::llround(step.at_s * 1000);
      s->run->SetRate(step.NumberParam("rate", 0), at_ms * 1'000'000);
      planned_rates_.emplace(s->name, at_ms);
    }
  }
  // Every stream is registered before any appends, so none can be overtaken.
  std::vector<std::string> orphan_streams(services_.size());
  for (size_t i = 0; i < services_.size(); ++i) {
    if (log_ && services_[i]->orphan_share > 0) {
      orphan_streams[i] = log_->RegisterStream("orphan:" + services_[i]->name);
    }
  }
  for (size_t i = 0; i < services_.size(); ++i) {
    Service* raw = services_[i].get();
    raw->thread = std::thread([raw] { raw->status = raw->run->Run(); });
    if (raw->orphan_share > 0) {
      const double per_second = raw->orphan_share * raw->rate;
      orphan_threads_.emplace_back(
          [this, raw, per_second, start_unix_ms, stream = orphan_streams[i]] {
            OrphanLoop(raw->name, raw->transport, per_second, start_unix_ms, stream);
          });
    }
  }
  return Status::Ok();
}

void LoadDriver::OrphanLoop(const std::string& service, const std::string& transport,
                            double per_second, int64_t start_unix_ms,
                            const std::string& log_stream) {
  sim::Publisher* pub = transport == "kafka" ? kafka_.get() : nats_.get();
  const int64_t start_mono = clock_->NowMonoNanos();
  const int64_t duration_ns = std::llround(scenario_->duration_s * 1e9);
  // Orphan n is due at (n + 1) / rate: a fixed schedule, so the log does not depend on timing.
  for (uint64_t n = 0; per_second > 0 && !stop_.load(); ++n) {
    const int64_t due_ns = std::llround(static_cast<double>(n + 1) * 1e9 / per_second);
    if (due_ns >= duration_ns) break;
    const int64_t due_ms = due_ns / 1'000'000;
    if (log_) log_->AdvanceStream(log_stream, due_ms);
    for (int64_t now = clock_->NowMonoNanos() - start_mono; now < due_ns && !stop_.load();
         now = clock_->NowMonoNanos() - start_mono) {
      clock_->SleepFor(std::chrono::nanoseconds(std::min<int64_t>(due_ns - now, 50'000'000)));
    }
    if (stop_.load()) return;  // the stream stays open: the log remains a prefix
    const std::string num = std::to_string(scenario_->seed) + "-" + std::to_string(n);
    Orphan orphan = MakeOrphan(service, num);
    const std::string id = "orphan-" + service + "-" + num;
    nlohmann::json ce = {{"specversion", "1.0"},
                         {"id", id},
                         {"source", service + "-service"},
                         {"type", orphan.type},
                         {"time", sim::FormatRfc3339Millis(start_unix_ms + due_ms)},
                         {"subject", "orphan-customer"},
                         {"orgid", "org-1"},
                         {"datacontenttype", "application/json"},
                         {"data", orphan.data}};
    sim::PublishRecord record;
    record.offset_ms = due_ms;
    record.service = service;
    record.seq = kOrphanSeqBase + n;
    record.msg = record.seq;  // above any service message number
    record.type = orphan.type;
    record.event_id = id;
    record.transport = transport == "kafka" ? "kafka" : "jetstream";
    record.subject = transport == "kafka" ? orphan.kafka_topic : orphan.type;
    record.key = transport == "kafka" ? orphan.data.begin().value().get<std::string>() : "";
    if (transport != "kafka") record.headers["Nats-Msg-Id"] = id;
    record.payload = ce.dump();
    record.expected = "dead_letter:max_deliveries";
    if (log_) log_->Append(record);
    const int64_t published_ms = (clock_->NowMonoNanos() - start_mono) / 1'000'000;
    sim::MessageHeaders headers(record.headers.begin(), record.headers.end());
    orphan_sent_++;
    orphan_outstanding_++;
    auto outcome_to_log = [this, service, msg = record.msg,
                           published_ms](const sim::PublishOutcome& outcome) {
      if (log_) log_->AppendOutcome(service, msg, published_ms, outcome.acked, outcome.error);
    };
    Status st = pub->Publish(record.subject, record.key, headers, record.payload,
                             [this, outcome_to_log](const sim::PublishOutcome& outcome) {
                               (outcome.acked ? orphan_acked_ : orphan_failed_)++;
                               outcome_to_log(outcome);
                               orphan_outstanding_--;
                             });
    if (!st.ok()) {
      orphan_outstanding_--;
      orphan_failed_++;
      outcome_to_log(sim::PublishOutcome{false, st.message(), 1});
    }
  }
  if (!stop_.load() && log_) log_->FinishStream(log_stream);
}

Status LoadDriver::Wait() {
  Status first;
  for (auto& s : services_) {
    if (s->thread.joinable()) s->thread.join();
    if (!s->status.ok() && first.ok()) first = s->status.Annotate("service " + s->name);
  }
  for (auto& t : orphan_threads_) {
    if (t.joinable()) t.join();
  }
  // Orphans' acks arrive asynchronously; the ServiceRuns have flushed their own publisher use.
  for (int i = 0; i < 300 && orphan_outstanding_.load() > 0; ++i) {
    clock_->SleepFor(std::chrono::milliseconds(100));
  }
  return first;
}

void LoadDriver::RequestStop() {
  stop_ = true;
  for (auto& s : services_) {
    if (s->run) s->run->RequestStop();
  }
}

void LoadDriver::SetRate(const std::string& service, double per_second, int64_t at_ms) {
  for (auto& s : services_) {
    if (service.empty() || service == "all" || service == s->name) {
      s->rate = per_second;
      if (!s->run) continue;
      if (at_ms < 0) {
        s->run->SetRate(per_second);
      } else if (!planned_rates_.count({s->name, at_ms})) {
        s->run->SetRate(per_second, at_ms * 1'000'000);
      }
    }
  }
}

LoadTotals LoadDriver::Totals() const {
  LoadTotals t;
  for (const auto& s : services_) {
    if (!s->run) continue;
    auto st = s->run->stats();
    t.sent += st.sent;
    t.acked += st.acked;
    t.failed += st.failed;
    t.shortfall += st.shortfall;
    for (const auto& [expect, n] : st.expected) {
      if (expect.rfind("dead_letter", 0) == 0) t.expected_dead_letters += n;
    }
  }
  t.sent += orphan_sent_.load();
  t.acked += orphan_acked_.load();
  t.failed += orphan_failed_.load();
  t.expected_dead_letters += orphan_sent_.load();
  return t;
}

std::vector<std::pair<std::string, sim::ServiceRunStats>> LoadDriver::ServiceStats() const {
  std::vector<std::pair<std::string, sim::ServiceRunStats>> out;
  for (const auto& s : services_) {
    if (s->run) out.emplace_back(s->name, s->run->stats());
  }
  return out;
}

std::string LoadDriver::Describe() const {
  std::ostringstream out;
  for (size_t i = 0; i < services_.size(); ++i) {
    out << (i ? ", " : "") << services_[i]->name << " " << std::llround(services_[i]->rate) << "/s";
  }
  return out.str();
}

}  // namespace ingestlab
