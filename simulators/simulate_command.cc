// `ingestlab simulate`: see simulate_command.h.
#include "simulators/simulate_command.h"

#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/cli.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/redact.h"
#include "common/version.h"
#include "simulators/event_log.h"
#include "simulators/faults.h"
#include "simulators/generators.h"
#include "simulators/kafka_publisher.h"
#include "simulators/load_shape.h"
#include "simulators/nats_publisher.h"
#include "simulators/simulation.h"

namespace ingestlab::sim {
namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void OnInterrupt(int) { g_interrupted.store(true); }

struct Args {
  std::string service;
  std::string nats = "nats://127.0.0.1:4222";
  NatsSecurity nats_security;  // --nats-credentials, --nats-tls-ca
  std::string kafka = "127.0.0.1:9092";
  double rate = 100;
  double duration = 0;
  bool duration_given = false;
  uint64_t count = 0;
  uint64_t seed = 1;
  FaultSpec faults;
  std::string shape = "constant";
  std::string log_path;
  std::string event_type;
  std::map<std::string, TransportKind> transports;
  std::string org = "org-1";
  int64_t start_ms = -1;
  double service_envelope = 0.1;
  double customer_dialect = 0.05;
  bool msg_id = true;
  bool print = false;
};

Result<double> ParseNumber(const std::string& flag, const std::string& v, double lo, double hi) {
  char* end = nullptr;
  const double d = v.empty() ? 0 : std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || !(d >= lo && d <= hi)) {
    return Status::InvalidArgument(flag + " must be a number in [" + std::to_string(lo) + ", " +
                                   std::to_string(hi) + "], got '" + v + "'");
  }
  return d;
}

// Digits only, and small enough for 64 bits (strtoull would saturate a larger one silently).
Result<uint64_t> ParseUnsigned(const std::string& flag, const std::string& v) {
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
    return Status::InvalidArgument(flag + " must be a non-negative integer below 2^64, got '" + v +
                                   "'");
  }
  return n;
}

// The options as given; converted and checked by ParseArgs.
struct RawArgs {
  std::vector<std::string> positional;
  std::optional<std::string> rate, duration, count, seed, faults, start_ms, service_envelope,
      customer_dialect;
  std::vector<std::string> transports;
  bool no_msg_id = false;
};

void AddOptions(CLI::App& app, Args* a, RawArgs* raw) {
  app.set_help_flag("-h,--help", "this text");
  // As before CLI11: a repeated option takes its last value.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.get_formatter()->column_width(23);
  app.add_option("SERVICE", raw->positional,
                 "billing, support, auth, learning, crm or all (with --event: optional)");
  app.add_option("--nats", a->nats,
                 "NATS server URLs, comma-separated (default nats://127.0.0.1:4222)")
      ->type_name("URLS");
  app.add_option("--nats-credentials", a->nats_security.credentials,
                 "NATS credentials file (ingestlab up --secure prints one; docs/ingestd.md)")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  app.add_option("--nats-tls-ca", a->nats_security.tls_ca,
                 "CA certificate (PEM) the NATS servers' certificates must chain to")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  app.add_option("--kafka", a->kafka, "Kafka bootstrap servers (default 127.0.0.1:9092)")
      ->type_name("BOOTSTRAP");
  app.add_option("--rate", raw->rate, "events per second per service (default 100)")
      ->type_name("R");
  app.add_option("--duration", raw->duration,
                 "how long to run: 10s, 500ms, 2m (default 10s unless --count is given)")
      ->type_name("D");
  app.add_option("--count", raw->count, "stop after N messages per service")->type_name("N");
  app.add_option("--seed", raw->seed, "seed of every choice (default 1)")->type_name("N");
  app.add_option("--faults", raw->faults,
                 "e.g. duplicate=0.02,malformed=0.01,poison=0.01,out_of_order=0.02,\n"
                 "schema_mix=0.1,oversized=0.001,unknown_customer=0.01 (default none)")
      ->type_name("SPEC");
  app.add_option("--shape", a->shape, "constant | poisson | ramp:FROM:TO[:D] | spike:PEAK:AT:LEN")
      ->type_name("SHAPE");
  app.add_option("--log", a->log_path,
                 "record every publish to an event log (JSON Lines; the acks go to\n"
                 "a sidecar beside it: x.log -> x.acks)")
      ->type_name("FILE");
  app.add_option("--event", a->event_type,
                 "publish one sample event of TYPE (e.g. billing.purchase.completed)")
      ->type_name("TYPE");
  app.add_option("--transport", raw->transports,
                 "transport of a service: jetstream, nats or kafka (repeatable;\n"
                 "default billing and crm on kafka, the others on jetstream)")
      ->type_name("SVC=T")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--org", a->org, "tenant id written into events (default org-1)")->type_name("ID");
  app.add_option("--start-ms", raw->start_ms, "virtual clock origin for event times (default: now)")
      ->type_name("MS");
  app.add_option("--service-envelope", raw->service_envelope,
                 "share of events in the service envelope (default 0.1)")
      ->type_name("P");
  app.add_option("--customer-dialect", raw->customer_dialect,
                 "share of mappable events in the customer-event dialect (default 0.05)")
      ->type_name("P");
  app.add_flag("--no-msg-id", raw->no_msg_id, "do not set Nats-Msg-Id on JetStream publishes");
  app.add_flag("--print", a->print, "print \"subject<TAB>payload\" lines instead of publishing");
}

