// Scenario parsing: YAML → Scenario, with file:line errors naming the offending key.
#include "harness/scenario.h"

#include "harness/run_dir.h"
#include "simulators/generators.h"
#include "simulators/load_shape.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace ingestlab {
namespace {

const std::set<std::string> kServiceNames = {"billing",  "support", "auth",
                                             "learning", "crm",     "all"};
const std::set<std::string> kTransports = {"nats", "kafka"};
const std::set<std::string> kDialects = {"cloudevents", "service", "customer"};
// Bounds that keep every value the harness derives representable (seconds as int64
// nanoseconds, counts as int).
constexpr double kMaxDurationSeconds = 365.0 * 24 * 3600;
constexpr double kMaxParamNumber = 1e9;

// Throws nothing: every check returns a Status carrying "<path>:<line>: ".
class Parser {
 public:
  explicit Parser(std::string path) : path_(std::move(path)) {}

  Status Error(const YAML::Node& node, const std::string& message) const {
    int line = node.IsDefined() ? node.Mark().line + 1 : 0;
    return Error(line, message);
  }
  Status Error(int line, const std::string& message) const {
    std::ostringstream out;
    out << path_;
    if (line > 0) out << ":" << line;
    out << ": " << message;
    return Status::InvalidArgument(out.str());
  }

  // Every key of `map` must be in `allowed`; `where` names the section.
  Status CheckKeys(const YAML::Node& map, const std::set<std::string>& allowed,
                   const std::string& where) const {
    for (auto it = map.begin(); it != map.end(); ++it) {
      const std::string key = it->first.Scalar();
      if (!allowed.count(key)) {
        return Error(it->first, "unknown key '" + key + "' in " + where);
      }
    }
    return Status::Ok();
  }

  Result<std::string> String(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) return Error(node, "'" + key + "' must be a string");
    return node.Scalar();
  }

