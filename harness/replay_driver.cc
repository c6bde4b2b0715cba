// ReplayDriver: re-sends logged publishes on a timed plan; see replay_driver.h.
#include "harness/replay_driver.h"

#include <algorithm>
#include <chrono>
#include <sstream>

#include "common/log.h"
#include "simulators/kafka_publisher.h"
#include "simulators/nats_publisher.h"

namespace ingestlab {

Result<std::unique_ptr<ReplayDriver>> ReplayDriver::Create(const sim::EventLog& log,
                                                           std::vector<TimedPublish> plan,
                                                           const LoadContext& context) {
  std::unique_ptr<ReplayDriver> d(new ReplayDriver());
  d->log_ = &log;
  d->plan_ = std::move(plan);
  d->context_ = context;
  bool need_jetstream = false, need_core = false, need_kafka = false;
  for (const auto& step : d->plan_) {
    if (step.index >= log.publishes.size())
      return Status::InvalidArgument("replay plan refers to entry " + std::to_string(step.index) +
                                     " of " + std::to_string(log.publishes.size()));
    const std::string& t = log.publishes[step.index].transport;
    if (t == "jetstream") {
      need_jetstream = true;
    } else if (t == "nats") {
      need_core = true;
    } else if (t == "kafka") {
      need_kafka = true;
    } else {
      return Status::InvalidArgument("event log entry " + std::to_string(step.index + 1) +
                                     " has unknown transport '" + t + "'");
    }
  }
  const std::string name = "ingestlab-replay-" +
                           (log.header.scenario.empty() ? std::string("log") : log.header.scenario);
  auto connect_nats = [&](bool jetstream) -> Result<std::unique_ptr<sim::Publisher>> {
    if (context.nats_urls.empty())
      return Status::InvalidArgument("the log has NATS entries but the topology starts no NATS");
    sim::NatsPublisherOptions o;
    o.urls = context.nats_urls;
    o.security = context.nats_security;
    o.jetstream = jetstream;
    o.name = name;
    auto p = sim::NatsPublisher::Connect(o);
    if (!p.ok() && o.urls.find(',') != std::string::npos) {
      o.urls = o.urls.substr(0, o.urls.find(','));
      p = sim::NatsPublisher::Connect(o);
    }
    if (!p.ok()) return p.status().Annotate("replay NATS publisher");
    return std::unique_ptr<sim::Publisher>(std::move(p.value()));
  };
  if (need_jetstream) {
    auto p = connect_nats(true);
    if (!p.ok()) return p.status();
    d->jetstream_ = std::move(p.value());
  }
  if (need_core) {
    auto p = connect_nats(false);
    if (!p.ok()) return p.status();
    d->core_nats_ = std::move(p.value());
  }
  if (need_kafka) {
    if (context.kafka_bootstrap.empty()) {
      return Status::InvalidArgument(
          "the log has Kafka entries but the scenario's topology.kafka_brokers is 0");
    }
    sim::KafkaPublisherOptions o;
    o.bootstrap = context.kafka_bootstrap;
    o.client_id = name;
    auto p = sim::KafkaPublisher::Create(o);
    if (!p.ok()) return p.status().Annotate("replay Kafka publisher");
    d->kafka_ = std::move(p.value());
  }
  if (context.log) d->stream_ = context.log->RegisterStream("replay", 0);
  for (const auto& step : d->plan_) {
    const auto& r = log.publishes[step.index];
    d->stats_[r.service];  // every replayed service shows, even with nothing acked
    if (d->ExpectedOf(step).rfind("dead_letter", 0) == 0) ++d->expected_dead_letters_;
  }
  return d;
}

ReplayDriver::~ReplayDriver() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
  for (auto* p : {jetstream_.get(), core_nats_.get(), kafka_.get()}) {
    if (p) p->Close();
  }
}

sim::Publisher* ReplayDriver::PublisherFor(const std::string& transport) const {
  if (transport == "jetstream") return jetstream_.get();
  if (transport == "nats") return core_nats_.get();
  return kafka_.get();
}

Status ReplayDriver::Start(int64_t start_unix_ms) {
  thread_ = std::thread([this, start_unix_ms] { Loop(start_unix_ms); });
  return Status::Ok();
}

