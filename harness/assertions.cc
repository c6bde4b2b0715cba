// Assertion evaluation: no loss, exactly once, dead letters, latency, throughput, reconnection
// and drain time, context reads and circuit breakers, each with measured value vs threshold.
#include "harness/assertions.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "harness/context_checks.h"

namespace ingestlab {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::string Num(double v) {
  if (!std::isfinite(v)) return "never";
  std::ostringstream out;
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    out << static_cast<int64_t>(v);
  } else {
    out << std::fixed << std::setprecision(v < 10 ? 3 : 1) << v;
  }
  return out.str();
}

bool Compare(double measured, const std::string& op, double threshold) {
  if (op == "<=") return measured <= threshold;
  if (op == "<") return measured < threshold;
  if (op == ">=") return measured >= threshold;
  if (op == "==") return measured == threshold;
  return false;
}

// Indexes shared by several checks.
struct Index {
  std::unordered_map<std::string, const AppliedRow*> applied_by_id;
  // Dead letters not yet matched to an expected one, by payload and by id.
  std::unordered_multimap<std::string, size_t> dead_by_payload;
  std::unordered_multimap<std::string, size_t> dead_by_id;
  std::unordered_set<std::string> dead_ids;

  explicit Index(const RunObservations& obs) {
    for (const auto& row : obs.applied) {
      applied_by_id.emplace(row.event_id, &row);
    }
    for (size_t i = 0; i < obs.dead_letters.size(); ++i) {
      const auto& d = obs.dead_letters[i];
      dead_by_payload.emplace(d.payload, i);
      if (!d.event_id.empty()) {
        dead_by_id.emplace(d.event_id, i);
        dead_ids.insert(d.event_id);
      }
    }
  }
};

OffendingEvent Offend(const PublishRecord& p, const std::string& problem,
                      const std::string& expected, const std::string& observed) {
  OffendingEvent o;
  o.event_id = p.event_id;
  o.problem = problem;
  o.expected = expected;
  o.observed = observed;
  o.service = p.service;
  o.type = p.type;
  o.subject = p.subject;
  o.payload = p.payload;
  return o;
}

// At most kMaxOffending per problem, so that many events of one kind (hundreds missing) do not
// hide every event of another (applied twice).
void AddOffending(Evaluation* ev, OffendingEvent o) {
  const auto same = std::count_if(ev->offending.begin(), ev->offending.end(),
                                  [&](const OffendingEvent& e) { return e.problem == o.problem; });
  if (static_cast<size_t>(same) < kMaxOffending) ev->offending.push_back(std::move(o));
}

// Matches every expected dead letter (acked publishes expecting one) to a dead_letters row, by
// exact payload first and then by id. Returns, per publish index, the matched row or -1, and
// leaves the unmatched rows in `unmatched_rows`.
struct DeadLetterMatch {
  std::vector<long> row_for_publish;  // -1: no row found (only for expect == dead_letter)
  std::vector<bool> row_used;
};

DeadLetterMatch MatchDeadLetters(const RunObservations& obs) {
  DeadLetterMatch m;
  m.row_for_publish.assign(obs.publishes.size(), -1);
  m.row_used.assign(obs.dead_letters.size(), false);
  std::unordered_map<std::string, std::vector<size_t>> by_payload, by_id;
  for (size_t i = 0; i < obs.dead_letters.size(); ++i) {
    by_payload[obs.dead_letters[i].payload].push_back(i);
    if (!obs.dead_letters[i].event_id.empty()) by_id[obs.dead_letters[i].event_id].push_back(i);
  }
  auto take = [&](std::vector<size_t>& rows) -> long {
    for (size_t r : rows) {
      if (!m.row_used[r]) {
        m.row_used[r] = true;
        return static_cast<long>(r);
      }
    }
    return -1;
  };
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < obs.publishes.size(); ++i) {
      const auto& p = obs.publishes[i];
      if (!p.acked || p.expect != "dead_letter" || m.row_for_publish[i] >= 0) continue;
      if (pass == 0 && !p.payload.empty()) {
        auto it = by_payload.find(p.payload);
        if (it != by_payload.end()) m.row_for_publish[i] = take(it->second);
      } else if (pass == 1 && !p.event_id.empty()) {
        auto it = by_id.find(p.event_id);
        if (it != by_id.end()) m.row_for_publish[i] = take(it->second);
      }
    }
  }
  return m;
}

AssertionResult Make(const AssertionSpec& spec, std::string name, double measured,
                     const std::string& op, double threshold, std::string unit,
                     std::string detail) {
  AssertionResult r;
  r.name = std::move(name);
  r.kind = spec.kind;
  r.measured = measured;
  r.threshold = threshold;
  r.op = op;
  r.unit = std::move(unit);
  r.detail = std::move(detail);
  r.passed = Compare(measured, op, threshold);
  r.line = spec.line;
  return r;
}