  Result<double> Number(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) return Error(node, "'" + key + "' must be a number");
    const std::string& s = node.Scalar();
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v)) {
      return Error(node, "'" + key + "' must be a number, got '" + s + "'");
    }
    return v;
  }

  Result<int64_t> Integer(const YAML::Node& node, const std::string& key, int64_t lo,
                          int64_t hi) const {
    auto v = Number(node, key);
    if (!v.ok()) return v.status();
    if (*v != std::floor(*v) || *v < static_cast<double>(lo) || *v > static_cast<double>(hi)) {
      return Error(node, "'" + key + "' must be an integer in " + std::to_string(lo) + ".." +
                             std::to_string(hi) + ", got '" + node.Scalar() + "'");
    }
    return static_cast<int64_t>(*v);
  }

  Result<double> Share(const YAML::Node& node, const std::string& key) const {
    auto v = Number(node, key);
    if (!v.ok()) return v.status();
    if (*v < 0 || *v > 1) {
      return Error(node,
                   "'" + key + "' must be a share between 0 and 1, got '" + node.Scalar() + "'");
    }
    return *v;
  }

  Result<double> Duration(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) return Error(node, "'" + key + "' must be a duration like 10s");
    auto v = ParseDurationSeconds(node.Scalar());
    if (!v.ok()) return Error(node, "'" + key + "': " + v.status().message());
    return *v;
  }

  Result<Scenario> Parse(const std::string& text) {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
      return Error(e.mark.line + 1, "YAML: " + e.msg);
    } catch (const std::exception& e) {
      return Error(0, std::string("YAML: ") + e.what());
    }
    if (!root.IsMap()) return Error(root, "a scenario must be a YAML mapping");

    Scenario s;
    s.path = path_;
    s.text = text;
    s.name = std::filesystem::path(path_).stem().string();
    INGEST_RETURN_IF_ERROR(
        CheckKeys(root,
                  {"name", "description", "seed", "duration", "drain_timeout", "topology",
                   "services", "timeline", "assertions", "load", "system", "context"},
                  "scenario"));
    if (auto n = root["name"]) {
      auto v = String(n, "name");
      if (!v.ok()) return v.status();
      // The name becomes a directory name (<out>/<name>-<seed>).
      if (Status valid = ValidateScenarioName(*v); !valid.ok()) return Error(n, valid.message());
      s.name = *v;
    }
    if (auto n = root["description"]) {
      auto v = String(n, "description");
      if (!v.ok()) return v.status();
      s.description = *v;
    }
    if (auto n = root["seed"]) {
      auto v = Integer(n, "seed", 0, INT64_C(1) << 52);
      if (!v.ok()) return v.status();
      s.seed = static_cast<uint64_t>(*v);
    }
    if (auto n = root["duration"]) {
      auto v = Duration(n, "duration");
      if (!v.ok()) return v.status();
      if (*v <= 0) return Error(n, "'duration' must be positive");
      s.duration_s = *v;
    } else if (!root["load"]) {
      return Error(root, "missing key 'duration' in scenario");
    }
    if (auto n = root["drain_timeout"]) {
      auto v = Duration(n, "drain_timeout");
      if (!v.ok()) return v.status();
      s.drain_timeout_s = *v;
    }
    if (auto n = root["topology"]) INGEST_RETURN_IF_ERROR(ParseTopology(n, &s.topology));
    if (auto n = root["system"]) {
      if (auto t = root["topology"]; t && t.IsMap() && t["ingestd"]) {
        return Error(t["ingestd"], "'topology.ingestd' and 'system' exclude each other: the "
                                   "system section names its own instances");
      }
      if (auto t = root["topology"]; t && t.IsMap() && t["store"]) {
        return Error(t["store"], "'topology.store' and 'system' exclude each other: the "
                                 "system section says where its state is");
      }
      SystemSpec system;
      INGEST_RETURN_IF_ERROR(ParseSystem(n, &system));
      s.topology.ingestd_count = system.instances;
      s.system = std::move(system);
    }
    if (auto n = root["services"]) {
      if (!n.IsSequence()) return Error(n, "'services' must be a list");
      std::set<std::string> seen;
      for (const auto& item : n) {
        ServiceSpec svc;
        INGEST_RETURN_IF_ERROR(ParseService(item, &svc));
        // Each service runs once: two streams of one service would reuse its event ids.
        if (seen.count(svc.name) || (svc.name == "all" && !seen.empty()) || seen.count("all")) {
          return Error(item,
                       "service '" + svc.name + "' is listed twice ('all' covers every service)");
        }
        seen.insert(svc.name);
        s.services.push_back(std::move(svc));
      }
    }
    if (auto n = root["context"]) {
      if (s.system) {
        return Error(n,
                     "'context' reads ingestd's context API: a 'system' section has none the "
                     "harness knows");
      }
      ContextLoadSpec context;
      INGEST_RETURN_IF_ERROR(ParseContext(n, &context));
      context.services = s.services;
      s.context = context;
      s.topology.context = true;
    }
    if (auto n = root["timeline"]) {
      if (!n.IsSequence()) return Error(n, "'timeline' must be a list");
      for (const auto& item : n) {
        TimelineStep step;
        INGEST_RETURN_IF_ERROR(ParseStep(item, s, &step));
        s.timeline.push_back(std::move(step));
      }
      std::stable_sort(
          s.timeline.begin(), s.timeline.end(),
          [](const TimelineStep& a, const TimelineStep& b) { return a.at_s < b.at_s; });
    }
    if (auto n = root["load"]) {
      LoadSpec load;
      INGEST_RETURN_IF_ERROR(ParseLoad(n, &load));
      if (!s.timeline.empty()) {
        return Error(root["timeline"], "a load workload has no fault timeline");
      }
      if ((load.mode == "fixed" || load.mode == "ramp") && s.duration_s <= 0) {
        return Error(n, "a load at a fixed rate or a ramp needs 'duration'");
      }
      s.load = load;
    }
    if (auto n = root["assertions"]) {
      if (!n.IsSequence()) return Error(n, "'assertions' must be a list");
      for (const auto& item : n) {
        AssertionSpec a;
        INGEST_RETURN_IF_ERROR(ParseAssertion(item, &a));
        if (s.load && a.kind != "latency" && a.kind != "throughput" && a.kind != "no_loss") {
          return Error(item, "a load workload's assertions are latency, throughput and no_loss, "
                             "not '" + a.kind + "'");
        }
        if (!s.context &&
            (a.kind == "context_latency" || a.kind == "context_consistent" ||
             a.kind == "breaker_opened_within" || a.kind == "breaker_closed_within")) {
          return Error(item, "'" + a.kind +
                                 "' judges context API reads: the scenario needs a "
                                 "'context' section, e.g. context: {rate: 20}");
        }
        s.assertions.push_back(std::move(a));
      }
    }
    if (s.load && s.services.empty()) return Error(root, "a load workload needs 'services'");
    if (s.load && s.context) return Error(root["context"], "a load workload reads no context");
    if (s.load && s.system) return Error(root["system"], "a load workload runs ingestd only");
    return s;
  }

 private:
  // A string that may hold placeholders: checked now, so that a typo stops the run before
  // anything starts.
  Result<std::string> Template(const YAML::Node& node, const std::string& key) const {
    auto v = String(node, key);
    if (!v.ok()) return v.status();
    std::map<std::string, std::string> probe;
    for (const char* name : kSystemPlaceholders) probe[name] = "x";
    auto expanded = ExpandPlaceholders(*v, probe);
    if (!expanded.ok()) return Error(node, "'" + key + "': " + expanded.status().message());
    return v;
  }

  Result<std::string> HttpTemplate(const YAML::Node& node, const std::string& key) const {
    auto v = Template(node, key);
    if (v.ok() && v->rfind("http://", 0) != 0) {
      return Error(node, "'" + key + "' must be an http:// URL, got '" + *v + "'");
    }
    return v;
  }

  Status ParseSystem(const YAML::Node& n, SystemSpec* sys) {
    if (!n.IsMap()) return Error(n, "'system' must be a mapping with at least command and state");
    sys->line = n.Mark().line + 1;
    INGEST_RETURN_IF_ERROR(CheckKeys(n,
                                     {"command", "instances", "env", "ready", "stop", "state",
                                      "metrics", "dead_letters", "create_streams"},
                                     "system"));
    auto command = n["command"];
    if (!command) return Error(n, "missing key 'command' in system");
    if (!command.IsSequence() || command.size() == 0) {
      return Error(command, "'command' must be a list: program, then its arguments");
    }
    for (const auto& arg : command) {
      auto v = Template(arg, "command");
      if (!v.ok()) return v.status();
      sys->command.push_back(*v);
    }
    if (sys->command.front().empty()) return Error(command, "'command' names no program");
    if (auto v = n["instances"]) {
      auto i = Integer(v, "instances", 1, 8);
      if (!i.ok()) return i.status();
      sys->instances = static_cast<int>(*i);
    }
    if (auto env = n["env"]) {
      if (!env.IsMap()) return Error(env, "'env' must be a mapping NAME: value");
      for (auto it = env.begin(); it != env.end(); ++it) {
        const std::string key = it->first.Scalar();
        if (key.empty() || std::isdigit(static_cast<unsigned char>(key[0])) ||
            key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                std::string::npos) {
          return Error(it->first, "bad environment variable name '" + key + "'");
        }
        auto v = Template(it->second, key);
        if (!v.ok()) return v.status();
        sys->env.emplace_back(key, *v);
      }
    }
    if (auto ready = n["ready"]) {
      if (!ready.IsMap()) return Error(ready, "'ready' must be {http: URL, timeout: D}");
      INGEST_RETURN_IF_ERROR(CheckKeys(ready, {"http", "timeout"}, "ready"));
      if (auto h = ready["http"]) {
        auto v = HttpTemplate(h, "http");
        if (!v.ok()) return v.status();
        sys->ready_http = *v;
      }
      if (auto t = ready["timeout"]) {
        auto d = Duration(t, "timeout");
        if (!d.ok()) return d.status();
        if (*d <= 0 || *d > 600) return Error(t, "'timeout' must be above 0 and at most 10m");
        sys->ready_timeout_s = *d;
      }
    }
    if (auto stop = n["stop"]) {
      if (!stop.IsMap()) return Error(stop, "'stop' must be {signal: TERM, timeout: D}");
      INGEST_RETURN_IF_ERROR(CheckKeys(stop, {"signal", "timeout"}, "stop"));
      if (auto sig = stop["signal"]) {
        auto v = String(sig, "signal");
        if (!v.ok()) return v.status();
        std::string name = *v;
        if (name.rfind("SIG", 0) == 0) name = name.substr(3);
        if (name != "TERM" && name != "INT" && name != "QUIT" && name != "HUP" && name != "KILL") {
          return Error(sig, "'signal' must be TERM, INT, QUIT, HUP or KILL, got '" + *v + "'");
        }
        sys->stop_signal = name;
      }
      if (auto t = stop["timeout"]) {
        auto d = Duration(t, "timeout");
        if (!d.ok()) return d.status();
        if (*d <= 0 || *d > 600) return Error(t, "'timeout' must be above 0 and at most 10m");
        sys->stop_timeout_s = *d;
      }
    }
    auto state = n["state"];
    if (!state) {
      return Error(n, "missing key 'state' in system: the checkers need to learn what it applied "
                      "(state: {http: URL}, {sql: {sqlite: PATH, applied: QUERY}} or "
                      "{ingestd: PATH})");
    }
    if (!state.IsMap() || state.size() != 1) {
      return Error(state, "'state' must be exactly one of {http: URL}, {sql: {sqlite, applied}} "
                          "or {ingestd: PATH}");
    }
    INGEST_RETURN_IF_ERROR(CheckKeys(state, {"http", "sql", "ingestd"}, "state"));
    if (auto h = state["http"]) {
      auto v = HttpTemplate(h, "http");
      if (!v.ok()) return v.status();
      sys->state_http = *v;
    } else if (auto db = state["ingestd"]) {
      auto v = Template(db, "ingestd");
      if (!v.ok()) return v.status();
      sys->state_ingestd = *v;
    } else {
      auto sql = state["sql"];
      if (!sql.IsMap()) return Error(sql, "'sql' must be {sqlite: PATH, applied: QUERY}");
      INGEST_RETURN_IF_ERROR(CheckKeys(sql, {"sqlite", "applied"}, "state.sql"));
      if (!sql["sqlite"] || !sql["applied"]) {
        return Error(sql, "'sql' needs both 'sqlite' (the database) and 'applied' (the query)");
      }
      auto path = Template(sql["sqlite"], "sqlite");
      if (!path.ok()) return path.status();
      auto query = String(sql["applied"], "applied");
      if (!query.ok()) return query.status();
      sys->state_sqlite = *path;
      sys->state_query = *query;
    }
    if (auto m = n["metrics"]) {
      if (!m.IsMap()) return Error(m, "'metrics' must be {http: URL}");
      INGEST_RETURN_IF_ERROR(CheckKeys(m, {"http"}, "metrics"));
      auto v = HttpTemplate(m["http"], "http");
      if (!v.ok()) return v.status();
      sys->metrics_http = *v;
    }
    if (auto c = n["create_streams"]) {
      if (!c.IsScalar() || (c.Scalar() != "true" && c.Scalar() != "false")) {
        return Error(c, "'create_streams' must be true or false");
      }
      sys->create_streams = c.Scalar() == "true";
    }
    if (auto dl = n["dead_letters"]) {
      if (!dl.IsMap() || dl.size() != 1) {
        return Error(dl, "'dead_letters' must be {subject: SUBJECT} or {sql: QUERY}");
      }
      INGEST_RETURN_IF_ERROR(CheckKeys(dl, {"subject", "sql"}, "system.dead_letters"));
      if (auto q = dl["sql"]) {
        if (sys->state_sqlite.empty()) {
          return Error(q, "dead_letters: {sql: ...} queries the database of state: {sql: ...}, "
                          "which this system does not name");
        }
        auto v = String(q, "sql");
        if (!v.ok()) return v.status();
        sys->dead_letter_query = *v;
        return Status::Ok();
      }
      auto v = String(dl["subject"], "subject");
      if (!v.ok()) return v.status();
      if (v->empty() || v->find_first_of(" \t\r\n") != std::string::npos) {
        return Error(dl["subject"], "'subject' must be a NATS subject, got '" + *v + "'");
      }
      sys->dead_letter_subject = *v;
    }
    return Status::Ok();
  }

  Status ParseTopology(const YAML::Node& n, TopologySpec* t) {
    if (!n.IsMap()) return Error(n, "'topology' must be a mapping");
    INGEST_RETURN_IF_ERROR(
        CheckKeys(n, {"nats_nodes", "kafka_brokers", "ingestd", "store", "secure"}, "topology"));
    if (auto v = n["secure"]) {
      if (!v.IsScalar() || (v.Scalar() != "true" && v.Scalar() != "false")) {
        return Error(v, "'secure' must be true or false");
      }
      t->secure = v.Scalar() == "true";
    }
    if (auto v = n["store"]) {
      if (!v.IsScalar() || (v.Scalar() != "sqlite" && v.Scalar() != "postgres")) {
        return Error(v, "'store' must be sqlite or postgres");
      }
      t->postgres_store = v.Scalar() == "postgres";
    }
    if (auto v = n["nats_nodes"]) {
      auto i = Integer(v, "nats_nodes", 1, 3);
      if (!i.ok()) return i.status();
      if (*i == 2) return Error(v, "'nats_nodes' must be 1 or 3, got '2'");
      t->nats_nodes = static_cast<int>(*i);
    }
    if (auto v = n["kafka_brokers"]) {
      auto i = Integer(v, "kafka_brokers", 0, 9);
      if (!i.ok()) return i.status();
      t->kafka_brokers = static_cast<int>(*i);
    }
    if (auto v = n["ingestd"]) {
      if (v.IsScalar()) {
        auto i = Integer(v, "ingestd", 1, 8);
        if (!i.ok()) return i.status();
        t->ingestd_count = static_cast<int>(*i);
      } else if (v.IsMap()) {
        INGEST_RETURN_IF_ERROR(CheckKeys(v, {"count", "settings"}, "topology.ingestd"));
        if (auto c = v["count"]) {
          auto i = Integer(c, "count", 1, 8);
          if (!i.ok()) return i.status();
          t->ingestd_count = static_cast<int>(*i);
        }
        if (auto st = v["settings"]) {
          if (!st.IsMap()) return Error(st, "'settings' must be a mapping of ingestd flags");
          for (auto it = st.begin(); it != st.end(); ++it) {
            const std::string key = it->first.Scalar();
            if (key.empty() || key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") !=
                                   std::string::npos) {
              return Error(it->first, "bad ingestd setting name '" + key + "'");
            }
            if (key == "nats" || key == "kafka" || key == "db" || key == "http" ||
                key == "http-port-file") {
              return Error(it->first, "ingestd setting '" + key + "' is chosen by the harness");
            }
            if (!it->second.IsScalar()) {
              return Error(it->second, "ingestd setting '" + key + "' must be a scalar");
            }
            std::string flag = key;
            std::replace(flag.begin(), flag.end(), '_', '-');
            t->ingestd_settings.emplace_back(flag, it->second.Scalar());
          }
        }
      } else {
        return Error(v, "'ingestd' must be a count or a mapping {count, settings}");
      }
    }
    return Status::Ok();
  }

  Status ParseShares(const YAML::Node& n, const std::string& what,
                     const std::set<std::string>& allowed, std::map<std::string, double>* out) {
    if (!n.IsMap()) return Error(n, "'" + what + "' must be a mapping of name: share");
    double total = 0;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.Scalar();
      if (!allowed.count(key)) return Error(it->first, "unknown key '" + key + "' in " + what);
      auto v = Share(it->second, key);
      if (!v.ok()) return v.status();
      (*out)[key] = *v;
      total += *v;
    }
    if (total > 1.0 + 1e-9) return Error(n, "'" + what + "' shares add up to more than 1");
    return Status::Ok();
  }

  Status ParseContext(const YAML::Node& n, ContextLoadSpec* c) {
    if (!n.IsMap())
      return Error(n, "'context' must be a mapping like {rate: 20, cross_tenant: 0.1}");
    c->line = n.Mark().line + 1;
    INGEST_RETURN_IF_ERROR(CheckKeys(n, {"rate", "cross_tenant"}, "context"));
    if (auto r = n["rate"]) {
      auto v = Number(r, "rate");
      if (!v.ok()) return v.status();
      if (*v <= 0 || *v > 1000) return Error(r, "'rate' must be in (0, 1000] reads/s");
      c->rate = *v;
    }
    if (auto x = n["cross_tenant"]) {
      auto v = Number(x, "cross_tenant");
      if (!v.ok()) return v.status();
      if (*v < 0 || *v > 1) return Error(x, "'cross_tenant' must be a share from 0 to 1");
      c->cross_tenant = *v;
    }
    return Status::Ok();
  }

  Status ParseService(const YAML::Node& n, ServiceSpec* svc) {
    if (!n.IsMap()) return Error(n, "a service must be a mapping");
    svc->line = n.Mark().line + 1;
    INGEST_RETURN_IF_ERROR(CheckKeys(
        n, {"name", "transport", "rate", "shape", "faults", "dialects", "customers", "org"},
        "service"));
    auto name = n["name"];
    if (!name) return Error(n, "missing key 'name' in service");
    auto nv = String(name, "name");
    if (!nv.ok()) return nv.status();
    if (!kServiceNames.count(*nv)) {
      return Error(name,
                   "unknown service '" + *nv + "' (billing, support, auth, learning, crm, all)");
    }
    svc->name = *nv;
    svc->transport = svc->name == "crm" ? "kafka" : "nats";
    if (auto t = n["transport"]) {
      auto v = String(t, "transport");
      if (!v.ok()) return v.status();
      if (!kTransports.count(*v))
        return Error(t, "'transport' must be nats or kafka, got '" + *v + "'");
      if (svc->name == "crm" && *v == "nats")
        return Error(t, "service 'crm' publishes on kafka only");
      svc->transport = *v;
    }
    if (auto r = n["rate"]) {
      auto v = Number(r, "rate");
      if (!v.ok()) return v.status();
      if (*v <= 0 || *v > 1e6) return Error(r, "'rate' must be in (0, 1000000] events/s");
      svc->rate = *v;
    }
    if (auto sh = n["shape"]) {
      auto v = String(sh, "shape");
      if (!v.ok()) return v.status();
      auto shape = sim::LoadShape::Parse(*v, svc->rate, 60);
      if (!shape.ok()) {
        return Error(sh, "bad shape '" + *v + "': " + shape.status().message() +
                             " (constant, poisson, ramp:FROM:TO[:D], spike:PEAK:AT:LEN)");
      }
      svc->shape = *v;
    }
    if (auto f = n["faults"]) {
      const auto& names = KnownFaultNames();
      INGEST_RETURN_IF_ERROR(ParseShares(
          f, "faults", std::set<std::string>(names.begin(), names.end()), &svc->faults));
    }
    if (auto d = n["dialects"])
      INGEST_RETURN_IF_ERROR(ParseShares(d, "dialects", kDialects, &svc->dialects));
    if (auto c = n["customers"]) {
      auto v = Integer(c, "customers", 1, 10'000'000);
      if (!v.ok()) return v.status();
      svc->customers = static_cast<int>(*v);
    }
    if (auto o = n["org"]) {
      auto v = String(o, "org");
      if (!v.ok()) return v.status();
      if (v->empty() || v->size() > 64 ||
          v->find_first_not_of(
              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
              std::string::npos) {
        return Error(o, "'org' must be 1 to 64 letters, digits, '.', '_' or '-', got '" + *v + "'");
      }
      svc->org = *v;
    }
    return Status::Ok();
  }

  Result<double> Rate(const YAML::Node& node, const std::string& key) const {
    auto v = Number(node, key);
    if (!v.ok()) return v.status();
    if (*v <= 0 || *v > 1e7) return Error(node, "'" + key + "' must be in (0, 10000000] events/s");
    return *v;
  }

  // A step's length, `each` of steps and find_max (at least 1s), when the mapping has one.
  Status ParseStepLength(const YAML::Node& mode, LoadSpec* load) {
    if (auto e = mode["each"]) {
      auto v = Duration(e, "each");
      if (!v.ok()) return v.status();
      if (*v < 1) return Error(e, "'each' must be at least 1s");
      load->step_s = *v;
    }
    return Status::Ok();
  }

  Status ParseLoad(const YAML::Node& n, LoadSpec* load) {
    if (!n.IsMap()) return Error(n, "'load' must be a mapping");
    load->line = n.Mark().line + 1;
    INGEST_RETURN_IF_ERROR(
        CheckKeys(n, {"rate", "ramp", "steps", "find_max", "publishers", "settle", "warmup"},
                  "load"));
    int modes = 0;
    if (auto r = n["rate"]) {
      auto v = Rate(r, "rate");
      if (!v.ok()) return v.status();
      load->mode = "fixed";
      load->rate = *v;
      ++modes;
    }
    if (auto r = n["ramp"]) {
      if (!r.IsMap()) return Error(r, "'ramp' must be {from: RATE, to: RATE}");
      INGEST_RETURN_IF_ERROR(CheckKeys(r, {"from", "to"}, "ramp"));
      if (!r["from"] || !r["to"]) return Error(r, "'ramp' needs 'from' and 'to'");
      auto from = Rate(r["from"], "from");
      if (!from.ok()) return from.status();
      auto to = Rate(r["to"], "to");
      if (!to.ok()) return to.status();
      load->mode = "ramp";
      load->ramp_from = *from;
      load->ramp_to = *to;
      ++modes;
    }
    if (auto st = n["steps"]) {
      if (!st.IsMap()) return Error(st, "'steps' must be {rates: [R1, R2, ...], each: 10s}");
      INGEST_RETURN_IF_ERROR(CheckKeys(st, {"rates", "each"}, "steps"));
      auto rates = st["rates"];
      if (!rates || !rates.IsSequence() || rates.size() == 0 || rates.size() > 100) {
        return Error(st, "'steps.rates' must be a list of 1 to 100 rates");
      }
      for (const auto& r : rates) {
        auto v = Rate(r, "rates");
        if (!v.ok()) return v.status();
        load->steps.push_back(*v);
      }
      INGEST_RETURN_IF_ERROR(ParseStepLength(st, load));
      load->mode = "steps";
      ++modes;
    }
    if (auto f = n["find_max"]) {
      if (!f.IsMap()) return Error(f, "'find_max' must be {p99: 25ms, start: R, max: R, each: D}");
      INGEST_RETURN_IF_ERROR(
          CheckKeys(f, {"p99", "start", "max", "each", "precision"}, "find_max"));
      if (auto p = f["p99"]) {
        auto v = Duration(p, "p99");
        if (!v.ok()) return v.status();
        if (*v <= 0) return Error(p, "'p99' must be positive");
        load->p99_target_ms = *v * 1000;
      }
      if (auto s = f["start"]) {
        auto v = Rate(s, "start");
        if (!v.ok()) return v.status();
        load->start_rate = *v;
      }
      if (auto m = f["max"]) {
        auto v = Rate(m, "max");
        if (!v.ok()) return v.status();
        load->max_rate = *v;
      }
      INGEST_RETURN_IF_ERROR(ParseStepLength(f, load));
      if (auto p = f["precision"]) {
        auto v = Number(p, "precision");
        if (!v.ok()) return v.status();
        if (*v < 0.01 || *v > 1) return Error(p, "'precision' must be in 0.01..1");
        load->precision = *v;
      }
      if (load->start_rate > load->max_rate) {
        return Error(f, "'find_max.start' is above 'find_max.max'");
      }
      load->mode = "find_max";
      ++modes;
    }
    if (modes != 1) {
      return Error(n, "'load' needs exactly one of rate, ramp, steps, find_max");
    }
    if (auto p = n["publishers"]) {
      auto v = Integer(p, "publishers", 1, 16);
      if (!v.ok()) return v.status();
      load->publishers = static_cast<int>(*v);
    }
    if (auto s = n["settle"]) {
      auto v = Duration(s, "settle");
      if (!v.ok()) return v.status();
      if (*v < 1 || *v > 600) return Error(s, "'settle' must be 1s..10m");
      load->settle_s = *v;
    }
    if (auto wu = n["warmup"]) {
      auto v = Duration(wu, "warmup");
      if (!v.ok()) return v.status();
      if (*v > 600) return Error(wu, "'warmup' must be at most 10m");
      load->warmup_s = *v;
    }
    return Status::Ok();
  }

  Status ParseStep(const YAML::Node& n, const Scenario& s, TimelineStep* step) {
    if (!n.IsMap()) return Error(n, "a timeline step must be a mapping");
    step->line = n.Mark().line + 1;
    INGEST_RETURN_IF_ERROR(
        CheckKeys(n, {"at", "action", "target", "for", "params"}, "timeline step"));
    auto at = n["at"];
    if (!at) return Error(n, "missing key 'at' in timeline step");
    auto atv = Duration(at, "at");
    if (!atv.ok()) return atv.status();
    if (*atv > s.duration_s) {
      return Error(at, "'at' " + at.Scalar() + " is after the scenario's duration " +
                           FormatDurationSeconds(s.duration_s));
    }
    step->at_s = *atv;
    auto action = n["action"];
    if (!action) return Error(n, "missing key 'action' in timeline step");
    auto av = String(action, "action");
    if (!av.ok()) return av.status();
    const auto& known = KnownTimelineActions();
    if (std::find(known.begin(), known.end(), *av) == known.end()) {
      return Error(action, "unknown action '" + *av + "'");
    }
    step->action = *av;
    if (auto t = n["target"]) {
      auto v = String(t, "target");
      if (!v.ok()) return v.status();
      step->target = *v;
    }
    if (auto f = n["for"]) {
      auto v = Duration(f, "for");
      if (!v.ok()) return v.status();
      if (*v <= 0) return Error(f, "'for' must be positive");
      step->for_s = *v;
    }
    if (auto p = n["params"]) {
      if (!p.IsMap()) return Error(p, "'params' must be a mapping");
      for (auto it = p.begin(); it != p.end(); ++it) {
        if (!it->second.IsScalar()) {
          return Error(it->second, "param '" + it->first.Scalar() + "' must be a scalar");
        }
        step->params[it->first.Scalar()] = it->second.Scalar();
      }
    }
    return ValidateStep(n, s, *step);
  }

  // Checks targets and the params each action understands. Numbered targets must exist in the
  // topology (parsed before the timeline), so a typo stops the run before anything starts
  // rather than failing the fault half-way through it.
  Status ValidateStep(const YAML::Node& n, const Scenario& s, const TimelineStep& step) {
    const std::string& a = step.action;
    std::set<std::string> allowed;
    std::set<std::string> durations;  // params parsed as durations
    if (a == "net_latency") {
      allowed = {"latency", "jitter"};
      durations = allowed;
    } else if (a == "net_bandwidth") {
      allowed = {"kbps"};
    } else if (a == "net_cut") {
      allowed = {"mode"};
    } else if (a == "kafka_rtt") {
      allowed = {"rtt"};
      durations = allowed;
    } else if (a == "kafka_request_errors") {
      allowed = {"count", "error", "api"};
    } else if (a == "kafka_leader_move") {
      allowed = {"topic", "partition", "broker"};
    } else if (a == "set_rate") {
      allowed = {"rate"};
    } else if (a == "hold_db_lock" || a == "dlq_outage" || a == "dlq_restore") {
      allowed = {};
    } else if (a == "downstream_slow") {
      allowed = {"latency"};
      durations = allowed;
    } else if (a == "downstream_error") {
      allowed = {"rate"};
    } else if (a == "downstream_down") {
      allowed = {};
    }
    auto params_node = n["params"];
    for (const auto& [key, value] : step.params) {
      if (!allowed.count(key)) {
        return Error(params_node ? params_node : n, "unknown key '" + key + "' in params of " + a);
      }
      if (durations.count(key)) {
        auto d = ParseDurationSeconds(value);
        if (!d.ok()) return Error(params_node, "param '" + key + "': " + d.status().message());
      } else if (key == "kbps" || key == "count" || key == "partition" || key == "broker" ||
                 key == "rate") {
        char* end = nullptr;
        double v = std::strtod(value.c_str(), &end);
        // The harness converts these to int (count, partition, broker) or to per-second
        // integers: an unbounded value would not convert.
        if (value.empty() || *end != '\0' || !(v >= 0 && v <= kMaxParamNumber)) {
          return Error(
              params_node,
              "param '" + key + "' must be a number from 0 to 1000000000, got '" + value + "'");
        }
      } else if (key == "mode" && value != "close" && value != "blackhole") {
        return Error(params_node, "param 'mode' must be close or blackhole, got '" + value + "'");
      }
    }
    if (a == "set_rate" && !step.params.count("rate")) {
      return Error(n, "set_rate needs params: {rate: N}");
    }
    if (a.rfind("downstream_", 0) == 0) {
      if (!s.context) {
        return Error(n["action"],
                     a + " acts on the context API's downstream services: the "
                         "scenario needs a 'context' section, e.g. context: {rate: 20}");
      }
      if (!step.for_s) return Error(n, a + " needs 'for'");
      if (step.target != "crm" && step.target != "scheduling" && step.target != "email" &&
          step.target != "all") {
        const std::string what = "target of " + a + " must be crm, scheduling, email or all, " +
                                 "got '" + step.target + "'";
        return Error(n["target"] ? n["target"] : n, what);
      }
      if (a == "downstream_slow" && !step.params.count("latency")) {
        return Error(n, "downstream_slow needs params: {latency: 1s}");
      }
      if (a == "downstream_slow" && step.NumberParam("latency", 0) > 60) {
        return Error(n["params"], "param 'latency' of downstream_slow must be at most 60s");
      }
      if (a == "downstream_error") {
        if (!step.params.count("rate")) return Error(n, "downstream_error needs params: {rate: 1}");
        if (step.NumberParam("rate", 0) > 1) {
          return Error(n["params"], "param 'rate' of downstream_error is a share from 0 to 1");
        }
      }
    }
    if (a == "hold_db_lock" && !step.for_s) return Error(n, "hold_db_lock needs 'for'");
    if (a == "hold_db_lock" && s.system && s.system->state_ingestd.empty() &&
        s.system->state_sqlite.empty()) {
      return Error(n, "hold_db_lock holds the system's SQLite database: this system names none "
                      "(state: {ingestd: PATH} or {sql: {sqlite: PATH, ...}})");
    }
    if ((a == "kill_store" || a == "restart_store") && !s.topology.postgres_store) {
      return Error(n["action"], a + " needs the PostgreSQL store: topology: {store: postgres}");
    }
    // Targets: ingestd-N, nats-N, broker-N, all, or a service name for set_rate.
    if (!step.target.empty() && step.target != "all") {
      std::string prefix;
      if (a.find("_nats") != std::string::npos || a.rfind("net_", 0) == 0) {
        prefix = "nats-";
      } else if (a.find("ingestd") != std::string::npos) {
        prefix = s.system ? "system-" : "ingestd-";
      } else if (a.rfind("kafka_", 0) == 0) {
        prefix = "broker-";
      }
      if (!prefix.empty()) {
        const bool ok =
            step.target.rfind(prefix, 0) == 0 && step.target.size() > prefix.size() &&
            step.target.find_first_not_of("0123456789", prefix.size()) == std::string::npos;
        if (!ok) {
          return Error(n["target"], "target of " + a + " must look like " + prefix +
                                        "N or 'all', got '" + step.target + "'");
        }
        // ingestd-N and nats-N count from 0, broker-N (the Kafka broker id) from 1.
        const std::string digits = step.target.substr(prefix.size());
        const int first = prefix == "broker-" ? 1 : 0;
        const bool instance = prefix == "ingestd-" || prefix == "system-";
        const int count = instance ? s.topology.ingestd_count
                          : prefix == "nats-"  ? s.topology.nats_nodes
                                               : s.topology.kafka_brokers;
        const std::string kind = prefix == "system-"    ? "system instance"
                                 : prefix == "ingestd-" ? "ingestd instance"
                                 : prefix == "nats-"  ? "NATS node"
                                                      : "Kafka broker";
        if (digits.size() > 3 || std::stoi(digits) < first || std::stoi(digits) >= first + count) {
          std::string have;
          if (count == 0) {
            have = "the topology has no " + kind + "s";
          } else {
            have = "the topology has " + std::to_string(count) + " " + kind +
                   (count == 1 ? "" : "s") + ": " + prefix + std::to_string(first) +
                   (count == 1 ? "" : ".." + prefix + std::to_string(first + count - 1));
          }
          return Error(n["target"], "target '" + step.target + "' of " + a +
                                        " does not exist: " + have);
        }
      } else if (a == "set_rate" && !kServiceNames.count(step.target)) {
        return Error(n["target"],
                     "target of set_rate must be a service name, got '" + step.target + "'");
      }
    }
    return Status::Ok();
  }

  Status ParseAssertion(const YAML::Node& n, AssertionSpec* a) {
    a->line = n.IsDefined() ? n.Mark().line + 1 : 0;
    YAML::Node key_node;
    YAML::Node value;
    if (n.IsScalar()) {
      key_node = n;
    } else if (n.IsMap() && n.size() == 1) {
      key_node = n.begin()->first;
      value = n.begin()->second;
    } else {
      return Error(n,
                   "an assertion must be one key, e.g. {no_loss: true} or {latency: {p99_ms: 25}}");
    }
    const std::string kind = key_node.Scalar();
    a->kind = kind;
    auto truthy = [&](const char* what) -> Status {
      if (!value || value.IsNull()) return Status::Ok();
      if (value.IsScalar() && (value.Scalar() == "true" || value.Scalar() == "yes")) {
        return Status::Ok();
      }
      return Error(value, std::string("'") + what + "' takes no value (write '- " + what + "')");
    };
    if (kind == "no_loss" || kind == "exactly_once") return truthy(kind.c_str());
    if (kind == "dead_letters") {
      if (value && value.IsScalar() && value.Scalar() == "expected") {
        a->expected = true;
        return Status::Ok();
      }
      if (!value || !value.IsMap()) {
        return Error(n, "'dead_letters' must be 'expected' or {max: N, reasons: {...}}");
      }
      INGEST_RETURN_IF_ERROR(CheckKeys(value, {"expected", "max", "reasons"}, "dead_letters"));
      if (auto e = value["expected"]) a->expected = e.IsScalar() && e.Scalar() == "true";
      if (auto m = value["max"]) {
        auto v = Number(m, "max");
        if (!v.ok()) return v.status();
        a->numbers["max"] = *v;
      }
      if (auto r = value["reasons"]) {
        if (!r.IsMap()) return Error(r, "'reasons' must be a mapping reason: count");
        for (auto it = r.begin(); it != r.end(); ++it) {
          const std::string reason = it->first.Scalar();
          if (reason != "parse" && reason != "schema" && reason != "max_deliveries") {
            return Error(it->first,
                         "unknown key '" + reason + "' in reasons (parse, schema, max_deliveries)");
          }
          auto v = Number(it->second, reason);
          if (!v.ok()) return v.status();
          a->reasons[reason] = *v;
        }
      }
      return Status::Ok();
    }
    if (kind == "latency") {
      if (!value || !value.IsMap())
        return Error(n, "'latency' must be a mapping like {p99_ms: 25}");
      INGEST_RETURN_IF_ERROR(CheckKeys(value,
                                       {"p50_ms", "p95_ms", "p99_ms", "max_ms", "added_p50_ms",
                                        "added_p95_ms", "added_p99_ms", "scale_with_broker",
                                        "window"},
                                       "latency"));
      for (const char* k :
           {"p50_ms", "p95_ms", "p99_ms", "max_ms", "added_p50_ms", "added_p95_ms", "added_p99_ms"}) {
        if (auto v = value[k]) {
          auto x = Number(v, k);
          if (!x.ok()) return x.status();
          if (*x <= 0) return Error(v, std::string("'") + k + "' must be positive");
          a->numbers[k] = *x;
        }
      }
      if (auto sc = value["scale_with_broker"]) {
        auto x = Number(sc, "scale_with_broker");
        if (!x.ok()) return x.status();
        if (*x < 1 || *x > 10) return Error(sc, "'scale_with_broker' must be in 1..10");
        a->numbers["scale_with_broker"] = *x;
      }
      if (auto w = value["window"]) {
        if (!w.IsMap()) return Error(w, "'window' must be {from: 5s, to: 25s}");
        INGEST_RETURN_IF_ERROR(CheckKeys(w, {"from", "to"}, "window"));
        if (auto f = w["from"]) {
          auto x = Duration(f, "from");
          if (!x.ok()) return x.status();
          a->numbers["window_from_s"] = *x;
        }
        if (auto t = w["to"]) {
          auto x = Duration(t, "to");
          if (!x.ok()) return x.status();
          a->numbers["window_to_s"] = *x;
        }
      }
      size_t gates = 0;
      for (const char* k :
           {"p50_ms", "p95_ms", "p99_ms", "max_ms", "added_p50_ms", "added_p95_ms", "added_p99_ms"}) {
        gates += a->numbers.count(k);
      }
      if (gates == 0) {
        return Error(value,
                     "'latency' needs at least one of p50_ms, p95_ms, p99_ms, max_ms, "
                     "added_p50_ms, added_p95_ms, added_p99_ms");
      }
      return Status::Ok();
    }
    if (kind == "throughput") {
      if (!value || !value.IsMap()) return Error(n, "'throughput' must be {min_eps: N}");
      INGEST_RETURN_IF_ERROR(CheckKeys(value, {"min_eps"}, "throughput"));
      auto m = value["min_eps"];
      if (!m) return Error(value, "missing key 'min_eps' in throughput");
      auto x = Number(m, "min_eps");
      if (!x.ok()) return x.status();
      a->numbers["min_eps"] = *x;
      return Status::Ok();
    }
    if (kind == "reconnect_within" || kind == "lag_drained_within") {
      if (!value) return Error(n, "'" + kind + "' needs a duration, e.g. " + kind + ": 10s");
      auto x = Duration(value, kind);
      if (!x.ok()) return x.status();
      a->numbers["seconds"] = *x;
      return Status::Ok();
    }
    if (kind == "breaker_opened_within" || kind == "breaker_closed_within") {
      if (!value) return Error(n, "'" + kind + "' needs a duration, e.g. " + kind + ": 5s");
      auto x = Duration(value, kind);
      if (!x.ok()) return x.status();
      if (*x <= 0) return Error(value, "'" + kind + "' must be positive");
      a->numbers["seconds"] = *x;
      return Status::Ok();
    }
    if (kind == "context_latency") {
      if (!value || !value.IsMap()) {
        return Error(n, "'context_latency' must be a mapping like {p95_ms: 500}");
      }
      INGEST_RETURN_IF_ERROR(
          CheckKeys(value, {"p50_ms", "p95_ms", "p99_ms", "max_ms"}, "context_latency"));
      for (const char* k : {"p50_ms", "p95_ms", "p99_ms", "max_ms"}) {
        if (auto v = value[k]) {
          auto x = Number(v, k);
          if (!x.ok()) return x.status();
          if (*x <= 0) return Error(v, std::string("'") + k + "' must be positive");
          a->numbers[k] = *x;
        }
      }
      if (a->numbers.empty()) {
        return Error(value,
                     "'context_latency' needs at least one of p50_ms, p95_ms, p99_ms, max_ms");
      }
      return Status::Ok();
    }
    if (kind == "context_consistent") {
      if (value && value.IsMap()) {
        INGEST_RETURN_IF_ERROR(CheckKeys(value, {"slack"}, "context_consistent"));
        if (auto sl = value["slack"]) {
          auto x = Duration(sl, "slack");
          if (!x.ok()) return x.status();
          if (*x > 60) return Error(sl, "'slack' must be at most 60s");
          a->numbers["slack_ms"] = *x * 1000;
        }
        return Status::Ok();
      }
      return truthy("context_consistent");
    }
    return Error(key_node, "unknown assertion '" + kind +
                               "' (no_loss, exactly_once, dead_letters, latency, throughput, "
                               "reconnect_within, lag_drained_within, context_latency, "
                               "breaker_opened_within, breaker_closed_within, context_consistent)");
  }

  std::string path_;
};

}  // namespace