// Converts and checks what CLI11 collected (numbers, faults, transports, the service).
Result<Args> ParseArgs(Args a, const RawArgs& raw) {
  a.msg_id = !raw.no_msg_id;
  if (raw.rate) {
    auto r = ParseNumber("--rate", *raw.rate, 0, 1e7);
    if (!r.ok()) return r.status();
    a.rate = r.value();
  }
  if (raw.duration) {
    auto d = ParseDurationSeconds(*raw.duration);
    if (!d.ok()) return d.status().Annotate("--duration");
    a.duration = d.value();
    a.duration_given = true;
  }
  if (raw.count) {
    auto n = ParseUnsigned("--count", *raw.count);
    if (!n.ok()) return n.status();
    a.count = n.value();
  }
  if (raw.seed) {
    auto n = ParseUnsigned("--seed", *raw.seed);
    if (!n.ok()) return n.status();
    a.seed = n.value();
  }
  if (raw.faults) {
    auto f = FaultSpec::Parse(*raw.faults);
    if (!f.ok()) return f.status();
    a.faults = f.value();
  }
  for (const std::string& s : raw.transports) {
    const size_t eq = s.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("--transport expects SERVICE=TRANSPORT, got '" + s + "'");
    }
    const std::string svc = s.substr(0, eq);
    if (!IsKnownService(svc))
      return Status::InvalidArgument("--transport: unknown service '" + svc + "'");
    auto t = ParseTransport(s.substr(eq + 1));
    if (!t.ok()) return t.status().Annotate("--transport");
    a.transports[svc] = t.value();
  }
  if (raw.start_ms) {
    auto n = ParseUnsigned("--start-ms", *raw.start_ms);
    if (!n.ok()) return n.status();
    a.start_ms = static_cast<int64_t>(n.value());
  }
  if (raw.service_envelope) {
    auto p = ParseNumber("--service-envelope", *raw.service_envelope, 0, 1);
    if (!p.ok()) return p.status();
    a.service_envelope = p.value();
  }
  if (raw.customer_dialect) {
    auto p = ParseNumber("--customer-dialect", *raw.customer_dialect, 0, 1);
    if (!p.ok()) return p.status();
    a.customer_dialect = p.value();
  }
  const std::vector<std::string>& positional = raw.positional;
  if (a.event_type.empty()) {
    if (positional.size() != 1) {
      return Status::InvalidArgument(positional.empty() ? "missing SERVICE (or all)"
                                                        : "expected one SERVICE, got " +
                                                              std::to_string(positional.size()));
    }
    a.service = positional[0];
    if (a.service != "all" && !IsKnownService(a.service)) {
      return Status::InvalidArgument("unknown service '" + a.service +
                                     "' (expected billing, support, auth, learning, crm or all)");
    }
  } else {
    const std::string svc = ServiceForType(a.event_type);
    if (svc.empty()) return Status::InvalidArgument("--event: unknown type '" + a.event_type + "'");
    if (!positional.empty() && positional[0] != svc && positional[0] != "all") {
      return Status::InvalidArgument("--event " + a.event_type + " belongs to service " + svc +
                                     ", not " + positional[0]);
    }
    a.service = svc;
  }
  if (!a.duration_given && a.count == 0) a.duration = 10;
  auto shape = LoadShape::Parse(a.shape, a.rate, a.duration);
  if (!shape.ok()) return shape.status();
  return a;
}

TransportKind DefaultTransport(const std::string& service) {
  return service == "billing" || service == "crm" ? TransportKind::kKafka
                                                  : TransportKind::kJetStream;
}

