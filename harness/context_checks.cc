// context_consistent: read-your-writes and tenant isolation of context reads; see
// context_checks.h.
#include "harness/context_checks.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "harness/reference_model.h"

namespace ingestlab {
namespace {

// A customer's state as the reference model gives it: absent, or its organisation (empty while
// only events that carry none have touched it) and lifetime value.
struct Customer {
  std::string org;
  double lifetime_value = 0;
};
using CustomerState = std::optional<Customer>;

// Whether the context API may show the customer to a token of `org`.
bool VisibleTo(const CustomerState& s, const std::string& org) { return s && s->org == org; }

std::string DescribeValue(double v) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(2);
  out << "lifetime_value " << v;
  return out.str();
}

std::string Describe(const CustomerState& s) {
  if (!s) return "no customer";
  if (s->org.empty()) return "a customer of no organisation yet";
  return DescribeValue(s->lifetime_value);
}

bool SameValue(double a, double b) {
  return std::fabs(a - b) <= 1e-6 * std::max(1.0, std::fabs(a));
}

// The committed events of each customer in commit order, and the reference model's state of a
// customer after its first n of them (memoized: reads of one customer share their prefixes).
class CustomerHistory {
 public:
  explicit CustomerHistory(const RunObservations& obs) : obs_(obs) {
    for (const auto& row : obs.applied) {
      if (!row.customer_id.empty()) {
        events_[row.customer_id].emplace_back(row.committed_at_ms, row.event_id);
      }
    }
    for (auto& [_, list] : events_) std::stable_sort(list.begin(), list.end());
    for (size_t i = 0; i < obs.publishes.size(); ++i) {
      if (!obs.publishes[i].event_id.empty()) copies_[obs.publishes[i].event_id].push_back(i);
    }
  }

  // How many of the customer's events were committed before `ms` (inclusive: at or before).
  size_t CountBefore(const std::string& customer, int64_t ms, bool inclusive) const {
    auto it = events_.find(customer);
    if (it == events_.end()) return 0;
    const auto& list = it->second;
    auto pos = inclusive
                   ? std::upper_bound(list.begin(), list.end(),
                                      std::make_pair(ms, std::string("\xff\xff")))
                   : std::lower_bound(list.begin(), list.end(), std::make_pair(ms, std::string()));
    return static_cast<size_t>(pos - list.begin());
  }

  const CustomerState& StateAfter(const std::string& customer, size_t n) {
    auto key = std::make_pair(customer, n);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    std::vector<PublishRecord> publishes;
    std::unordered_set<std::string> stored;
    if (auto it = events_.find(customer); it != events_.end()) {
      for (size_t k = 0; k < n && k < it->second.size(); ++k) {
        const std::string& id = it->second[k].second;
        stored.insert(id);
        if (auto c = copies_.find(id); c != copies_.end()) {
          for (size_t index : c->second) publishes.push_back(obs_.publishes[index]);
        }
      }
    }
    ModelOptions options;
    options.auto_create_customers = obs_.auto_create_customers;
    ReferenceModel model(options);
    model.Build(publishes, /*skip=*/{}, stored);
    CustomerState state;
    const auto& customers = model.tables().at("customers");
    if (auto row = customers.find(customer); row != customers.end()) {
      Customer c;
      if (const ModelValue* org = row->second.find("org_id");
          org && org->kind == ModelValue::kText) {
        c.org = org->s;
      }
      if (const ModelValue* v = row->second.find("lifetime_value")) {
        c.lifetime_value = v->kind == ModelValue::kReal  ? v->r
                           : v->kind == ModelValue::kInt ? static_cast<double>(v->i)
                                                         : 0.0;
      }
      state = std::move(c);
    }
    return memo_.emplace(key, state).first->second;
  }