void CheckNoLoss(const AssertionSpec& spec, const RunObservations& obs, const Index& idx,
                 const DeadLetterMatch& dl, Evaluation* ev) {
  // Per distinct id: what the acked publishes of it expect.
  std::unordered_map<std::string, size_t> first_publish;  // id -> publish index
  size_t acked = 0, not_acked = 0, expected_dead = 0, missing = 0;
  for (size_t i = 0; i < obs.publishes.size(); ++i) {
    const auto& p = obs.publishes[i];
    if (!p.acked) {
      ++not_acked;
      continue;
    }
    ++acked;
    if (p.expect == "dead_letter") {
      ++expected_dead;
      const bool found = dl.row_for_publish[i] >= 0 ||
                         (!p.event_id.empty() && idx.applied_by_id.count(p.event_id));
      if (!found) {
        ++missing;
        AddOffending(ev, Offend(p, "missing", "dead letter (" + p.expect_reason + ")",
                                "absent from events and dead_letters"));
      }
      continue;
    }
    if (p.event_id.empty()) continue;
    first_publish.emplace(p.event_id, i);
  }
  size_t applied = 0, dead_instead = 0;
  for (const auto& [id, i] : first_publish) {
    if (idx.applied_by_id.count(id)) {
      ++applied;
    } else if (idx.dead_ids.count(id)) {
      ++dead_instead;  // not lost; the dead_letters check judges whether it should be there
    } else {
      ++missing;
      AddOffending(ev, Offend(obs.publishes[i], "missing", "applied", "absent"));
    }
  }
  const size_t duplicates = acked - expected_dead - first_publish.size();
  std::ostringstream d;
  d << acked << " acked (" << first_publish.size() << " distinct ids, " << duplicates
    << " extra copies): " << applied << " applied, " << (expected_dead + dead_instead)
    << " dead-lettered, " << missing << " missing";
  if (not_acked) d << "; " << not_acked << " publishes not acked (not counted)";
  if (missing && obs.drained_ms == 0) {
    d << " (the lag never drained within the drain timeout: missing events may be stuck rather "
         "than lost)";
  }
  ev->results.push_back(
      Make(spec, "no loss", static_cast<double>(missing), "<=", 0, "events", d.str()));
}

// exactly_once for a system of the user's own: by the applied counts its state probe reports.
void CheckExactlyOnceByCounts(const AssertionSpec& spec, const RunObservations& obs,
                              const Index& idx, Evaluation* ev) {
  std::unordered_map<std::string, const PublishRecord*> publish_of;
  for (const auto& p : obs.publishes) {
    if (!p.event_id.empty()) publish_of.emplace(p.event_id, &p);
  }
  size_t twice = 0, both = 0, extra_applications = 0;
  for (const auto& row : obs.applied) {
    auto count = obs.applied_counts.find(row.event_id);
    const int64_t n = count == obs.applied_counts.end() ? 1 : count->second;
    auto p = publish_of.find(row.event_id);
    auto offend = [&](const std::string& problem, const std::string& observed) {
      OffendingEvent o = p != publish_of.end() ? Offend(*p->second, problem, "applied once", observed)
                                               : OffendingEvent{};
      o.event_id = row.event_id;
      o.problem = problem;
      o.expected = "applied once";
      o.observed = observed;
      AddOffending(ev, std::move(o));
    };
    if (n > 1) {
      ++twice;
      extra_applications += static_cast<size_t>(n - 1);
      offend("applied more than once", "applied " + std::to_string(n) + " times");
    }
    if (idx.dead_ids.count(row.event_id)) {
      ++both;
      offend("applied and dead-lettered", "applied and on the dead-letter subject");
    }
  }
  std::ostringstream d;
  d << obs.applied.size() << " event ids applied, " << twice << " of them more than once ("
    << extra_applications << " extra applications), " << both
    << " both applied and dead-lettered; " << obs.state_note;
  ev->results.push_back(Make(spec, "exactly once", static_cast<double>(twice + both), "<=", 0,
                             "violations", d.str()));
}

void CheckExactlyOnce(const AssertionSpec& spec, const RunObservations& obs, const Index& idx,
                      Evaluation* ev) {
  if (obs.external_system) return CheckExactlyOnceByCounts(spec, obs, idx, ev);
  size_t problems = 0;
  std::ostringstream d;
  // 1. No id both applied and dead-lettered (events.event_id is a primary key, so an id
  // applied twice cannot be observed as two rows: the reference model sees its effects).
  size_t both = 0;
  for (const auto& id : idx.dead_ids) {
    if (idx.applied_by_id.count(id)) {
      ++both;
      OffendingEvent o;
      o.event_id = id;
      o.problem = "applied and dead-lettered";
      o.expected = "exactly one outcome";
      o.observed = "a row in events and in dead_letters";
      AddOffending(ev, o);
    }
  }
  problems += both;
  // 2. The applied counter cannot exceed the rows (it would if an event were applied twice).
  const double rows = static_cast<double>(obs.applied.size());
  bool counter_bad = false;
  if (obs.counters.complete ? obs.counters.applied != rows : obs.counters.applied > rows) {
    counter_bad = true;
    ++problems;
  }
  // 3. Final state equals the reference model.
  for (const auto& m : obs.state_mismatches) {
    OffendingEvent o;
    o.event_id = m.key;
    o.problem = "state mismatch";
    o.expected = m.what + " = " + m.expected;
    o.observed = m.observed;
    AddOffending(ev, o);
  }
  problems += obs.state_mismatches.size();
  d << obs.applied.size() << " rows, " << both
    << " both applied and dead-lettered; ingest_applied_total " << Num(obs.counters.applied)
    << (obs.counters.complete ? " (must equal rows)" : " (<= rows: an instance was killed)")
    << (counter_bad ? " MISMATCH" : "") << "; ";
  if (obs.state_checked) {
    d << "reference model: " << obs.state_mismatches.size() << " mismatches";
    if (!obs.state_note.empty()) d << " (" << obs.state_note << ")";
  } else {
    // Unchecked state is not a pass: the run's verdict is `error` (runner.cc).
    ++problems;
    d << "reference model not run" << (obs.state_note.empty() ? "" : ": " + obs.state_note);
  }
  ev->results.push_back(
      Make(spec, "exactly once", static_cast<double>(problems), "<=", 0, "violations", d.str()));
}

// The entity an event of `type` creates or waits for: a kind ("purchase") and the data field
// holding its id. ingestd waits (and, after max_attempts over dependency-wait-ms, dead-letters
// max_deliveries) only for the entity an event itself names as its dependency (CATALOG.md).
struct EntityRef {
  const char* kind = nullptr;  // null: none
  const char* field = nullptr;
};

