// ServiceRun: see simulation.h.
#include "simulators/simulation.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "common/log.h"

namespace ingestlab::sim {

double Percentile(std::vector<int64_t>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const size_t i = static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(values.size())));
  return static_cast<double>(values[i - 1]);
}

Result<std::unique_ptr<ServiceRun>> ServiceRun::Create(const ServiceRunOptions& options,
                                                       Publisher* publisher, EventLogWriter* log,
                                                       Clock* clock) {
  StreamOptions stream_options = options.stream;
  stream_options.transport = publisher->transport();
  auto stream = MessageStream::Create(stream_options);
  if (!stream.ok()) return stream.status();
  ServiceRunOptions o = options;
  o.stream = stream_options;
  return std::unique_ptr<ServiceRun>(
      new ServiceRun(o, std::move(stream).value(), publisher, log, clock));
}

ServiceRun::ServiceRun(const ServiceRunOptions& options, std::unique_ptr<MessageStream> stream,
                       Publisher* publisher, EventLogWriter* log, Clock* clock)
    : options_(options),
      stream_(std::move(stream)),
      scheduler_(options.shape,
                 Rng(options.stream.seed).Fork("schedule." + options.stream.service).NextU64()),
      publisher_(publisher),
      log_(log),
      clock_(clock) {}

void ServiceRun::SetRate(double per_second) {
  scheduler_.SetRate(per_second, started_.load() ? OffsetNanos() : 0);
  rate_changed_.store(true);
}

ServiceRunStats ServiceRun::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  ServiceRunStats s = stats_;
  std::vector<int64_t> lat = latencies_us_;
  s.p50_ms = Percentile(lat, 50) / 1000.0;
  s.p99_ms = Percentile(lat, 99) / 1000.0;
  s.max_ms = lat.empty() ? 0 : static_cast<double>(lat.back()) / 1000.0;
  return s;
}

void ServiceRun::Send(PlannedMessage message, int64_t scheduled_ns) {
  const int64_t published_ns = OffsetNanos();
  const int64_t lateness_ms = (published_ns - scheduled_ns) / 1'000'000;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.sent;
    ++stats_.expected[message.expected];
    if (lateness_ms > options_.late_bound_ms) ++stats_.late;
    stats_.max_lateness_ms = std::max(stats_.max_lateness_ms, lateness_ms);
  }
  auto shared = std::make_shared<PlannedMessage>(std::move(message));
  auto complete = [this, shared, scheduled_ns, published_ns](const PublishOutcome& outcome) {
    const int64_t now_ns = OffsetNanos();
    if (log_) {
      PublishRecord r;
      r.offset_ms = now_ns / 1'000'000;
      r.service = shared->service;
      r.seq = shared->seq;
      r.type = shared->type;
      r.event_id = shared->event_id;
      r.transport = TransportName(publisher_->transport());
      r.subject = shared->subject;
      r.key = shared->key;
      for (const auto& [k, v] : shared->headers) r.headers[k] = v;
      r.payload = shared->payload;
      r.expected = shared->expected;
      r.scheduled_ms = scheduled_ns / 1'000'000;
      r.published_ms = published_ns / 1'000'000;
      r.acked = outcome.acked;
      r.publish_error = outcome.error;
      Status st = log_->Append(r);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        if (log_status_.ok()) log_status_ = st;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (outcome.attempts > 1) ++stats_.retried;
    if (outcome.acked) {
      ++stats_.acked;
      latencies_us_.push_back((now_ns - published_ns) / 1000);
    } else {
      ++stats_.failed;
    }
  };
  Status st =
      publisher_->Publish(shared->subject, shared->key, shared->headers, shared->payload, complete);
  if (!st.ok()) complete(PublishOutcome{false, st.ToString(), 1});
}

Status ServiceRun::Run() {
  start_mono_ns_ = clock_->NowMonoNanos();
  started_.store(true);
  const int64_t duration_ns =
      options_.duration_seconds > 0
          ? static_cast<int64_t>(std::llround(options_.duration_seconds * 1e9))
          : INT64_MAX;
  uint64_t sent = 0;
  int64_t last_progress_ns = 0;
  int64_t pending_due = -1;  // an arrival taken from the scheduler but not yet sent
  while (!stop_.load()) {
    if (options_.count > 0 && sent >= options_.count) break;
    const int64_t due = pending_due >= 0 ? pending_due : scheduler_.Next();
    pending_due = -1;
    if (due >= duration_ns || due == INT64_MAX) break;
    // Wait for the due time in slices, so a stop request is noticed quickly.
    int64_t now = OffsetNanos();
    bool rescheduled = false;
    while (due > now && !stop_.load()) {
      if (rate_changed_.exchange(false)) {  // the gap was computed at the old rate
        scheduler_.ResetTo(now);
        rescheduled = true;
        break;
      }
      clock_->SleepFor(std::chrono::nanoseconds(std::min<int64_t>(due - now, 10'000'000)));
      now = OffsetNanos();
    }
    if (rescheduled) continue;
    if (stop_.load()) break;
    if (now >= duration_ns) {  // the run's time is up while arrivals are still due
      pending_due = due;
      break;
    }
    PlannedMessage m = stream_->Next(options_.start_unix_ms + due / 1'000'000);
    Send(std::move(m), due);
    ++sent;
    if (now - last_progress_ns >= 10'000'000'000LL) {
      last_progress_ns = now;
      const ServiceRunStats s = stats();
      LOG(kInfo, "simulate") << service() << ": " << s.sent << " sent, " << s.acked << " acked, "
                             << s.failed << " failed, " << s.late << " late after "
                             << now / 1'000'000'000 << "s";
    }
  }
  // Arrivals due before the end that were never sent are the shortfall.
  if (!stop_.load() && duration_ns != INT64_MAX) {
    uint64_t shortfall = 0;
    for (int64_t due = pending_due >= 0 ? pending_due : scheduler_.Next(); due < duration_ns;
         due = scheduler_.Next()) {
      if (options_.count > 0 && sent + shortfall >= options_.count) break;
      ++shortfall;
    }
    std::lock_guard<std::mutex> lock(mu_);
    stats_.shortfall = shortfall;
  }
  // Held-back (out-of-order) events are real events: they go out even at the end.
  for (auto& m : stream_->DrainHeld()) Send(std::move(m), OffsetNanos());
  Status flushed = publisher_->Flush(options_.flush_timeout);
  if (!flushed.ok()) {
    LOG(kWarn, "simulate") << service() << ": " << flushed.ToString();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.elapsed_seconds = static_cast<double>(OffsetNanos()) / 1e9;
    return log_status_;
  }
}

}  // namespace ingestlab::sim
