#include "system/metrics.h"

#include <cmath>
#include <sstream>

#include "common/redact.h"

namespace ingestlab {
namespace {

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string FormatDouble(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::ostringstream os;
  os.precision(12);
  os << v;
  return os.str();
}

// Inserts an extra label into an already rendered label set.
std::string WithLabel(const std::string& rendered, const std::string& k, const std::string& v) {
  std::string extra = k + "=\"" + v + "\"";
  if (rendered.empty()) return "{" + extra + "}";
  return rendered.substr(0, rendered.size() - 1) + "," + extra + "}";
}

}  // namespace

std::string RenderLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    // Label values may echo configuration (a consumer, a broker): never a secret.
    out += labels[i].first + "=\"" + Escape(RedactText(labels[i].second)) + "\"";
  }
  return out + "}";
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<int64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i] = 0;
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<int64_t> Histogram::cumulative() const {
  std::vector<int64_t> out(bounds_.size() + 1);
  int64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += counts_[i].load(std::memory_order_relaxed);
    out[i] = acc;
  }
  return out;
}

double Histogram::sum() const { return sum_.load(std::memory_order_relaxed); }
int64_t Histogram::count() const { return count_.load(std::memory_order_relaxed); }

double Histogram::Quantile(double q) const {
  const auto cum = cumulative();
  const int64_t total = cum.back();
  if (total == 0) return 0;
  const double rank = q * static_cast<double>(total);
  for (size_t i = 0; i < cum.size(); ++i) {
    if (static_cast<double>(cum[i]) >= rank) {
      if (i == bounds_.size()) return bounds_.empty() ? 0 : bounds_.back();
      const double lo = i == 0 ? 0 : bounds_[i - 1];
      const double below = i == 0 ? 0 : static_cast<double>(cum[i - 1]);
      const double in_bucket = static_cast<double>(cum[i]) - below;
      if (in_bucket <= 0) return bounds_[i];
      return lo + (bounds_[i] - lo) * (rank - below) / in_bucket;
    }
  }
  return bounds_.empty() ? 0 : bounds_.back();
}

Metrics::Family& Metrics::family(const std::string& name, const std::string& help,
                                 const char* type) {
  auto& f = families_[name];
  if (f.type.empty()) {
    f.help = help;
    f.type = type;
  }
  return f;
}

Counter* Metrics::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = family(name, help, "counter").counters[RenderLabels(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return slot.get();
}

Gauge* Metrics::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = family(name, help, "gauge").gauges[RenderLabels(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* Metrics::histogram(const std::string& name, const std::string& help,
                              const std::vector<double>& bounds, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = family(name, help, "histogram").histograms[RenderLabels(labels)];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return slot.get();
}

std::string Metrics::RenderPrometheus() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream os;
  for (const auto& [name, f] : families_) {
    os << "# HELP " << name << ' ' << f.help << '\n' << "# TYPE " << name << ' ' << f.type << '\n';
    for (const auto& [labels, c] : f.counters) os << name << labels << ' ' << c->value() << '\n';
    for (const auto& [labels, g] : f.gauges) {
      os << name << labels << ' ' << FormatDouble(g->value()) << '\n';
    }
    for (const auto& [labels, h] : f.histograms) {
      const auto cum = h->cumulative();
      for (size_t i = 0; i < cum.size(); ++i) {
        const std::string le = i < h->bounds().size() ? FormatDouble(h->bounds()[i]) : "+Inf";
        os << name << "_bucket" << WithLabel(labels, "le", le) << ' ' << cum[i] << '\n';
      }
      os << name << "_sum" << labels << ' ' << FormatDouble(h->sum()) << '\n';
      os << name << "_count" << labels << ' ' << h->count() << '\n';
    }
  }
  return os.str();
}

std::vector<double> Metrics::LatencyBoundsMs() {
  return {0.5, 1, 2, 5, 10, 15, 20, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};
}

std::vector<double> Metrics::BatchSizeBounds() {
  return {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000};
}

}  // namespace ingestlab