struct TypeEntities {
  EntityRef creates;
  EntityRef waits_for;
};

// The entities of each event type that creates or waits for one; nullptr for any other type.
const TypeEntities* EntitiesOf(const std::string& type) {
  static const std::unordered_map<std::string, TypeEntities> kEntities = {
      {"billing.purchase.completed", {{"purchase", "purchase_id"}, {}}},
      {"customer.purchase.recorded", {{"purchase", "purchase_id"}, {}}},
      {"billing.purchase.refunded", {{}, {"purchase", "purchase_id"}}},
      {"billing.invoice.issued", {{"invoice", "invoice_id"}, {}}},
      {"billing.invoice.paid", {{}, {"invoice", "invoice_id"}}},
      {"billing.subscription.started", {{"subscription", "subscription_id"}, {}}},
      {"billing.subscription.cancelled", {{}, {"subscription", "subscription_id"}}},
      {"support.ticket.opened", {{"ticket", "ticket_id"}, {}}},
      {"customer.ticket.opened", {{"ticket", "ticket_id"}, {}}},
      {"support.ticket.updated", {{}, {"ticket", "ticket_id"}}},
      {"support.ticket.resolved", {{}, {"ticket", "ticket_id"}}},
      {"support.work_order.created", {{"work_order", "work_order_id"}, {}}},
      {"customer.repair.requested", {{"work_order", "work_order_id"}, {}}},
      {"support.work_order.updated", {{}, {"work_order", "work_order_id"}}},
      {"auth.user.created", {{"user", "user_id"}, {}}},
      {"auth.user.deleted", {{}, {"user", "user_id"}}},
      {"auth.user.login.succeeded", {{}, {"user", "user_id"}}},
      {"auth.user.role.assigned", {{"role", "role_id"}, {"user", "user_id"}}},
      {"auth.user.role.revoked", {{}, {"role", "role_id"}}},
      {"learning.session.started", {{"session", "session_id"}, {}}},
      {"learning.session.ended", {{}, {"session", "session_id"}}},
      {"learning.activity.completed", {{}, {"session", "session_id"}}},
      {"homework.question.asked", {{"question", "question_id"}, {}}},
      {"homework.question.answered", {{}, {"question", "question_id"}}},
      {"crm.lead.created", {{"lead", "lead_id"}, {}}},
      {"crm.lead.updated", {{}, {"lead", "lead_id"}}},
      {"crm.lead.converted", {{}, {"lead", "lead_id"}}},
      {"crm.contact.created", {{"contact", "contact_id"}, {}}},
      {"crm.contact.updated", {{}, {"contact", "contact_id"}}},
      {"crm.opportunity.created", {{"opportunity", "opportunity_id"}, {}}},
      {"crm.opportunity.updated", {{}, {"opportunity", "opportunity_id"}}},
      {"crm.opportunity.won", {{}, {"opportunity", "opportunity_id"}}},
      {"crm.opportunity.lost", {{}, {"opportunity", "opportunity_id"}}},
  };
  auto it = kEntities.find(type);
  return it == kEntities.end() ? nullptr : &it->second;
}