void ReplayDriver::Loop(int64_t start_unix_ms) {
  Clock* clock = context_.clock ? context_.clock : &Clock::System();
  const int64_t start_mono = clock->NowMonoNanos();
  struct FinishOnExit {
    ReplayDriver* d;
    ~FinishOnExit() {
      if (d->context_.log && !d->stream_.empty()) d->context_.log->FinishStream(d->stream_);
    }
  } finish{this};
  for (const auto& step : plan_) {
    for (;;) {
      if (stop_.load()) return;
      const int64_t wait_ns = start_mono + step.at_ms * 1'000'000 - clock->NowMonoNanos();
      if (wait_ns <= 0) break;
      clock->SleepFor(std::chrono::nanoseconds(std::min<int64_t>(wait_ns, 10'000'000)));
    }
    const sim::PublishRecord& r = log_->publishes[step.index];
    sim::MessageHeaders headers(r.headers.begin(), r.headers.end());
    const int64_t published_ms = clock->NowUnixMillis() - start_unix_ms;
    if (context_.log) {
      // The entry as sent (its outcome follows in Completed): the recorded entry at its replay
      // time, with the expectation of this replay.
      sim::PublishRecord entry = r;
      entry.offset_ms = step.at_ms;
      entry.expected = ExpectedOf(step);
      entry.acked = false;
      entry.publish_error.clear();
      context_.log->AdvanceStream(stream_, step.at_ms);
      Status st = context_.log->Append(entry);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        if (send_status_.ok()) send_status_ = st;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto& s = stats_[r.service];
      ++s.sent;
      const std::string& expected = ExpectedOf(step);
      ++s.expected[expected.empty() ? "applied" : expected];
    }
    ++outstanding_;
    const TimedPublish* planned = &step;  // plan_ is not resized while sending
    Status st = PublisherFor(r.transport)
                    ->Publish(r.subject, r.key, headers, r.payload,
                              [this, planned, published_ms](const sim::PublishOutcome& o) {
                                Completed(*planned, published_ms, o);
                              });
    if (!st.ok()) Completed(step, published_ms, sim::PublishOutcome{false, st.message(), 1});
  }
}

void ReplayDriver::Completed(const TimedPublish& step, int64_t published_ms,
                             const sim::PublishOutcome& outcome) {
  const sim::PublishRecord& r = log_->publishes[step.index];
  if (context_.log) {
    Status st =
        context_.log->AppendOutcome(r.service, sim::OutcomeKey(r), published_ms, outcome.acked,
                                    outcome.error);
    if (!st.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (send_status_.ok()) send_status_ = st;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& s = stats_[r.service];
    (outcome.acked ? s.acked : s.failed)++;
    if (outcome.attempts > 1) ++s.retried;
  }
  --outstanding_;
}

Status ReplayDriver::Wait() {
  if (thread_.joinable()) thread_.join();
  for (auto* p : {jetstream_.get(), core_nats_.get(), kafka_.get()}) {
    if (!p) continue;
    Status st = p->Flush(std::chrono::seconds(30));
    if (!st.ok()) {
      LOG(kWarn, "replay") << "flush: " << st.ToString();
    }
  }
  Clock* clock = context_.clock ? context_.clock : &Clock::System();
  for (int i = 0; i < 300 && outstanding_.load() > 0; ++i) {
    clock->SleepFor(std::chrono::milliseconds(100));
  }
  std::lock_guard<std::mutex> lock(mu_);
  return send_status_;
}

void ReplayDriver::RequestStop() { stop_ = true; }

LoadTotals ReplayDriver::Totals() const {
  std::lock_guard<std::mutex> lock(mu_);
  LoadTotals t;
  for (const auto& entry : stats_) {
    t.sent += entry.second.sent;
    t.acked += entry.second.acked;
    t.failed += entry.second.failed;
  }
  t.expected_dead_letters = expected_dead_letters_;
  return t;
}

std::vector<std::pair<std::string, sim::ServiceRunStats>> ReplayDriver::ServiceStats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {stats_.begin(), stats_.end()};
}

std::string ReplayDriver::Describe() const {
  std::ostringstream out;
  out << "replay of " << plan_.size() << " logged message" << (plan_.size() == 1 ? "" : "s");
  if (!plan_.empty()) out << " over " << plan_.back().at_ms / 1000.0 << "s";
  return out.str();
}

}  // namespace ingestlab
