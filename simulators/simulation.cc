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
  std::unique_ptr<ServiceRun> run(
      new ServiceRun(o, std::move(stream).value(), publisher, log, clock));
  if (log) run->log_stream_ = log->RegisterStream("service:" + o.stream.service);
  return run;
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
  SetRate(per_second, started_.load() ? OffsetNanos() : 0);
}

void ServiceRun::SetRate(double per_second, int64_t at_ns) {
  scheduler_.SetRate(per_second, at_ns);
  if (!started_.load()) return;  // planned: the schedule integrates it exactly
  rate_change_at_ns_.store(at_ns);
  rate_changed_.store(true);
}

ServiceRunStats ServiceRun::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  ServiceRunStats s = stats_;
  s.publish_latency = latencies_;
  s.p50_ms = latencies_.PercentileMillis(50);
  s.p99_ms = latencies_.PercentileMillis(99);
  s.max_ms = latencies_.MaxMillis();
  return s;
}

void ServiceRun::Send(PlannedMessage message, int64_t scheduled_ns) {
  const int64_t published_ns = OffsetNanos();
  const int64_t lateness_ms = (published_ns - scheduled_ns) / 1'000'000;
  uint64_t msg;  // this service's message number: sends are sequential, so deterministic
  {
    std::lock_guard<std::mutex> lock(mu_);
    msg = ++stats_.sent;
    ++stats_.expected[message.expected];
    if (lateness_ms > options_.late_bound_ms) ++stats_.late;
    stats_.max_lateness_ms = std::max(stats_.max_lateness_ms, lateness_ms);
  }
  if (options_.on_send) {
    options_.on_send(message, options_.start_unix_ms + scheduled_ns / 1'000'000);
  }
  auto shared = std::make_shared<PlannedMessage>(std::move(message));
  if (log_) {
    // What is sent, at its scheduled time: deterministic. The outcome goes to the sidecar.
    PublishRecord r;
    r.offset_ms = scheduled_ns / 1'000'000;
    r.service = shared->service;
    r.seq = shared->seq;
    r.msg = msg;
    r.type = shared->type;
    r.event_id = shared->event_id;
    r.transport = TransportName(publisher_->transport());
    r.subject = shared->subject;
    r.key = shared->key;
    for (const auto& [k, v] : shared->headers) r.headers[k] = v;
    r.payload = shared->payload;
    r.expected = shared->expected;
    Status st = log_->Append(r);
    if (!st.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (log_status_.ok()) log_status_ = st;
    }
  }
  auto complete = [this, shared, msg, published_ns](const PublishOutcome& outcome) {
    const int64_t now_ns = OffsetNanos();
    if (log_) {
      Status st = log_->AppendOutcome(shared->service, msg, published_ns / 1'000'000,
                                      outcome.acked, outcome.error);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        if (log_status_.ok()) log_status_ = st;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (outcome.attempts > 1) ++stats_.retried;
    if (outcome.acked) {
      ++stats_.acked;
      latencies_.RecordMicros((now_ns - published_ns) / 1000);
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
  int64_t last_due = 0;      // the last arrival sent
  int64_t watermark_ns = 0;  // the log stream's watermark (whole ms), in ns
  while (!stop_.load()) {
    if (options_.count > 0 && sent >= options_.count) break;
    const int64_t due = pending_due >= 0 ? pending_due : scheduler_.Next();
    pending_due = -1;
    if (due == INT64_MAX && duration_ns == INT64_MAX && options_.count == 0) {
      // An endless run at rate zero idles until the rate changes (or it is stopped).
      while (!stop_.load() && !rate_changed_.load()) {
        clock_->SleepFor(std::chrono::milliseconds(10));
      }
      if (rate_changed_.exchange(false)) {
        scheduler_.ResetTo(std::max(rate_change_at_ns_.load(), watermark_ns));
      }
      continue;
    }
    if (due >= duration_ns || due == INT64_MAX) break;
    if (log_ && due / 1'000'000 * 1'000'000 > watermark_ns) {
      watermark_ns = due / 1'000'000 * 1'000'000;  // nothing of this stream comes earlier
      log_->AdvanceStream(log_stream_, due / 1'000'000);
    }
    // Wait for the due time in slices, so a stop request is noticed quickly.
    int64_t now = OffsetNanos();
    bool rescheduled = false;
    while (due > now && !stop_.load()) {
      if (rate_changed_.exchange(false)) {
        // The gap may have been computed at the old rate: restart the schedule at the change
        // (never before what was already sent or announced to the log).
        const int64_t at = std::max(rate_change_at_ns_.load(), watermark_ns);
        scheduler_.ResetTo(at);
        if (due >= at) {
          rescheduled = true;
          break;
        }
      }
      clock_->SleepFor(std::chrono::nanoseconds(std::min<int64_t>(due - now, 10'000'000)));
      now = OffsetNanos();
    }
    if (rescheduled) continue;
    if (stop_.load()) break;
    // The run's time is up while arrivals are still due. A run only a little behind at the end
    // (scheduling jitter on a busy machine) still sends them: a shortfall changes the log.
    if (duration_ns != INT64_MAX && now >= duration_ns + kEndGraceNanos) {
      pending_due = due;
      break;
    }
    PlannedMessage m = stream_->Next(options_.start_unix_ms + due / 1'000'000);
    Send(std::move(m), due);
    last_due = due;
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
  // Held-back (out-of-order) events are real events: they go out at the end of a run that
  // reached its end, at a deterministic time (the end of the duration, or the last due). A
  // stopped run's stream stays open in the log, which keeps the log a prefix of the full run's.
  if (!stop_.load()) {
    const int64_t end_ns = duration_ns != INT64_MAX ? duration_ns : last_due;
    for (auto& m : stream_->DrainHeld()) Send(std::move(m), end_ns);
    if (log_) log_->FinishStream(log_stream_);
  }
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