// "kind:id" of `ref` in the publish's data; "" when absent. A role assignment is keyed by user
// and role. The customer dialect's purchase and ticket ids default to the event id.
std::string EntityKey(const EntityRef& ref, const PublishRecord& p) {
  if (ref.kind == nullptr) return "";
  auto j = nlohmann::json::parse(p.payload, nullptr, false);
  if (!j.is_object()) return "";
  auto data = j.find("data");
  if (data == j.end() || !data->is_object()) return "";
  auto str = [&](const char* k) {
    auto it = data->find(k);
    return it != data->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string id = str(ref.field);
  if (id.empty() && p.type.rfind("customer.", 0) == 0) id = p.event_id;
  if (id.empty()) return "";
  if (std::string(ref.kind) == "role") {
    const std::string user = str("user_id");
    if (user.empty()) return "";
    id = user + "/" + id;
  }
  return std::string(ref.kind) + ":" + id;
}

void CheckDeadLetters(const AssertionSpec& spec, const RunObservations& obs,
                      const DeadLetterMatch& dl, Evaluation* ev) {
  std::map<std::string, int64_t> observed_by_reason;
  for (const auto& d : obs.dead_letters) observed_by_reason[d.reason]++;
  auto reasons_text = [](const std::map<std::string, int64_t>& m) {
    std::ostringstream out;
    bool first = true;
    for (const auto& [k, v] : m) {
      out << (first ? "" : ", ") << k << " " << v;
      first = false;
    }
    return first ? std::string("none") : out.str();
  };
  if (spec.numbers.count("max")) {
    const double total = static_cast<double>(obs.dead_letters.size());
    ev->results.push_back(Make(spec, "dead letters", total, "<=", spec.numbers.at("max"),
                               "dead letters", "observed: " + reasons_text(observed_by_reason)));
  }
  if (!spec.reasons.empty()) {
    double off = 0;
    std::ostringstream d;
    for (const auto& [reason, want] : spec.reasons) {
      const double got = static_cast<double>(observed_by_reason[reason]);
      off += std::fabs(got - want);
      d << reason << " " << Num(got) << " (want " << Num(want) << ") ";
    }
    ev->results.push_back(
        Make(spec, "dead letters by reason", off, "<=", 0, "dead letters", d.str()));
  }
  if (spec.expected || (spec.numbers.empty() && spec.reasons.empty())) {
    std::map<std::string, int64_t> expected_by_reason;
    size_t missing = 0, wrong_reason = 0, unexpected = 0;
    for (size_t i = 0; i < obs.publishes.size(); ++i) {
      const auto& p = obs.publishes[i];
      if (!p.acked || p.expect != "dead_letter") continue;
      expected_by_reason[p.expect_reason]++;
      const long row = dl.row_for_publish[i];
      if (row < 0) {
        ++missing;
        AddOffending(ev, Offend(p, "expected dead letter missing", "dead letter " + p.expect_reason,
                                "none"));
      } else if (!p.expect_reason.empty() &&
                 obs.dead_letters[static_cast<size_t>(row)].reason != p.expect_reason) {
        ++wrong_reason;
        AddOffending(ev, Offend(p, "dead letter with wrong reason", p.expect_reason,
                                obs.dead_letters[static_cast<size_t>(row)].reason + ": " +
                                    obs.dead_letters[static_cast<size_t>(row)].error));
      }
    }
    // Rows no expected publish accounts for.
    std::unordered_map<std::string, const PublishRecord*> publish_by_id;
    for (const auto& p : obs.publishes) {
      if (!p.event_id.empty()) publish_by_id.emplace(p.event_id, &p);
    }
    const auto excused = ExcusedDeadLetterIds(obs);
    size_t excused_count = 0;
    for (size_t r = 0; r < obs.dead_letters.size(); ++r) {
      if (dl.row_used[r]) continue;
      if (obs.dead_letters[r].reason == "max_deliveries" &&
          excused.count(obs.dead_letters[r].event_id)) {
        ++excused_count;
        continue;
      }
      ++unexpected;
      const auto& d = obs.dead_letters[r];
      OffendingEvent o;
      o.event_id = d.event_id;
      o.problem = "unexpected dead letter";
      o.expected = "applied";
      o.observed = d.reason + ": " + d.error;
      o.subject = d.subject;
      o.payload = d.payload;
      if (auto it = publish_by_id.find(d.event_id); it != publish_by_id.end()) {
        o.service = it->second->service;
        o.type = it->second->type;
      }
      AddOffending(ev, o);
    }
    // Every dead letter must also have reached its DLQ by the end (ingestd drained and stopped).
    // A copy the DLQ refused for good (publish_error) is settled but not on the DLQ either.
    size_t undelivered = 0;
    for (const auto& row : obs.dead_letters) {
      if (row.published && row.publish_error.empty()) continue;
      ++undelivered;
      OffendingEvent o;
      o.event_id = row.event_id;
      o.problem = "dead letter not on its DLQ";
      o.expected = "published to the DLQ";
      o.observed = row.published ? "refused by the DLQ: " + row.publish_error
                                 : "only in the dead_letters table";
      o.subject = row.subject;
      o.payload = row.payload;
      AddOffending(ev, o);
    }
    std::ostringstream d;
    d << "expected " << reasons_text(expected_by_reason) << "; observed "
      << reasons_text(observed_by_reason) << "; " << missing << " missing, " << wrong_reason
      << " with the wrong reason, " << unexpected << " unexpected, " << undelivered
      << " not on their DLQ";
    if (excused_count) {
      d << "; " << excused_count
        << " max_deliveries dead letters of events whose dependency was never acked by the broker";
    }
    ev->results.push_back(
        Make(spec, "dead letters as expected",
             static_cast<double>(missing + wrong_reason + unexpected + undelivered), "<=", 0,
             "dead letters", d.str()));
  }
}

void CheckLatency(const AssertionSpec& spec, const RunObservations& obs, Evaluation* ev) {
  const double from = spec.numbers.count("window_from_s") ? spec.numbers.at("window_from_s") : 0;
  const double to = spec.numbers.count("window_to_s") ? spec.numbers.at("window_to_s") : -1;
  std::string window;
  if (spec.numbers.count("window_from_s") || spec.numbers.count("window_to_s")) {
    window =
        " in " + FormatDurationSeconds(from) + ".." + (to < 0 ? "end" : FormatDurationSeconds(to));
  }
  using Gate = std::tuple<const char*, const char*, double>;
  if (spec.numbers.count("p50_ms") + spec.numbers.count("p95_ms") + spec.numbers.count("p99_ms") +
      spec.numbers.count("max_ms")) {
    auto values = EventLatenciesMs(obs, from, to);
    LatencySummary s = SummarizeLatencies(values);
    std::ostringstream base;
    base << s.count << " events" << window << ": p50 " << Num(s.p50) << " ms, p95 " << Num(s.p95)
         << " ms, p99 " << Num(s.p99) << " ms, max " << Num(s.max) << " ms";
    for (const auto& [key, label, value] : {Gate{"p50_ms", "p50", s.p50}, Gate{"p95_ms", "p95", s.p95},
                                            Gate{"p99_ms", "p99", s.p99}, Gate{"max_ms", "max", s.max}}) {
      if (!spec.numbers.count(key)) continue;
      const double measured = s.count == 0 ? kInf : value;
      ev->results.push_back(Make(spec, std::string("latency ") + label + window, measured, "<=",
                                 spec.numbers.at(key), "ms",
                                 s.count == 0 ? "no applied events to measure" : base.str()));
    }
  }
  if (UsesLatencyProbe(spec)) {
    AddedLatencies l = EventAddedLatenciesMs(obs, from, to);
    LatencySummary added = SummarizeLatencies(l.added_ms);
    LatencySummary broker = SummarizeLatencies(l.broker_ms);
    std::ostringstream base;
    base << added.count << " events" << window << " seen by the probe: ingestd added p50 "
         << Num(added.p50) << " ms, p95 " << Num(added.p95) << " ms, p99 " << Num(added.p99)
         << " ms, max " << Num(added.max) << " ms beyond the broker's own delivery (p50 "
         << Num(broker.p50) << " ms, p95 " << Num(broker.p95) << " ms, p99 " << Num(broker.p99)
         << " ms)";
    // On a machine busy enough to slow the broker's own delivery, ingestd (which needs the
    // same CPU for its work) is slowed at least as much: with scale_with_broker set, each
    // threshold is raised to that multiple of the broker's latency at the same percentile.
    const double scale =
        spec.numbers.count("scale_with_broker") ? spec.numbers.at("scale_with_broker") : 0;
    using ScaledGate = std::tuple<const char*, const char*, double, double>;
    for (const auto& [key, label, value, broker_value] :
         {ScaledGate{"added_p50_ms", "added p50", added.p50, broker.p50},
          ScaledGate{"added_p95_ms", "added p95", added.p95, broker.p95},
          ScaledGate{"added_p99_ms", "added p99", added.p99, broker.p99}}) {
      if (!spec.numbers.count(key)) continue;
      const double measured = added.count == 0 ? kInf : value;
      double threshold = spec.numbers.at(key);
      std::string detail =
          added.count == 0 ? "the latency probe saw none of the applied events" : base.str();
      if (scale > 0 && scale * broker_value > threshold) {
        threshold = scale * broker_value;
        std::ostringstream raised;
        raised << "; the threshold " << Num(spec.numbers.at(key)) << " ms is raised to " << scale
               << " x the broker's own " << std::string(label).substr(6) << " ("
               << Num(broker_value) << " ms): the machine is busy";
        detail += raised.str();
      }
      ev->results.push_back(Make(spec, std::string("latency ") + label + window, measured, "<=",
                                 threshold, "ms", detail));
    }
  }
}

void CheckThroughput(const AssertionSpec& spec, const RunObservations& obs, Evaluation* ev) {
  const double load_s = std::max(0.001, (obs.load_stop_ms - obs.start_ms) / 1000.0);
  size_t during = 0;
  for (const auto& r : obs.applied) {
    if (r.committed_at_ms >= obs.start_ms && r.committed_at_ms <= obs.load_stop_ms) ++during;
  }
  const double eps = static_cast<double>(during) / load_s;
  std::ostringstream d;
  d << during << " events committed during " << Num(load_s) << " s of load (" << obs.applied.size()
    << " in total)";
  ev->results.push_back(
      Make(spec, "throughput", eps, ">=", spec.numbers.at("min_eps"), "events/s", d.str()));
}

// What a disruptive fault interrupted, so that reconnect_within is judged on that path only and
// traffic elsewhere cannot satisfy it: an ingestd instance, one transport, or the store.
struct FaultPath {
  enum Kind { kInstance, kTransport, kAny } kind = kAny;
  std::string name;  // instance name ("ingestd-1", "all") or transport ("nats", "kafka")
};

FaultPath PathOf(const FaultWindow& f) {
  const std::string& a = f.action;
  if (a.find("_ingestd") != std::string::npos) {
    return {FaultPath::kInstance, f.target.empty() ? "ingestd-0" : f.target};
  }
  if (a.find("_nats") != std::string::npos || a.rfind("net_", 0) == 0) {
    return {FaultPath::kTransport, "nats"};  // the nodes, or the proxies in front of them
  }
  if (a.rfind("kafka_", 0) == 0) return {FaultPath::kTransport, "kafka"};
  return {FaultPath::kAny, ""};  // hold_db_lock: every commit waits for the store
}

void CheckReconnect(const AssertionSpec& spec, const RunObservations& obs, Evaluation* ev) {
  // Commit times and acked publish times, per transport and in all.
  std::unordered_map<std::string, std::string> transport_of;  // event id -> transport
  std::map<std::string, std::vector<int64_t>> commits, publishes;
  for (const auto& p : obs.publishes) {
    if (!p.acked) continue;
    if (!p.event_id.empty()) transport_of.emplace(p.event_id, p.transport);
    publishes[p.transport].push_back(p.publish_ms);
    publishes[""].push_back(p.publish_ms);
  }
  for (const auto& r : obs.applied) {
    if (r.committed_at_ms <= 0) continue;  // a system that reports no commit times
    auto it = transport_of.find(r.event_id);
    if (it != transport_of.end()) commits[it->second].push_back(r.committed_at_ms);
    commits[""].push_back(r.committed_at_ms);
  }
  for (const auto& d : obs.dead_letters) {
    const size_t colon = d.origin.find(':');
    if (colon != std::string::npos) commits[d.origin.substr(0, colon)].push_back(d.dead_at_ms);
    commits[""].push_back(d.dead_at_ms);
  }
  for (auto* m : {&commits, &publishes}) {
    for (auto& [_, v] : *m) std::sort(v.begin(), v.end());
  }
  auto first_at_or_after = [](const std::vector<int64_t>& v, int64_t t) -> int64_t {
    auto it = std::lower_bound(v.begin(), v.end(), t);
    return it == v.end() ? -1 : *it;
  };
  // When instance `name` next applied something at or after `from_s` (seconds after start):
  // the first sample whose counter differs from the one before `from_s` and is above 0 (a
  // restarted instance counts from 0 again). -1 when it never did.
  auto instance_resumed = [&](const std::string& name, double from_s) -> double {
    auto it = obs.instance_applied.find(name);
    if (it == obs.instance_applied.end()) return -1;
    double before = 0;
    for (const auto& [t, v] : it->second) {
      if (t < from_s) {
        before = v;
        continue;
      }
      if (v > 0 && v != before) return t;
    }
    return -1;
  };

  double worst = 0;
  int judged = 0;
  std::ostringstream d;
  for (const auto& f : obs.faults) {
    if (!f.disruptive) continue;
    const FaultPath path = PathOf(f);
    const std::string label = f.action + (f.target.empty() ? "" : " " + f.target);
    if (f.recovered_s < 0) {
      d << label << " at " << Num(f.at_s) << "s never undone; ";
      continue;
    }
    const int64_t recovered_ms = obs.start_ms + static_cast<int64_t>(f.recovered_s * 1000);
    const std::string transport = path.kind == FaultPath::kTransport ? path.name : "";
    // Only meaningful if something was published on that path after the recovery.
    if (first_at_or_after(publishes[transport], recovered_ms) < 0) {
      d << label << ": no publishes" << (transport.empty() ? "" : " over " + transport)
        << " after recovery; ";
      continue;
    }
    double took = kInf;
    std::string where;
    if (path.kind == FaultPath::kInstance && obs.ingestd_instances > 1) {
      // Another instance's commits prove nothing about this one: judge by its own counter.
      std::vector<std::string> names;
      if (path.name == "all") {
        for (const auto& [name, _] : obs.instance_applied) names.push_back(name);
      } else {
        names.push_back(path.name);
      }
      took = names.empty() ? kInf : 0;
      for (const auto& name : names) {
        const double t = instance_resumed(name, f.recovered_s);
        took = std::max(took, t < 0 ? kInf : std::max(0.0, t - f.recovered_s));
      }
      where = path.name + " applying again (sampled once a second)";
    } else {
      const int64_t next = first_at_or_after(commits[transport], recovered_ms);
      took = next < 0 ? kInf : (next - recovered_ms) / 1000.0;
      where = transport.empty() ? "ingesting again" : transport + " events committed again";
    }
    worst = std::max(worst, took);
    ++judged;
    d << label << " undone at " << Num(f.recovered_s) << "s: " << where << " after " << Num(took)
      << " s; ";
  }
  if (judged == 0) {
    // Nothing measured is not a pass: the scenario asked for a measurement it cannot get.
    worst = kInf;
    d << "no disruptive fault was undone with load still running on its path: nothing measured";
  }
  ev->results.push_back(
      Make(spec, "reconnect within", worst, "<=", spec.numbers.at("seconds"), "s", d.str()));
}

void CheckDrain(const AssertionSpec& spec, const RunObservations& obs, Evaluation* ev) {
  std::ostringstream d;
  double measured;
  if (obs.drained_ms == 0) {
    measured = kInf;
    d << "lag never drained after load stopped";
  } else {
    measured = std::max<int64_t>(0, obs.drained_ms - obs.load_stop_ms) / 1000.0;
    d << "everything settled " << Num(measured) << " s after load stopped";
  }
  ev->results.push_back(
      Make(spec, "lag drained within", measured, "<=", spec.numbers.at("seconds"), "s", d.str()));
}

}  // namespace

