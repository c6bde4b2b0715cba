// CommitMeter implementations: the store's events table, or a /metrics endpoint.
#include "harness/load_meter.h"

#include <httplib.h>
#include <sqlite3.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>

#include "harness/infra/prometheus.h"

namespace ingestlab {
namespace {

class StoreMeter final : public CommitMeter {
 public:
  ~StoreMeter() override {
    sqlite3_finalize(events_);
    sqlite3_finalize(dead_);
    sqlite3_close(db_);
  }

  static Result<std::unique_ptr<CommitMeter>> Open(const std::string& path) {
    std::unique_ptr<StoreMeter> m(new StoreMeter());
    if (sqlite3_open_v2(path.c_str(), &m->db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      return Status::Io("cannot open the store " + path + ": " + sqlite3_errmsg(m->db_));
    }
    sqlite3_busy_timeout(m->db_, 2000);
    if (sqlite3_prepare_v2(m->db_,
                           "SELECT rowid, event_time, committed_at, CASE WHEN dialect = 'customer-event' "
                           "THEN event_id END FROM events WHERE rowid > ?1 "
                           "ORDER BY rowid LIMIT 20000",
                           -1, &m->events_, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(m->db_, "SELECT coalesce(max(rowid), 0) FROM dead_letters", -1,
                           &m->dead_, nullptr) != SQLITE_OK) {
      return Status::InvalidArgument(path + " is not an ingestd store: " +
                                     sqlite3_errmsg(m->db_));
    }
    // Start at the current end.
    sqlite3_stmt* end = nullptr;
    if (sqlite3_prepare_v2(m->db_, "SELECT coalesce(max(rowid), 0) FROM events", -1, &end,
                           nullptr) != SQLITE_OK) {
      return Status::InvalidArgument(path + ": " + sqlite3_errmsg(m->db_));
    }
    if (sqlite3_step(end) == SQLITE_ROW) m->last_event_ = sqlite3_column_int64(end, 0);
    sqlite3_finalize(end);
    if (sqlite3_step(m->dead_) == SQLITE_ROW) m->last_dead_ = sqlite3_column_int64(m->dead_, 0);
    sqlite3_reset(m->dead_);
    return std::unique_ptr<CommitMeter>(std::move(m));
  }

  Status Poll(CommitDelta* out) override {
    for (;;) {
      sqlite3_bind_int64(events_, 1, last_event_);
      int rows = 0, rc = 0;
      while ((rc = sqlite3_step(events_)) == SQLITE_ROW) {
        last_event_ = sqlite3_column_int64(events_, 0);
        CommittedEvent e;
        e.event_time_ms = sqlite3_column_int64(events_, 1);
        e.committed_at_ms = sqlite3_column_int64(events_, 2);
        if (const unsigned char* id = sqlite3_column_text(events_, 3)) {
          e.customer_event_id = reinterpret_cast<const char*>(id);
        }
        out->events.push_back(std::move(e));
        ++out->committed;
        ++rows;
      }
      sqlite3_reset(events_);
      if (rc != SQLITE_DONE) return Status::Io(std::string("reading events: ") + sqlite3_errmsg(db_));
      if (rows < 20000) break;
    }
    const int rc = sqlite3_step(dead_);
    if (rc == SQLITE_ROW) {
      const int64_t max_id = sqlite3_column_int64(dead_, 0);
      if (max_id > last_dead_) out->dead_letters += static_cast<uint64_t>(max_id - last_dead_);
      last_dead_ = std::max(last_dead_, max_id);
    }
    sqlite3_reset(dead_);
    if (rc != SQLITE_ROW) return Status::Io(std::string("reading dead_letters: ") + sqlite3_errmsg(db_));
    return Status::Ok();
  }

  std::string source() const override { return "store"; }

 private:
  StoreMeter() = default;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* events_ = nullptr;
  sqlite3_stmt* dead_ = nullptr;
  int64_t last_event_ = 0;
  int64_t last_dead_ = 0;
};

constexpr char kBucketPrefix[] = "ingest_e2e_latency_ms_bucket{";

// Cumulative bucket counts by upper bound, summed over any other labels.
std::map<double, double> Buckets(const PrometheusSample& s) {
  std::map<double, double> out;
  for (const auto& [series, value] : s.series) {
    if (series.rfind(kBucketPrefix, 0) != 0) continue;
    const size_t le = series.find("le=\"");
    if (le == std::string::npos) continue;
    const size_t start = le + 4;
    const size_t end = series.find('"', start);
    if (end == std::string::npos) continue;
    const std::string bound = series.substr(start, end - start);
    double b = bound == "+Inf" ? std::numeric_limits<double>::infinity()
                               : std::strtod(bound.c_str(), nullptr);
    out[b] += value;
  }
  return out;
}

class MetricsMeter final : public CommitMeter {
 public:
  static Result<std::unique_ptr<CommitMeter>> Open(const std::string& url) {
    std::unique_ptr<MetricsMeter> m(new MetricsMeter());
    std::string rest = url;
    if (rest.rfind("http://", 0) == 0) {
      rest = rest.substr(7);
    } else if (rest.find("://") != std::string::npos) {
      return Status::InvalidArgument("--metrics takes an http:// URL, got '" + url + "'");
    }
    const size_t slash = rest.find('/');
    m->host_port_ = rest.substr(0, slash);
    m->path_ = slash == std::string::npos ? "/metrics" : rest.substr(slash);
    if (m->host_port_.empty()) return Status::InvalidArgument("--metrics: no host in '" + url + "'");
    auto first = m->Scrape();
    if (!first.ok()) return first.status();
    m->last_ = std::move(first.value());
    if (m->last_.totals.count("ingest_applied_total") == 0 &&
        m->last_.series.count("ingest_applied_total") == 0) {
      // A fresh ingestd exports the family only after its first event; accept, but say so if
      // there is no ingestd metric at all.
      bool any = false;
      for (const auto& [name, v] : m->last_.totals) any = any || name.rfind("ingest_", 0) == 0;
      if (!any) {
        return Status::InvalidArgument(url + " exports no ingest_* metrics (is it ingestd's?)");
      }
    }
    return std::unique_ptr<CommitMeter>(std::move(m));
  }

  Status Poll(CommitDelta* out) override {
    auto now = Scrape();
    if (!now.ok()) return now.status();
    const double applied = now->Total("ingest_applied_total") - last_.Total("ingest_applied_total");
    const double dead =
        now->Total("ingest_dead_letters_total") - last_.Total("ingest_dead_letters_total");
    if (applied > 0) out->committed += static_cast<uint64_t>(std::llround(applied));
    if (dead > 0) out->dead_letters += static_cast<uint64_t>(std::llround(dead));
    const auto before = Buckets(last_);
    const auto after = Buckets(*now);
    double prev_cum = 0;
    for (const auto& [bound, cum] : after) {
      auto it = before.find(bound);
      const double delta_cum = cum - (it == before.end() ? 0 : it->second);
      const double n = delta_cum - prev_cum;
      prev_cum = delta_cum;
      if (n > 0) out->latency_buckets.emplace_back(bound, static_cast<int64_t>(std::llround(n)));
    }
    last_ = std::move(now.value());
    return Status::Ok();
  }

  std::string source() const override { return "metrics"; }

 private:
  Result<PrometheusSample> Scrape() const {
    httplib::Client client("http://" + host_port_);
    client.set_connection_timeout(2, 0);
    client.set_read_timeout(5, 0);
    auto res = client.Get(path_.c_str());
    if (!res) {
      return Status::Transient("cannot reach " + host_port_ + path_ + ": " +
                                 httplib::to_string(res.error()));
    }
    if (res->status != 200) {
      return Status::Transient(host_port_ + path_ + " answered HTTP " +
                                 std::to_string(res->status));
    }
    return ParsePrometheusText(res->body);
  }

  std::string host_port_;
  std::string path_;
  PrometheusSample last_;
};

}  // namespace

Result<std::unique_ptr<CommitMeter>> OpenStoreMeter(const std::string& db_path) {
  return StoreMeter::Open(db_path);
}

Result<std::unique_ptr<CommitMeter>> OpenMetricsMeter(const std::string& url) {
  return MetricsMeter::Open(url);
}

}  // namespace ingestlab