// One publisher per transport kind in use.
class Publishers {
 public:
  Status Open(const Args& a, const std::vector<std::pair<std::string, TransportKind>>& plan,
              std::FILE* out) {
    for (const auto& [svc, t] : plan) {
      if (by_kind_.count(t)) continue;
      if (a.print) {
        by_kind_[t] = std::make_unique<StreamPublisher>(out, t);
      } else if (t == TransportKind::kKafka) {
        KafkaPublisherOptions o;
        o.bootstrap = a.kafka;
        auto p = KafkaPublisher::Create(o);
        if (!p.ok()) return p.status();
        by_kind_[t] = std::move(p).value();
      } else {
        NatsPublisherOptions o;
        o.urls = a.nats;
        o.security = a.nats_security;
        o.jetstream = t == TransportKind::kJetStream;
        auto p = NatsPublisher::Connect(o);
        if (!p.ok()) return p.status();
        by_kind_[t] = std::move(p).value();
      }
    }
    return Status::Ok();
  }
  Publisher* get(TransportKind t) { return by_kind_.at(t).get(); }
  void CloseAll() {
    for (auto& [t, p] : by_kind_) p->Close();
  }

 private:
  std::map<TransportKind, std::unique_ptr<Publisher>> by_kind_;
};

void PrintStats(std::FILE* out, const std::string& name, const ServiceRunStats& s) {
  std::fprintf(out,
               "%-9s sent %llu, acked %llu, failed %llu, shortfall %llu, late %llu, "
               "publish latency p50 %.2f ms p99 %.2f ms, %.1f s",
               (name + ":").c_str(), static_cast<unsigned long long>(s.sent),
               static_cast<unsigned long long>(s.acked), static_cast<unsigned long long>(s.failed),
               static_cast<unsigned long long>(s.shortfall),
               static_cast<unsigned long long>(s.late), s.p50_ms, s.p99_ms, s.elapsed_seconds);
  std::string expected;
  for (const auto& [k, v] : s.expected) {
    expected += (expected.empty() ? "" : ", ") + k + "=" + std::to_string(v);
  }
  if (!expected.empty()) std::fprintf(out, " [expected: %s]", expected.c_str());
  std::fputc('\n', out);
}

}  // namespace

int RunSimulateCommand(int argc, char** argv) {
  return RunSimulateCommand(argc, argv, stdout, stderr);
}