std::unordered_set<std::string> ExcusedDeadLetterIds(const RunObservations& obs) {
  std::unordered_set<std::string> out;
  std::unordered_set<std::string> dead_max;
  for (const auto& d : obs.dead_letters) {
    if (d.reason == "max_deliveries" && !d.event_id.empty()) dead_max.insert(d.event_id);
  }
  if (dead_max.empty()) return out;
  // Who creates each entity (publishes meant to apply), and what each dead event waits for.
  std::unordered_map<std::string, std::vector<const PublishRecord*>> creators;
  std::vector<std::pair<const PublishRecord*, std::string>> waiting;  // dead event, its entity
  std::unordered_set<std::string> seen;
  for (const auto& p : obs.publishes) {
    const TypeEntities* entities = EntitiesOf(p.type);
    if (p.expect == "dead_letter" || entities == nullptr) continue;
    std::string created = EntityKey(entities->creates, p);
    if (!created.empty()) creators[created].push_back(&p);
    if (p.acked && dead_max.count(p.event_id) && seen.insert(p.event_id).second) {
      std::string dependency = EntityKey(entities->waits_for, p);
      if (!dependency.empty()) waiting.emplace_back(&p, std::move(dependency));
    }
  }
  // An entity was never stored when it has creators and none of them was acked and applied:
  // each was unacked, or was itself excused (a role assignment whose user never arrived).
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& [p, dependency] : waiting) {
      if (out.count(p->event_id)) continue;
      auto it = creators.find(dependency);
      if (it == creators.end()) continue;  // nothing creates it: not a lost dependency
      const bool never_stored =
          std::none_of(it->second.begin(), it->second.end(), [&](const PublishRecord* c) {
            return c->acked && !out.count(c->event_id);
          });
      if (never_stored) {
        out.insert(p->event_id);
        changed = true;
      }
    }
  }
  return out;
}