Result<double> ParseDurationSeconds(const std::string& text) {
  if (text.empty()) return Status::InvalidArgument("empty duration");
  size_t i = 0;
  double total = 0;
  bool any = false;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (i == start) {
      return Status::InvalidArgument("bad duration '" + text + "' (use e.g. 500ms, 10s, 2m)");
    }
    const std::string number = text.substr(start, i - start);
    char* end = nullptr;
    double v = std::strtod(number.c_str(), &end);
    if (*end != '\0') return Status::InvalidArgument("bad duration '" + text + "'");
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    const std::string unit = text.substr(unit_start, i - unit_start);
    double scale;
    if (unit.empty()) {
      if (any || i != text.size()) return Status::InvalidArgument("bad duration '" + text + "'");
      scale = 1;
    } else if (unit == "ms") {
      scale = 0.001;
    } else if (unit == "s") {
      scale = 1;
    } else if (unit == "m") {
      scale = 60;
    } else if (unit == "h") {
      scale = 3600;
    } else {
      return Status::InvalidArgument("bad duration unit '" + unit + "' in '" + text +
                                     "' (ms, s, m, h)");
    }
    total += v * scale;
    any = true;
  }
  if (!(total <= kMaxDurationSeconds)) {  // also catches overflow to infinity
    return Status::InvalidArgument("duration '" + text + "' is longer than a year (8760h)");
  }
  return total;
}

