// Load shapes and arrival scheduling: see load_shape.h.
#include "simulators/load_shape.h"

#include <climits>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace ingestlab::sim {
namespace {

Result<double> ParseRate(std::string_view text, const char* what) {
  const std::string s(text);
  char* end = nullptr;
  const double v = s.empty() ? NAN : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || v < 0) {
    return Status::InvalidArgument(std::string("shape: ") + what +
                                   " must be a non-negative number, got '" + s + "'");
  }
  return v;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t next = s.find(sep, pos);
    out.emplace_back(s.substr(pos, next == std::string_view::npos ? s.npos : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return out;
}

}  // namespace

Result<double> ParseDurationSeconds(std::string_view text) {
  std::string s(text);
  double scale = 1;
  auto ends = [&](std::string_view suffix) {
    return s.size() > suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
  };
  if (ends("ms")) {
    scale = 0.001;
    s.resize(s.size() - 2);
  } else if (ends("s")) {
    s.resize(s.size() - 1);
  } else if (ends("m")) {
    scale = 60;
    s.resize(s.size() - 1);
  } else if (ends("h")) {
    scale = 3600;
    s.resize(s.size() - 1);
  }
  char* end = nullptr;
  const double v = s.empty() ? NAN : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || v < 0) {
    return Status::InvalidArgument("'" + std::string(text) +
                                   "' is not a duration (like 10s, 500ms, 2m)");
  }
  return v * scale;
}

Result<LoadShape> LoadShape::Parse(std::string_view spec, double rate, double duration_seconds) {
  LoadShape shape;
  shape.rate = rate;
  const auto parts = Split(spec, ':');
  const std::string& kind = parts[0];
  if (kind == "constant" || kind == "poisson") {
    if (parts.size() != 1) {
      return Status::InvalidArgument("shape: '" + kind + "' takes no parameters");
    }
    shape.kind = kind == "constant" ? Kind::kConstant : Kind::kPoisson;
    return shape;
  }
  if (kind == "ramp") {
    if (parts.size() != 3 && parts.size() != 4) {
      return Status::InvalidArgument("shape: expected ramp:FROM:TO[:DURATION], got '" +
                                     std::string(spec) + "'");
    }
    shape.kind = Kind::kRamp;
    auto from = ParseRate(parts[1], "ramp FROM");
    if (!from.ok()) return from.status();
    auto to = ParseRate(parts[2], "ramp TO");
    if (!to.ok()) return to.status();
    shape.from = from.value();
    shape.to = to.value();
    shape.ramp_seconds = duration_seconds > 0 ? duration_seconds : 60;
    if (parts.size() == 4) {
      auto d = ParseDurationSeconds(parts[3]);
      if (!d.ok()) return d.status().Annotate("shape: ramp duration");
      shape.ramp_seconds = d.value();
    }
    return shape;
  }
  if (kind == "spike") {
    if (parts.size() != 4) {
      return Status::InvalidArgument("shape: expected spike:PEAK:AT:LENGTH, got '" +
                                     std::string(spec) + "'");
    }
    shape.kind = Kind::kSpike;
    auto peak = ParseRate(parts[1], "spike PEAK");
    if (!peak.ok()) return peak.status();
    auto at = ParseDurationSeconds(parts[2]);
    if (!at.ok()) return at.status().Annotate("shape: spike AT");
    auto len = ParseDurationSeconds(parts[3]);
    if (!len.ok()) return len.status().Annotate("shape: spike LENGTH");
    shape.peak = peak.value();
    shape.spike_at_seconds = at.value();
    shape.spike_seconds = len.value();
    return shape;
  }
  return Status::InvalidArgument("shape: unknown shape '" + kind +
                                 "' (expected constant, poisson, ramp:FROM:TO[:D], "
                                 "spike:PEAK:AT:LEN)");
}

double LoadShape::RateAt(double t) const {
  switch (kind) {
    case Kind::kConstant:
    case Kind::kPoisson:
      return rate;
    case Kind::kRamp:
      if (ramp_seconds <= 0 || t >= ramp_seconds) return to;
      return from + (to - from) * (t / ramp_seconds);
    case Kind::kSpike:
      return t >= spike_at_seconds && t < spike_at_seconds + spike_seconds ? peak : rate;
  }
  return rate;
}

std::string LoadShape::ToString() const {
  std::ostringstream out;
  switch (kind) {
    case Kind::kConstant:
      out << "constant(" << rate << "/s)";
      break;
    case Kind::kPoisson:
      out << "poisson(mean " << rate << "/s)";
      break;
    case Kind::kRamp:
      out << "ramp(" << from << "→" << to << "/s over " << ramp_seconds << "s)";
      break;
    case Kind::kSpike:
      out << "spike(" << rate << "/s, " << peak << "/s at " << spike_at_seconds << "s for "
          << spike_seconds << "s)";
      break;
  }
  return out.str();
}

ArrivalScheduler::ArrivalScheduler(const LoadShape& shape, uint64_t seed)
    : shape_(shape), rng_(Rng(seed).Fork("arrivals")) {}

void ArrivalScheduler::SetRate(double per_second, int64_t at_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  const double at = static_cast<double>(at_ns) / 1e9;
  // A step replaces every later step: the newest instruction wins.
  while (!steps_.empty() && steps_.back().first >= at) steps_.pop_back();
  steps_.emplace_back(at, std::max(0.0, per_second));
}

void ArrivalScheduler::ResetTo(int64_t at_ns) {
  const double at = static_cast<double>(at_ns) / 1e9;
  if (at < t_) t_ = at;
}

double ArrivalScheduler::RateAt(double t) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
    if (it->first <= t) return it->second;
  }
  return shape_.RateAt(t);
}

int64_t ArrivalScheduler::Next() {
  constexpr double kStep = 0.001;      // rates are integrated in 1 ms slices
  constexpr double kHorizon = 3600.0;  // an hour of zero rate ends the schedule
  if (t_ >= kHorizon * 1e6) return INT64_MAX;
  const double due = t_;
  // Advance t_ to the following arrival.
  if (shape_.kind == LoadShape::Kind::kPoisson) {
    const double limit = t_ + kHorizon;
    while (t_ < limit) {
      const double r = RateAt(t_);
      if (r > 0) {
        t_ += rng_.Exponential(1.0 / r);
        break;
      }
      t_ = (std::floor(t_ / kStep) + 1) * kStep;
    }
  } else {
    double need = 1.0;  // one event's worth of rate integral
    const double limit = t_ + kHorizon;
    while (need > 0 && t_ < limit) {
      const double r = RateAt(t_);
      const double slice_end = (std::floor(t_ / kStep + 1e-9) + 1) * kStep;
      const double available = r * (slice_end - t_);
      if (r > 0 && available >= need) {
        t_ += need / r;
        need = 0;
      } else {
        need -= available;
        t_ = slice_end;
      }
    }
    if (need > 0) t_ = kHorizon * 1e6;
  }
  return static_cast<int64_t>(std::llround(due * 1e9));
}

}  // namespace ingestlab::sim