bool Evaluation::all_passed() const {
  return std::all_of(results.begin(), results.end(),
                     [](const AssertionResult& r) { return r.passed; });
}

std::vector<double> EventLatenciesMs(const RunObservations& obs, double from_s, double to_s) {
  std::unordered_map<std::string, int64_t> publish_ms;  // first acked publish per id
  publish_ms.reserve(obs.publishes.size());
  for (const auto& p : obs.publishes) {
    if (!p.acked || p.event_id.empty() || p.expect == "dead_letter") continue;
    publish_ms.emplace(p.event_id, p.publish_ms);
  }
  const int64_t from_ms = obs.start_ms + static_cast<int64_t>(from_s * 1000);
  const int64_t to_ms = to_s < 0 ? INT64_MAX : obs.start_ms + static_cast<int64_t>(to_s * 1000);
  std::vector<double> out;
  out.reserve(obs.applied.size());
  for (const auto& row : obs.applied) {
    auto it = publish_ms.find(row.event_id);
    int64_t sent;
    if (it != publish_ms.end()) {
      sent = it->second;
    } else if (publish_ms.empty()) {
      sent = row.event_time_ms;  // no event log: fall back to the event's own time
    } else {
      continue;  // not one of ours
    }
    if (sent < from_ms || sent >= to_ms) continue;
    if (row.committed_at_ms <= 0) continue;  // a system that reports no commit times
    out.push_back(static_cast<double>(std::max<int64_t>(0, row.committed_at_ms - sent)));
  }
  return out;
}