 private:
  const RunObservations& obs_;
  std::unordered_map<std::string, std::vector<std::pair<int64_t, std::string>>> events_;
  std::unordered_map<std::string, std::vector<size_t>> copies_;
  std::map<std::pair<std::string, size_t>, CustomerState> memo_;
};

// Whether a disruptive fault (an instance killed, stopped or paused, ...) was in effect at `ms`.
bool DuringDisruption(const RunObservations& obs, int64_t ms) {
  const double t = (ms - obs.start_ms) / 1000.0;
  for (const auto& f : obs.faults) {
    if (!f.disruptive) continue;
    const double end = f.recovered_s < 0 ? 1e18 : f.recovered_s + 5;  // and its reconnection
    if (t >= f.at_s && t <= end) return true;
  }
  return false;
}

}  // namespace

ContextConsistency CheckContextReads(const RunObservations& obs, double slack_ms) {
  ContextConsistency out;
  CustomerHistory history(obs);
  std::map<std::string, size_t> shown;  // problems kept, by kind
  auto problem = [&](const ContextRead& r, const std::string& what, std::string expected,
                     std::string observed) {
    if (shown[what]++ >= kMaxOffending) return;
    out.problems.push_back({r, what, std::move(expected), std::move(observed)});
  };
  const int64_t slack = static_cast<int64_t>(std::llround(slack_ms));
  for (const ContextRead& r : obs.context_reads) {
    ++out.reads;
    const bool own = r.token_org == r.customer_org;
    if (!own) ++out.cross_tenant;
    if (r.status == 0) {
      if (DuringDisruption(obs, r.start_ms)) {
        ++out.excused;
      } else {
        ++out.failed;
        problem(r, "unanswered context read", "an answer", r.error.empty() ? "none" : r.error);
      }
      continue;
    }
    if (!own) {
      if (r.status == 404) {
        ++out.ok;
      } else {
        ++(r.status == 200 ? out.leaks : out.failed);
        problem(r, r.status == 200 ? "another tenant's customer" : "unexpected status",
                "404 for a token of " + r.token_org,
                "HTTP " + std::to_string(r.status) +
                    (r.response_org.empty() ? "" : " showing " + r.response_org));
      }
      continue;
    }
    if (r.status != 200 && r.status != 404) {
      ++out.failed;
      problem(r, "unexpected status", "200 or 404", "HTTP " + std::to_string(r.status));
      continue;
    }
    if (r.status == 200 && r.response_org != r.token_org) {
      ++out.leaks;
      problem(r, "another tenant's customer", "org_id " + r.token_org,
              "org_id '" + r.response_org + "'");
      continue;
    }
    const size_t lo = history.CountBefore(r.customer_id, r.start_ms - slack, /*inclusive=*/false);
    const size_t hi =
        std::max(lo, history.CountBefore(r.customer_id, r.end_ms, /*inclusive=*/true));
    const CustomerState& first = history.StateAfter(r.customer_id, lo);
    if (r.status == 404) {
      if (VisibleTo(first, r.token_org)) {
        ++out.stale;
        problem(r, "stale context",
                Describe(first) + " (" + std::to_string(lo) + " events committed before the read)",
                "404");
      } else {
        ++out.ok;
      }
      continue;
    }
    if (!r.has_lifetime_value) {
      ++out.failed;
      problem(r, "unreadable context", "a profile with lifetime_value",
              r.error.empty() ? "none" : r.error);
      continue;
    }
    if (hi - lo > kMaxStatesPerRead) {
      ++out.unjudged;
      continue;
    }
    bool match = false;
    bool exists = false;
    for (size_t n = lo; n <= hi && !match; ++n) {
      const CustomerState& s = history.StateAfter(r.customer_id, n);
      exists = exists || VisibleTo(s, r.token_org);
      match = VisibleTo(s, r.token_org) && SameValue(s->lifetime_value, r.lifetime_value);
    }
    if (match) {
      ++out.ok;
      continue;
    }
    ++out.stale;
    std::string expected = Describe(first);
    if (hi > lo) expected += " .. " + Describe(history.StateAfter(r.customer_id, hi));
    expected += " (" + std::to_string(lo) + " to " + std::to_string(hi) +
                " of its events committed by then)";
    problem(r, "stale context", expected,
            DescribeValue(r.lifetime_value) +
                (exists ? "" : " for a customer not yet stored for " + r.token_org));
  }
  return out;
}

}  // namespace ingestlab