std::string FormatDurationSeconds(double seconds) {
  std::ostringstream out;
  if (seconds > 0 && seconds < 1) {
    out << std::round(seconds * 1000 * 1000) / 1000 << "ms";
  } else if (seconds >= 120 && std::fmod(seconds, 60) == 0) {
    out << seconds / 60 << "m";
  } else {
    out << std::round(seconds * 1000) / 1000 << "s";
  }
  return out.str();
}

double TimelineStep::NumberParam(const std::string& key, double fallback) const {
  auto it = params.find(key);
  if (it == params.end()) return fallback;
  auto d = ParseDurationSeconds(it->second);
  if (d.ok()) return *d;
  return std::strtod(it->second.c_str(), nullptr);
}

const std::vector<std::string>& KnownTimelineActions() {
  static const std::vector<std::string> kActions = {
      "kill_ingestd",      "stop_ingestd",    "restart_ingestd",   "kill_nats",
      "stop_nats",         "restart_nats",    "pause_nats",        "resume_nats",
      "pause_ingestd",     "resume_ingestd",
      "kafka_broker_down", "kafka_broker_up", "kafka_leader_move", "kafka_request_errors",
      "kafka_rtt",         "net_cut",         "net_restore",       "net_latency",
      "net_bandwidth",     "net_reset",       "hold_db_lock",      "set_rate",
      "dlq_outage",        "dlq_restore",     "kill_store",        "restart_store",
      "downstream_slow",   "downstream_error", "downstream_down"};
  return kActions;
}