bool UsesLatencyProbe(const AssertionSpec& spec) {
  return spec.kind == "latency" && spec.numbers.count("added_p50_ms") +
                                           spec.numbers.count("added_p95_ms") +
                                           spec.numbers.count("added_p99_ms") >
                                       0;
}

AddedLatencies EventAddedLatenciesMs(const RunObservations& obs, double from_s, double to_s) {
  AddedLatencies out;
  if (obs.probe_delivered_ms.empty()) return out;
  std::unordered_map<std::string, int64_t> publish_ms;  // first acked publish per id
  for (const auto& p : obs.publishes) {
    if (!p.acked || p.event_id.empty() || p.expect == "dead_letter") continue;
    publish_ms.emplace(p.event_id, p.publish_ms);
  }
  const int64_t from_ms = obs.start_ms + static_cast<int64_t>(from_s * 1000);
  const int64_t to_ms = to_s < 0 ? INT64_MAX : obs.start_ms + static_cast<int64_t>(to_s * 1000);
  for (const auto& row : obs.applied) {
    auto pub = publish_ms.find(row.event_id);
    auto seen = obs.probe_delivered_ms.find(row.event_id);
    if (pub == publish_ms.end() || seen == obs.probe_delivered_ms.end()) continue;
    if (pub->second < from_ms || pub->second >= to_ms) continue;
    out.added_ms.push_back(
        static_cast<double>(std::max<int64_t>(0, row.committed_at_ms - seen->second)));
    out.broker_ms.push_back(static_cast<double>(std::max<int64_t>(0, seen->second - pub->second)));
  }
  return out;
}

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

LatencySummary SummarizeLatencies(std::vector<double>& values) {
  std::sort(values.begin(), values.end());
  LatencySummary s;
  s.count = values.size();
  if (values.empty()) return s;
  s.p50 = Percentile(values, 0.50);
  s.p95 = Percentile(values, 0.95);
  s.p99 = Percentile(values, 0.99);
  s.max = values.back();
  return s;
}