int RunSimulateCommand(int argc, char** argv, std::FILE* out, std::FILE* err) {
  CLI::App app{
      "Runs seeded simulated services (billing, support, auth, learning, crm) against NATS "
      "JetStream\nand Kafka endpoints, with optional message-level faults, and prints a summary.",
      "ingestlab simulate"};
  SetUsageLine(app, "usage: ingestlab simulate SERVICE|all [options]");
  Args given;
  RawArgs raw;
  AddOptions(app, &given, &raw);
  if (auto exit_code = ParseCommandLine(app, "simulate", argc, argv, out, err)) return *exit_code;
  auto parsed = ParseArgs(std::move(given), raw);
  if (!parsed.ok()) return UsageError("simulate", parsed.status().message(), err);
  const Args& a = parsed.value();
  Clock& clock = Clock::System();
  const int64_t start_ms = a.start_ms >= 0 ? a.start_ms : clock.NowUnixMillis();

  std::vector<std::pair<std::string, TransportKind>> plan;
  const std::vector<std::string> services =
      a.service == "all" ? AllServices() : std::vector<std::string>{a.service};
  for (const auto& svc : services) {
    auto it = a.transports.find(svc);
    plan.emplace_back(svc, it != a.transports.end() ? it->second : DefaultTransport(svc));
  }

  Publishers publishers;
  if (Status st = publishers.Open(a, plan, out); !st.ok()) {
    std::fprintf(err, "ingestlab simulate: %s\n", st.message().c_str());
    return 1;
  }

  std::unique_ptr<EventLogWriter> log;
  if (!a.log_path.empty()) {
    EventLogHeader h;
    // A plain name (it names a replay's run directory): "simulate-billing",
    // "simulate-event-billing.purchase.completed".
    h.scenario = a.event_type.empty() ? "simulate-" + a.service : "simulate-event-" + a.event_type;
    h.seed = a.seed;
    h.ingestlab_version = kVersion;
    h.git_commit = kGitCommit;
    h.started_at_ms = clock.NowUnixMillis();
    h.epoch_ms = start_ms;
    h.topology = {{"nats", RedactUrlList(a.nats)},
                  {"kafka", RedactUrlList(a.kafka)},
                  {"faults", a.faults.ToString()},
                  {"shape", a.shape},
                  {"rate", a.rate}};
    for (const auto& [svc, t] : plan) h.topology["services"][svc] = TransportName(t);
    EventLogWriterOptions log_options;
    log_options.ordered = true;  // services interleave by scheduled time, not thread timing
    auto w = EventLogWriter::Create(a.log_path, h, log_options);
    if (!w.ok()) {
      std::fprintf(err, "ingestlab simulate: %s\n", w.status().message().c_str());
      publishers.CloseAll();
      return 1;
    }
    log = std::move(w).value();
  }

  auto stream_options = [&](const std::string& svc, TransportKind t) {
    StreamOptions o;
    o.service = svc;
    o.seed = a.seed;
    o.org_id = a.org;
    o.faults = a.faults;
    o.transport = t;
    o.service_envelope_share = a.service_envelope;
    o.customer_dialect_share = a.customer_dialect;
    o.nats_msg_id = a.msg_id;
    return o;
  };

  // --event TYPE: one sample, published and acknowledged (or not).
  if (!a.event_type.empty()) {
    const auto& [svc, t] = plan[0];
    auto stream = MessageStream::Create(stream_options(svc, t));
    if (!stream.ok()) {
      std::fprintf(err, "ingestlab simulate: %s\n", stream.status().message().c_str());
      publishers.CloseAll();
      return 2;
    }
    auto m = stream.value()->Sample(a.event_type, start_ms);
    if (!m.ok()) {
      std::fprintf(err, "ingestlab simulate: %s\n", m.status().message().c_str());
      publishers.CloseAll();
      return 2;
    }
    Publisher* p = publishers.get(t);
    std::atomic<bool> acked{false};
    std::string error;
    std::mutex mu;
    Status st =
        p->Publish(m->subject, m->key, m->headers, m->payload, [&](const PublishOutcome& o) {
          std::lock_guard<std::mutex> lock(mu);
          acked.store(o.acked);
          error = o.error;
        });
    if (st.ok()) st = p->Flush(std::chrono::milliseconds(10000));
    publishers.CloseAll();
    std::lock_guard<std::mutex> lock(mu);
    if (!st.ok() && error.empty()) error = st.ToString();
    if (log) {
      PublishRecord r;
      r.service = svc;
      r.seq = m->seq;
      r.type = m->type;
      r.event_id = m->event_id;
      r.transport = TransportName(t);
      r.subject = m->subject;
      r.key = m->key;
      for (const auto& [k, v] : m->headers) r.headers[k] = v;
      r.payload = m->payload;
      r.expected = m->expected;
      r.acked = acked.load();
      r.publish_error = error;
      log->Append(r);
    }
    if (!a.print) {
      std::fprintf(out, "%s %s on %s %s: %s\n", m->type.c_str(), m->event_id.c_str(),
                   TransportName(t), m->subject.c_str(),
                   acked.load() ? "acked" : ("not acked: " + error).c_str());
    }
    return acked.load() ? 0 : 1;
  }

  // Timed / counted runs: one thread per service.
  std::vector<std::unique_ptr<ServiceRun>> runs;
  for (const auto& [svc, t] : plan) {
    ServiceRunOptions o;
    o.stream = stream_options(svc, t);
    o.shape = LoadShape::Parse(a.shape, a.rate, a.duration).value();
    o.duration_seconds = a.duration_given || a.count == 0 ? a.duration : 0;
    o.count = a.count;
    o.start_unix_ms = start_ms;
    auto run = ServiceRun::Create(o, publishers.get(t), log.get(), &clock);
    if (!run.ok()) {
      std::fprintf(err, "ingestlab simulate: %s\n", run.status().message().c_str());
      publishers.CloseAll();
      return 2;
    }
    runs.push_back(std::move(run).value());
  }

  g_interrupted.store(false);
  auto old_int = std::signal(SIGINT, OnInterrupt);
  auto old_term = std::signal(SIGTERM, OnInterrupt);
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    while (!finished.load()) {
      if (g_interrupted.load()) {
        for (auto& r : runs) r->RequestStop();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  std::vector<Status> results(runs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < runs.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = runs[i]->Run(); });
  }
  for (auto& th : threads) th.join();
  finished.store(true);
  watcher.join();
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  publishers.CloseAll();  // anything still unacknowledged is failed (and logged) here
  if (log) log->Close();

  ServiceRunStats total;
  bool log_failed = false;
  FILE* summary = a.print ? err : out;
  for (size_t i = 0; i < runs.size(); ++i) {
    const ServiceRunStats s = runs[i]->stats();
    PrintStats(summary, runs[i]->service(), s);
    total.sent += s.sent;
    total.acked += s.acked;
    total.failed += s.failed;
    total.shortfall += s.shortfall;
    total.late += s.late;
    total.p50_ms = std::max(total.p50_ms, s.p50_ms);
    total.p99_ms = std::max(total.p99_ms, s.p99_ms);
    total.elapsed_seconds = std::max(total.elapsed_seconds, s.elapsed_seconds);
    for (const auto& [k, v] : s.expected) total.expected[k] += v;
    if (!results[i].ok()) {
      std::fprintf(err, "ingestlab simulate: %s\n", results[i].message().c_str());
      log_failed = true;
    }
  }
  if (runs.size() > 1) PrintStats(summary, "total", total);
  if (log_failed) return 1;
  return total.failed == 0 && total.acked == total.sent ? 0 : 1;
}

}  // namespace ingestlab::sim
