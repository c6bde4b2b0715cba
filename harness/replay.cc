// Replay planning and ddmin; see replay.h.
#include "harness/replay.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include "harness/run_dir.h"

namespace ingestlab::harness {

std::vector<size_t> Ddmin(size_t count,
                          const std::function<bool(const std::vector<size_t>&)>& still_fails,
                          int max_tests) {
  std::vector<size_t> current(count);
  for (size_t i = 0; i < count; ++i) current[i] = i;
  size_t granularity = 2;
  int tests = 0;
  while (current.size() >= 2 && tests < max_tests) {
    const size_t chunk = (current.size() + granularity - 1) / granularity;
    bool reduced = false;
    for (size_t start = 0; start < current.size() && tests < max_tests; start += chunk) {
      const size_t end = std::min(current.size(), start + chunk);
      std::vector<size_t> subset(current.begin() + static_cast<long>(start),
                                 current.begin() + static_cast<long>(end));
      ++tests;
      if (still_fails(subset)) {
        current = std::move(subset);
        granularity = 2;
        reduced = true;
        break;
      }
      std::vector<size_t> complement(current.begin(), current.begin() + static_cast<long>(start));
      complement.insert(complement.end(), current.begin() + static_cast<long>(end), current.end());
      if (complement.empty() || tests >= max_tests) continue;
      ++tests;
      if (still_fails(complement)) {
        current = std::move(complement);
        granularity = std::max<size_t>(granularity - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (granularity >= current.size()) break;
      granularity = std::min(current.size(), granularity * 2);
    }
  }
  return current;
}

}  // namespace ingestlab::harness

namespace ingestlab::harness {
namespace {

constexpr int64_t kMaxSpeedGapAfterFaultMs = 2000;

bool IsUndo(const sim::FaultRecord& f) { return f.action.rfind("undo_", 0) == 0; }

std::string ParamText(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

}  // namespace

std::vector<std::vector<size_t>> PublishGroups(const sim::EventLog& log) {
  std::vector<std::vector<size_t>> groups;
  std::unordered_map<std::string, size_t> group_of;
  for (size_t i = 0; i < log.publishes.size(); ++i) {
    const auto& p = log.publishes[i];
    std::string key;
    const auto j = nlohmann::json::parse(p.payload, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
      auto text = [](const nlohmann::json& o, const char* field) {
        auto it = o.find(field);
        return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
      };
      key = text(j, "customer_id");
      if (key.empty()) key = text(j, "subject");
      if (key.empty()) {
        auto data = j.find("data");
        if (data != j.end() && data->is_object()) key = text(*data, "customer_id");
      }
      if (!key.empty()) key = "customer " + key;
    }
    if (key.empty() && !p.event_id.empty()) key = "event " + p.event_id;
    if (key.empty()) key = "entry " + std::to_string(i);
    auto [it, inserted] = group_of.emplace(key, groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  return groups;
}

std::vector<size_t> FaultUnits(const sim::EventLog& log) {
  std::vector<size_t> units;
  for (size_t i = 0; i < log.faults.size(); ++i) {
    if (!IsUndo(log.faults[i])) units.push_back(i);
  }
  return units;
}

Result<ReplayProgram> BuildReplayProgram(const sim::EventLog& log, const std::string& scenario_yaml,
                                         const ReplayOptions& options, const ReplaySubset& subset) {
  const std::string& text = scenario_yaml.empty() ? log.header.scenario_yaml : scenario_yaml;
  if (text.empty()) {
    return Status::InvalidArgument(
        "the event log's header has no scenario (an older log?): pass --scenario FILE");
  }
  // The header's name names the replay's run (and its directory, when none is given).
  if (!log.header.scenario.empty()) {
    INGEST_RETURN_IF_ERROR(ValidateScenarioName(log.header.scenario).Annotate("event log header"));
  }
  auto parsed = ParseScenario(text, log.header.scenario.empty() ? "replay" : log.header.scenario);
  if (!parsed.ok()) return parsed.status().Annotate("scenario of the event log");
  ReplayProgram program;
  program.scenario = std::move(parsed.value());
  Scenario& s = program.scenario;
  if (!log.header.scenario.empty()) s.name = log.header.scenario;
  if (auto dir = log.header.topology.find("scenario_dir");
      dir != log.header.topology.end() && dir->is_string()) {
    s.scenario_dir = dir->get<std::string>();
  }
  // The store the run had, also when `run --store` chose it rather than the file.
  if (!s.system) s.topology.postgres_store = log.header.topology.value("store", "") == "postgres";
  s.topology.secure = log.header.topology.value("secure", false);
  s.seed = log.header.seed;
  s.services.clear();
  s.timeline.clear();

  // Which entries take part.
  std::vector<bool> keep_publish(log.publishes.size(), !subset.publishes.has_value());
  if (subset.publishes) {
    for (size_t i : *subset.publishes) {
      if (i < keep_publish.size()) keep_publish[i] = true;
    }
  }
  const std::vector<size_t> units = FaultUnits(log);
  std::vector<bool> keep_fault(log.faults.size(), !subset.faults.has_value());
  if (subset.faults) {
    for (size_t u : *subset.faults) {
      if (u < units.size()) keep_fault[units[u]] = true;
    }
  }
  // An undo goes with its apply.
  std::vector<long> undo_of(log.faults.size(), -1), undo_for(log.faults.size(), -1);
  for (size_t i = 0; i < log.faults.size(); ++i) {
    if (!IsUndo(log.faults[i])) continue;
    const std::string action = log.faults[i].action.substr(5);
    for (size_t j = i; j-- > 0;) {
      if (!IsUndo(log.faults[j]) && log.faults[j].action == action &&
          log.faults[j].target == log.faults[i].target && undo_for[j] < 0) {
        undo_of[i] = static_cast<long>(j);
        undo_for[j] = static_cast<long>(i);
        break;
      }
    }
    keep_fault[i] = undo_of[i] >= 0 && keep_fault[static_cast<size_t>(undo_of[i])];
  }
  for (size_t i = 0; i < keep_publish.size(); ++i) {
    if (!keep_publish[i]) continue;
    const auto& p = log.publishes[i];
    if (!options.only_service.empty() && p.service != options.only_service) keep_publish[i] = false;
    if (options.until_ms >= 0 && p.offset_ms > options.until_ms) keep_publish[i] = false;
  }
  for (size_t i = 0; i < keep_fault.size(); ++i) {
    if (options.until_ms >= 0 && log.faults[i].offset_ms > options.until_ms) keep_fault[i] = false;
  }
  program.partial = subset.publishes.has_value() || subset.faults.has_value() ||
                    !options.only_service.empty() || options.until_ms >= 0;

  // Replay times, in recorded order (faults first at the same instant).
  struct Item {
    int64_t t;
    bool fault;
    size_t index;
  };
  std::vector<Item> items;
  for (size_t i = 0; i < log.faults.size(); ++i) {
    if (keep_fault[i]) items.push_back({log.faults[i].offset_ms, true, i});
  }
  for (size_t i = 0; i < log.publishes.size(); ++i) {
    if (keep_publish[i]) items.push_back({log.publishes[i].offset_ms, false, i});
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.t != b.t) return a.t < b.t;
    return a.fault && !b.fault;
  });
  std::vector<int64_t> fault_at(log.faults.size(), -1);
  const bool max_speed = options.speed <= 0;
  int64_t now = 0, last_fault_t = -1, last_fault_at = 0;
  int64_t end_ms = 0;
  for (const Item& item : items) {
    int64_t at;
    if (!max_speed) {
      at = static_cast<int64_t>(
          std::llround(static_cast<double>(std::max<int64_t>(0, item.t)) / options.speed));
    } else {
      if (last_fault_t >= 0) {
        now = std::max(now, last_fault_at + std::min(std::max<int64_t>(0, item.t - last_fault_t),
                                                     kMaxSpeedGapAfterFaultMs));
      }
      if (item.fault && undo_of[item.index] >= 0) {
        const size_t apply = static_cast<size_t>(undo_of[item.index]);
        now = std::max(now, fault_at[apply] + (item.t - log.faults[apply].offset_ms));
      }
      at = now;
      if (item.fault) {
        last_fault_t = item.t;
        last_fault_at = at;
      }
    }
    end_ms = std::max(end_ms, at);
    if (item.fault) {
      fault_at[item.index] = at;
    } else {
      program.publishes.push_back({at, item.index, ""});
    }
  }
  // Expectations that depended on left-out entries: a duplicate is a duplicate of an earlier
  // copy; without one it is the first sighting and must be applied.
  if (program.partial) {
    std::set<std::string> seen;
    for (TimedPublish& p : program.publishes) {
      const auto& r = log.publishes[p.index];
      if (r.event_id.empty() || r.expected.rfind("dead_letter", 0) == 0) continue;
      if (r.expected == "duplicate" && !seen.count(r.event_id)) p.expected = "applied";
      seen.insert(r.event_id);
    }
  }
  // The timeline: one step per kept apply entry, its undo as `for`.
  for (size_t i = 0; i < log.faults.size(); ++i) {
    const auto& f = log.faults[i];
    if (!keep_fault[i] || IsUndo(f)) continue;
    TimelineStep step;
    step.at_s = static_cast<double>(fault_at[i]) / 1000.0;
    step.action = f.action;
    step.target = f.target;
    if (f.params.is_object()) {
      for (const auto& [k, v] : f.params.items()) {
        if (k != "for_s") step.params[k] = ParamText(v);
      }
    }
    if (undo_for[i] >= 0 && keep_fault[static_cast<size_t>(undo_for[i])]) {
      step.for_s =
          static_cast<double>(fault_at[static_cast<size_t>(undo_for[i])] - fault_at[i]) / 1000.0;
    }
    s.timeline.push_back(std::move(step));
    ++program.faults;
  }
  std::stable_sort(s.timeline.begin(), s.timeline.end(),
                   [](const TimelineStep& a, const TimelineStep& b) { return a.at_s < b.at_s; });
  s.duration_s = static_cast<double>(end_ms) / 1000.0 + 0.001;
  return program;
}

std::vector<std::string> FailedAssertions(const nlohmann::json& result) {
  std::vector<std::string> out;
  if (!result.contains("assertions") || !result["assertions"].is_array()) return out;
  for (const auto& a : result["assertions"]) {
    if (!a.value("passed", true)) out.push_back(a.value("name", ""));
  }
  return out;
}

std::vector<std::string> CompareResults(const nlohmann::json& original,
                                        const nlohmann::json& replay, bool compare_digest) {
  std::vector<std::string> diffs;
  auto verdicts = [](const nlohmann::json& r) {
    std::map<std::string, bool> out;
    if (r.contains("assertions") && r["assertions"].is_array()) {
      for (const auto& a : r["assertions"]) out[a.value("name", "")] = a.value("passed", false);
    }
    return out;
  };
  const auto before = verdicts(original), after = verdicts(replay);
  auto word = [](bool passed) { return passed ? "passed" : "failed"; };
  for (const auto& [name, passed] : before) {
    auto it = after.find(name);
    if (it == after.end()) {
      diffs.push_back("assertion '" + name + "' " + word(passed) + " originally; not evaluated");
    } else if (it->second != passed) {
      diffs.push_back("assertion '" + name + "' " + word(passed) + " originally, " +
                      word(it->second) + " in the replay");
    }
  }
  for (const auto& [name, passed] : after) {
    if (!before.count(name))
      diffs.push_back("assertion '" + name + "' is new in the replay (" + word(passed) + ")");
  }
  const std::string v0 = original.value("verdict", ""), v1 = replay.value("verdict", "");
  if (v0 != v1) diffs.push_back("verdict " + v0 + " originally, " + v1 + " in the replay");
  if (compare_digest) {
    const std::string d0 = original.value("state_digest", ""),
                      d1 = replay.value("state_digest", "");
    if (d0 != d1) {
      // What reached the system differently, to tell where the states parted.
      auto metric = [](const nlohmann::json& r, const char* key) -> double {
        if (!r.contains("metrics") || !r["metrics"].contains(key)) return 0;
        const auto& v = r["metrics"][key];
        if (v.is_number()) return v.get<double>();
        double sum = 0;
        if (v.is_object()) {
          for (const auto& item : v.items()) {
            sum += item.value().is_number() ? item.value().get<double>() : 0;
          }
        }
        return sum;
      };
      for (const char* key : {"acked", "publish_failed", "applied", "dead_letters"}) {
        const double a = metric(original, key), b = metric(replay, key);
        if (a != b) {
          diffs.push_back(std::string(key) + " " + std::to_string(static_cast<int64_t>(a)) +
                          " originally, " + std::to_string(static_cast<int64_t>(b)) +
                          " in the replay");
        }
      }
      diffs.push_back("state digest " + (d0.empty() ? std::string("(none)") : d0.substr(0, 16)) +
                      "… originally, " + (d1.empty() ? std::string("(none)") : d1.substr(0, 16)) +
                      "… in the replay");
    }
  }
  return diffs;
}

}  // namespace ingestlab::harness