namespace {

// context_latency: each gated percentile over the whole run and over every kContextWindowS
// window with at least kContextWindowMinReads reads ("throughout" the run: a short outage
// whose reads all wait must not hide among many fast ones); the worst is measured.
constexpr double kContextWindowS = 5;
constexpr size_t kContextWindowMinReads = 20;

void CheckContextLatency(const AssertionSpec& spec, const RunObservations& obs, Evaluation* ev) {
  std::vector<double> values;
  std::map<int64_t, std::vector<double>> windows;
  size_t unanswered = 0, partial = 0;
  for (const auto& r : obs.context_reads) {
    const double ms = static_cast<double>(r.end_ms - r.start_ms);
    values.push_back(ms);
    const double t = (r.start_ms - obs.start_ms) / 1000.0;
    windows[static_cast<int64_t>(std::floor(t / kContextWindowS))].push_back(ms);
    unanswered += r.status == 0;
    partial += r.partial;
  }
  LatencySummary s = SummarizeLatencies(values);
  std::ostringstream base;
  base << s.count << " context reads (" << partial << " partial, " << unanswered
       << " unanswered): p50 " << Num(s.p50) << " ms, p95 " << Num(s.p95) << " ms, p99 "
       << Num(s.p99) << " ms, max " << Num(s.max) << " ms";
  std::vector<std::pair<int64_t, LatencySummary>> judged;  // windows with enough reads
  for (auto& [w, list] : windows) {
    if (list.size() >= kContextWindowMinReads) judged.emplace_back(w, SummarizeLatencies(list));
  }
  using Gate = std::tuple<const char*, const char*, double LatencySummary::*>;
  for (const auto& [key, label, field] :
       {Gate{"p50_ms", "p50", &LatencySummary::p50}, Gate{"p95_ms", "p95", &LatencySummary::p95},
        Gate{"p99_ms", "p99", &LatencySummary::p99}, Gate{"max_ms", "max", &LatencySummary::max}}) {
    if (!spec.numbers.count(key)) continue;
    double worst = s.*field;
    std::string where;
    for (const auto& [w, summary] : judged) {
      if (summary.*field > worst) {
        worst = summary.*field;
        where = "; worst in " + FormatDurationSeconds(w * kContextWindowS) + ".." +
                FormatDurationSeconds((w + 1) * kContextWindowS) + " (" +
                std::to_string(summary.count) + " reads): " + label + " " + Num(worst) + " ms";
      }
    }
    ev->results.push_back(Make(spec, std::string("context latency ") + label,
                               s.count == 0 ? kInf : worst, "<=", spec.numbers.at(key), "ms",
                               s.count == 0 ? "no context reads to measure" : base.str() + where));
  }
}

// The services a downstream fault acts on.
std::vector<std::string> DownstreamTargets(const FaultWindow& f) {
  if (f.target == "all") return {"crm", "scheduling", "email"};
  return {f.target};
}

// Whether the fault makes every call fail, so a breaker must open: the service down, every
// answer an error, or every answer slower than ingestd's per-call timeout.
bool OpensBreaker(const FaultWindow& f, double timeout_ms) {
  auto number = [&](const char* key) {
    auto it = f.params.find(key);
    if (it == f.params.end()) return 0.0;
    auto d = ParseDurationSeconds(it->second);
    return d.ok() ? *d : std::strtod(it->second.c_str(), nullptr);
  };
  if (f.action == "downstream_down") return true;
  if (f.action == "downstream_error") return number("rate") >= 1;
  if (f.action == "downstream_slow") return number("latency") * 1000 > timeout_ms;
  return false;
}

// breaker_opened_within / breaker_closed_within: for every fault that must open a breaker, on
// every instance whose breakers were watched, how long after the fault began until its breaker
// was seen open (its state, or its opened count grown), or after the fault ended until it was
// seen closed again. A later fault on the same service that begins before the bound leaves
// that closing unjudged.
void CheckBreakers(const AssertionSpec& spec, const RunObservations& obs, Evaluation* ev) {
  const bool opening = spec.kind == "breaker_opened_within";
  const double bound = spec.numbers.at("seconds");
  std::map<std::pair<std::string, std::string>, std::vector<const BreakerSample*>> series;
  for (const auto& b : obs.breaker_samples) series[{b.instance, b.service}].push_back(&b);
  std::vector<const FaultWindow*> faults;
  for (const auto& f : obs.faults) {
    if (OpensBreaker(f, obs.downstream_timeout_ms)) faults.push_back(&f);
  }
  double worst = faults.empty() ? kInf : 0;
  std::ostringstream detail;
  if (faults.empty()) detail << "no downstream fault in the timeline makes every call fail";
  size_t judged = 0;
  for (const FaultWindow* f : faults) {
    for (const std::string& service : DownstreamTargets(*f)) {
      for (const auto& [key, samples] : series) {
        if (key.second != service) continue;
        double from = opening ? f->at_s : f->recovered_s;
        if (from < 0) continue;  // never recovered: closing is not judged
        if (!opening) {
          bool superseded = false;
          for (const FaultWindow* g : faults) {
            const auto targets = DownstreamTargets(*g);
            superseded |= g != f && g->at_s >= f->at_s && g->at_s < from + bound &&
                          std::find(targets.begin(), targets.end(), service) != targets.end();
          }
          if (superseded) continue;
        }
        double baseline = 0;
        double seen = kInf;
        for (const BreakerSample* b : samples) {
          if (b->t_s < from) {
            baseline = b->opened_total;
            continue;
          }
          const bool hit =
              opening ? (b->state != "closed" || b->opened_total > baseline) : b->state == "closed";
          if (hit) {
            seen = b->t_s - from;
            break;
          }
        }
        ++judged;
        worst = std::max(worst, seen);
        detail << (judged > 1 ? "; " : "") << service << " on " << key.first << ": "
               << (std::isfinite(seen) ? Num(seen) + " s" : std::string("never")) << " after "
               << f->action << (opening ? " began at " : " ended at ") << Num(from) << " s";
      }
    }
  }
  if (!faults.empty() && judged == 0) {
    worst = kInf;
    detail << "no breaker was watched during the downstream faults";
  }
  ev->results.push_back(Make(spec, opening ? "breaker opened within" : "breaker closed within",
                             worst, "<=", bound, "s", detail.str()));
}

void CheckContextConsistent(const AssertionSpec& spec, const RunObservations& obs, Evaluation* ev) {
  const double slack =
      spec.numbers.count("slack_ms") ? spec.numbers.at("slack_ms") : kDefaultContextSlackMs;
  const ContextConsistency c = CheckContextReads(obs, slack);
  std::ostringstream detail;
  detail << c.reads << " context reads (" << c.cross_tenant
         << " with another tenant's token): " << c.ok << " consistent, " << c.stale << " stale, "
         << c.leaks << " showed another tenant's customer, " << c.failed << " failed";
  if (c.excused) detail << ", " << c.excused << " unanswered during a disruptive fault";
  if (c.unjudged) detail << ", " << c.unjudged << " checked for isolation only (busy customer)";
  if (c.reads == 0) detail.str("no context reads were made");
  const double bad = static_cast<double>(c.stale + c.leaks + c.failed);
  ev->results.push_back(
      Make(spec, "context consistent", c.reads == 0 ? kInf : bad, "<=", 0, "reads", detail.str()));
  for (const ContextProblem& p : c.problems) {
    OffendingEvent o;
    o.event_id = p.read.customer_id;
    o.problem = p.problem;
    o.expected = p.expected;
    o.observed = p.observed;
    o.service = p.read.instance;
    o.type = "context read";
    o.subject = "token of " + p.read.token_org + ", sent at " +
                Num((p.read.start_ms - obs.start_ms) / 1000.0) + " s, answered after " +
                std::to_string(p.read.end_ms - p.read.start_ms) + " ms";
    AddOffending(ev, std::move(o));
  }
}

}  // namespace

Evaluation EvaluateAssertions(const std::vector<AssertionSpec>& specs, const RunObservations& obs) {
  Evaluation ev;
  Index idx(obs);
  DeadLetterMatch dl = MatchDeadLetters(obs);
  for (const auto& spec : specs) {
    if (spec.kind == "no_loss") {
      CheckNoLoss(spec, obs, idx, dl, &ev);
    } else if (spec.kind == "exactly_once") {
      CheckExactlyOnce(spec, obs, idx, &ev);
    } else if (spec.kind == "dead_letters") {
      CheckDeadLetters(spec, obs, dl, &ev);
    } else if (spec.kind == "latency") {
      CheckLatency(spec, obs, &ev);
    } else if (spec.kind == "throughput") {
      CheckThroughput(spec, obs, &ev);
    } else if (spec.kind == "reconnect_within") {
      CheckReconnect(spec, obs, &ev);
    } else if (spec.kind == "lag_drained_within") {
      CheckDrain(spec, obs, &ev);
    } else if (spec.kind == "context_latency") {
      CheckContextLatency(spec, obs, &ev);
    } else if (spec.kind == "breaker_opened_within" || spec.kind == "breaker_closed_within") {
      CheckBreakers(spec, obs, &ev);
    } else if (spec.kind == "context_consistent") {
      CheckContextConsistent(spec, obs, &ev);
    }
  }
  return ev;
}

}  // namespace ingestlab