const std::vector<std::string>& KnownFaultNames() {
  static const std::vector<std::string> kFaults = {"duplicate",    "malformed",  "poison",
                                                   "out_of_order", "schema_mix", "unknown_customer",
                                                   "oversized",    "orphan"};
  return kFaults;
}

Result<Scenario> ParseScenario(const std::string& text, const std::string& path) {
  Parser parser(path);
  return parser.Parse(text);
}

Result<std::string> ExpandPlaceholders(const std::string& text,
                                       const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      out += c;  // "{{" or "}}"
      ++i;
    } else if (c == '}') {
      return Status::InvalidArgument("a lone '}' (write '}}' for a brace)");
    } else if (c == '{') {
      const size_t close = text.find('}', i);
      if (close == std::string::npos) {
        return Status::InvalidArgument("'{' without '}' (write '{{' for a brace)");
      }
      const std::string key = text.substr(i + 1, close - i - 1);
      auto it = values.find(key);
      if (it == values.end()) {
        std::string known;
        for (const char* name : kSystemPlaceholders) known += std::string(known.empty() ? "" : ", ") + "{" + name + "}";
        return Status::InvalidArgument("unknown placeholder {" + key + "} (known: " + known + ")");
      }
      out += it->second;
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

SystemSpec IngestdSystem(const TopologySpec& topology) {
  SystemSpec sys;
  sys.name = "ingestd";
  sys.command = {"{ingestd}",        "--name", "{name}", "--db", "{dir}/ingest.db",
                 "--http",           "127.0.0.1:{port}", "--nats", "{nats_urls}"};
  if (topology.kafka_brokers > 0) {
    sys.command.insert(sys.command.end(), {"--kafka", "{kafka_bootstrap}"});
  }
  if (topology.context) {  // the API tokens are in the config file, not on the command line
    sys.command.insert(sys.command.end(),
                       {"--downstream-crm", "{downstream_crm}", "--downstream-scheduling",
                        "{downstream_scheduling}", "--downstream-email", "{downstream_email}",
                        "--config", "{context_config}"});
  }
  for (const auto& [key, value] : topology.ingestd_settings) {
    // A setting's value is data, not a template: braces in it are literal.
    std::string escaped;
    for (char c : value) escaped += (c == '{' || c == '}') ? std::string(2, c) : std::string(1, c);
    sys.command.insert(sys.command.end(), {"--" + key, escaped});
  }
  sys.instances = topology.ingestd_count;
  sys.ready_http = "http://127.0.0.1:{port}/healthz";
  sys.stop_timeout_s = 15;  // SIGTERM drains: commit and ack what is in flight
  sys.state_ingestd = "{dir}/ingest.db";
  sys.metrics_http = "http://127.0.0.1:{port}/metrics";
  sys.create_streams = false;  // ingestd creates them, with the replicas it is told
  return sys;
}

uint64_t ServiceSeed(uint64_t scenario_seed, const ServiceSpec& service) {
  if (service.org == kDefaultOrg) return scenario_seed;
  uint32_t h = 2166136261u;  // FNV-1a of the organisation
  for (unsigned char c : service.org) h = (h ^ c) * 16777619u;
  return scenario_seed + 1'000'003ULL * (1 + h % 997);
}

std::vector<std::string> ServiceCustomerIds(uint64_t scenario_seed, const ServiceSpec& service) {
  const sim::CustomerPool pool(
      ServiceSeed(scenario_seed, service),
      service.customers > 0 ? service.customers : sim::GeneratorOptions{}.customer_pool_size);
  std::vector<std::string> ids;
  ids.reserve(pool.size());
  for (size_t i = 0; i < pool.size(); ++i) ids.push_back(pool.at(i).id);
  return ids;
}

SystemSpec Scenario::SystemUnderTest() const { return system ? *system : IngestdSystem(topology); }

Result<Scenario> LoadScenarioFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(path + ": cannot read scenario file");
  std::ostringstream text;
  text << in.rdbuf();
  auto s = ParseScenario(text.str(), path);
  if (s.ok()) {
    std::error_code ec;
    s->scenario_dir = std::filesystem::absolute(path, ec).parent_path().lexically_normal().string();
  }
  return s;
}

Result<std::vector<std::string>> ExpandScenarioPaths(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(p, ec)) {
        if (!entry.is_regular_file()) continue;
        const auto ext = entry.path().extension().string();
        if (ext == ".yaml" || ext == ".yml") found.push_back(entry.path().string());
      }
      if (ec) return Status::InvalidArgument(p + ": " + ec.message());
      std::sort(found.begin(), found.end());
      if (found.empty()) return Status::InvalidArgument(p + ": no *.yaml scenario files in folder");
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      return Status::InvalidArgument(p + ": no such scenario file or folder");
    }
  }
  return files;
}

}  // namespace ingestlab
