// IngestdConfig parsing: one table of settings, read from flags (tokenized by CLI11), environment
// and file.
// Thread-safety: pure functions.
#include "system/config.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "common/log.h"
#include "system/context_api.h"

namespace ingestlab {
namespace {

using Setter = Status (*)(IngestdConfig& c, const std::string& value);

struct Setting {
  const char* key;  // flag name without "--", file key, env name after INGEST_
  const char* arg;  // placeholder in --help
  const char* help;
  Setter set;
};

Status ExpectedGot(const char* what, const std::string& value) {
  return Status::InvalidArgument(std::string("expected ") + what + ", got \"" + value + "\"");
}

Status ParseInt(const std::string& v, int min, int* out) {
  const char* what = min > 0 ? "a positive integer" : "a non-negative integer";
  if (v.empty() || !(std::isdigit(static_cast<unsigned char>(v[0])) || v[0] == '-')) {
    return ExpectedGot(what, v);
  }
  errno = 0;
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || n < min || n > INT_MAX) return ExpectedGot(what, v);
  *out = static_cast<int>(n);
  return Status::Ok();
}

// "10s", "500ms", "2m" (a whole number and a unit) into milliseconds, at least 1.
Status ParseDurationMs(const std::string& v, int* out) {
  size_t digits = 0;
  while (digits < v.size() && std::isdigit(static_cast<unsigned char>(v[digits]))) ++digits;
  const std::string unit = v.substr(digits);
  const long long scale = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60'000 : 0;
  if (digits == 0 || digits > 9 || scale == 0) {
    return ExpectedGot("a duration such as 10s, 500ms or 2m", v);
  }
  const long long ms = std::stoll(v.substr(0, digits)) * scale;
  if (ms < 1 || ms > INT_MAX) return ExpectedGot("a duration from 1ms to 24 days", v);
  *out = static_cast<int>(ms);
  return Status::Ok();
}

Status ParseBool(const std::string& v, bool* out) {
  std::string s = v;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (s == "true" || s == "1" || s == "yes" || s == "on") {
    *out = true;
  } else if (s == "false" || s == "0" || s == "no" || s == "off") {
    *out = false;
  } else {
    return ExpectedGot("true or false", v);
  }
  return Status::Ok();
}

Status NonEmpty(const std::string& v, std::string* out) {
  if (v.empty()) return ExpectedGot("a non-empty value", v);
  *out = v;
  return Status::Ok();
}

// A file ingestd reads at start-up: checked now, so that a wrong path is one line naming the
// setting rather than a connection failure later.
Status ReadableFile(const std::string& v, std::string* out) {
  if (v.empty()) return ExpectedGot("a file", v);
  if (access(v.c_str(), R_OK) != 0) {
    return Status::InvalidArgument("cannot read \"" + v + "\": " + std::strerror(errno));
  }
  *out = v;
  return Status::Ok();
}

Status ParseKafkaProperty(const std::string& v, IngestdConfig& c) {
  const size_t eq = v.find('=');
  if (eq == std::string::npos || eq == 0) return ExpectedGot("KEY=VALUE", v);
  c.kafka_properties[v.substr(0, eq)] = v.substr(eq + 1);
  return Status::Ok();
}

#define INT_SETTING(field, min) \
  [](IngestdConfig& c, const std::string& v) { return ParseInt(v, min, &c.field); }
#define STRING_SETTING(field) \
  [](IngestdConfig& c, const std::string& v) { return NonEmpty(v, &c.field); }
#define FILE_SETTING(field) \
  [](IngestdConfig& c, const std::string& v) { return ReadableFile(v, &c.field); }

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> kSettings = {
      {"nats", "URLS", "NATS server URLs, comma-separated (nats://127.0.0.1:4222)",
       [](IngestdConfig& c, const std::string& v) {
         c.nats_urls = SplitList(v);
         if (c.nats_urls.empty()) return ExpectedGot("one or more URLs", v);
         return Status::Ok();
       }},
      {"nats-user", "USER", "NATS user, with --nats-password (a URL's user:password@ works too)",
       STRING_SETTING(nats_security.user)},
      {"nats-password", "PASSWORD",
       "NATS password; prefer INGEST_NATS_PASSWORD or the file, where a command line shows in ps",
       STRING_SETTING(nats_security.password)},
      {"nats-token", "TOKEN", "NATS authorization token; prefer the environment or the file",
       STRING_SETTING(nats_security.token)},
      {"nats-nkey-seed", "FILE",
       "file holding a NATS NKey user seed (SU...); the public key is derived from it",
       FILE_SETTING(nats_security.nkey_seed_file)},
      {"nats-credentials", "FILE",
       "NATS credentials: a .creds file (user JWT + seed), or key = value lines (user, "
       "password, token, nkey-seed, tls-ca, tls-cert, tls-key) as ingestlab up --secure writes",
       FILE_SETTING(nats_security.credentials)},
      {"nats-tls-ca", "FILE",
       "PEM CA certificate(s) the NATS servers' certificates must chain to; implies TLS",
       FILE_SETTING(nats_security.tls_ca)},
      {"nats-tls-cert", "FILE",
       "client certificate chain (PEM) for NATS servers that verify clients; with --nats-tls-key",
       FILE_SETTING(nats_security.tls_cert)},
      {"nats-tls-key", "FILE", "the client certificate's private key (PEM)",
       FILE_SETTING(nats_security.tls_key)},
      {"nats-tls", "true|false",
       "require TLS to NATS (tls:// URLs and --nats-tls-ca imply it) [false]",
       [](IngestdConfig& c, const std::string& v) { return ParseBool(v, &c.nats_security.tls); }},
      {"kafka", "BOOTSTRAP", "Kafka bootstrap servers, host:port,...",
       STRING_SETTING(kafka_bootstrap)},
      {"db", "PATH",
       "SQLite database file (created if missing), or postgres://USER@HOST:PORT/DB [ingest.db]",
       STRING_SETTING(db_path)},
      {"http", "HOST:PORT", "/healthz and /metrics listener; port 0 picks one [127.0.0.1:8080]",
       [](IngestdConfig& c, const std::string& v) {
         std::string host;
         int port = 0;
         INGEST_RETURN_IF_ERROR(ParseHostPort(v, &host, &port));
         c.http = v;
         return Status::Ok();
       }},
      {"http-port-file", "FILE", "write the bound HTTP port to FILE once listening",
       STRING_SETTING(http_port_file)},
      {"config", "FILE", "read settings from FILE (key = value lines)",
       STRING_SETTING(config_file)},
      {"batch-size", "N", "most messages per broker fetch/poll [1000]", INT_SETTING(batch_size, 1)},
      {"batch-wait-ms", "MS", "longest wait to fill a fetch [5]", INT_SETTING(batch_wait_ms, 1)},
      {"max-txn-messages", "N", "most messages per SQLite transaction [4000]",
       INT_SETTING(max_txn_messages, 1)},
      {"queue-messages", "N", "messages queued for the writer before backpressure [50000]",
       INT_SETTING(queue_messages, 1)},
      {"queue-bytes", "N",
       "message bytes queued for or being applied by the writer before backpressure [268435456]",
       INT_SETTING(queue_bytes, 1 << 20)},
      {"max-attempts", "N",
       "failures of a message's own (a missing dependency, a handler rejecting it) before "
       "dead-letter max_deliveries; crashes in flight before 'crash' [5]",
       INT_SETTING(max_attempts, 1)},
      {"dependency-wait-ms", "MS",
       "a message waiting for an event it depends on is dead-lettered max_deliveries only after "
       "max-attempts failures AND this long since its first [30000]",
       INT_SETTING(dependency_wait_ms, 0)},
      {"ack-wait", "DURATION",
       "JetStream AckWait (10s, 500ms, 2m): an unacked message is redelivered after it [10s]",
       [](IngestdConfig& c, const std::string& v) { return ParseDurationMs(v, &c.ack_wait_ms); }},
      {"ack-wait-ms", "MS", "the same as --ack-wait, in milliseconds [10000]",
       INT_SETTING(ack_wait_ms, 1)},
      {"retry-base-ms", "MS", "retry backoff base: base*2^(attempts-1), ±20% [100]",
       INT_SETTING(retry_base_ms, 1)},
      {"retry-max-ms", "MS", "retry backoff cap [5000]", INT_SETTING(retry_max_ms, 1)},
      {"max-payload-bytes", "N", "larger messages are dead-lettered parse [1048576]",
       INT_SETTING(max_payload_bytes, 1)},
      {"dlq-max-payload-bytes", "N",
       "dead letters are published to the DLQ cut to N bytes (the table keeps all) [524288]",
       INT_SETTING(dlq_max_payload_bytes, 1)},
      {"busy-timeout-ms", "MS",
       "SQLite wait for the write lock; PostgreSQL waits for a lock max(this, 2000) [200]",
       INT_SETTING(busy_timeout_ms, 0)},
      {"synchronous", "full|normal",
       "SQLite synchronous: full fsyncs each commit, so acked data survives a power loss; "
       "normal survives a crash of ingestd only [full]",
       [](IngestdConfig& c, const std::string& v) {
         if (v != "full" && v != "normal") return ExpectedGot("full or normal", v);
         c.synchronous = v;
         return Status::Ok();
       }},
      {"summary-threshold", "N", "descriptions longer than N chars get a summary [500]",
       INT_SETTING(summary_threshold, 0)},
      {"auto-create-customers", "true|false", "events for unknown customers create them [true]",
       [](IngestdConfig& c, const std::string& v) {
         return ParseBool(v, &c.auto_create_customers);
       }},
      {"group-id", "ID", "Kafka consumer group [ingestd]", STRING_SETTING(group_id)},
      {"durable", "PREFIX", "JetStream durable consumer prefix [ingestd]", STRING_SETTING(durable)},
      {"streams", "LIST", "JetStream streams to consume [all but DLQ]",
       [](IngestdConfig& c, const std::string& v) {
         c.streams = SplitList(v);
         return Status::Ok();
       }},
      {"topics", "LIST",
       "Kafka topics to consume [billing.events,crm.leads,crm.contacts,"
       "crm.opportunities]",
       [](IngestdConfig& c, const std::string& v) {
         c.topics = SplitList(v);
         return Status::Ok();
       }},
      {"schemas", "DIR", "load event schemas from DIR instead of the built-in ones",
       STRING_SETTING(schemas_dir)},
      {"log-level", "LEVEL", "debug | info | warn | error [info]",
       [](IngestdConfig& c, const std::string& v) {
         LogLevel level;
         if (!ParseLogLevel(v, &level)) return ExpectedGot("debug, info, warn or error", v);
         c.log_level = v;
         return Status::Ok();
       }},
      {"name", "NAME", "prefix of every log line [ingestd]", STRING_SETTING(name)},
      {"kafka-property", "KEY=VALUE", "librdkafka property, repeatable (file: kafka.KEY = VALUE)",
       [](IngestdConfig& c, const std::string& v) { return ParseKafkaProperty(v, c); }},
      {"downstream-crm", "URL", "the CRM service of the context API (http://host:port)",
       STRING_SETTING(downstream_crm)},
      {"downstream-scheduling", "URL", "the scheduling service of the context API",
       STRING_SETTING(downstream_scheduling)},
      {"downstream-email", "URL", "the email service of the context API",
       STRING_SETTING(downstream_email)},
      {"downstream-timeout-ms", "MS", "longest wait for one downstream call [200]",
       INT_SETTING(downstream_timeout_ms, 1)},
      {"breaker-failures", "N", "failed downstream calls that open its breaker [5]",
       INT_SETTING(breaker_failures, 1)},
      {"breaker-window-ms", "MS", "window those failures are counted in [10000]",
       INT_SETTING(breaker_window_ms, 1)},
      {"breaker-open-ms", "MS", "how long a breaker stays open before its probe [5000]",
       INT_SETTING(breaker_open_ms, 1)},
      {"context-cache-ttl-ms", "MS", "how long a downstream answer is served from cache [30000]",
       INT_SETTING(context_cache_ttl_ms, 0)},
      {"api-token", "ORG=TOKEN",
       "bearer token of organisation ORG for the context API, repeatable; prefer the file, "
       "where a command line shows in ps (file: api-token.ORG = TOKEN)",
       [](IngestdConfig& c, const std::string& v) {
         const size_t eq = v.find('=');
         if (eq == std::string::npos) {
           return Status::InvalidArgument("expected ORG=TOKEN (the value is not shown)");
         }
         return AddApiToken(v.substr(0, eq), v.substr(eq + 1), &c.api_tokens);
       }},
  };
  return kSettings;
}

#undef INT_SETTING
#undef STRING_SETTING
#undef FILE_SETTING

const Setting* FindSetting(const std::string& key) {
  for (const Setting& s : Settings()) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

std::string EnvName(const std::string& key) {
  std::string out = "INGEST_";
  for (char ch : key) out += ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
  return out;
}

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// One value from one place; applied in order file, env, flags.
struct Assignment {
  const Setting* setting;
  std::string value;
  std::string where;  // "--batch-size", "INGEST_BATCH_SIZE", "ingestd.conf:3: batch-size"
};

Status Apply(IngestdConfig& config, const std::vector<Assignment>& assignments) {
  for (const Assignment& a : assignments) {
    const Status st = a.setting->set(config, a.value);
    if (!st.ok()) return st.Annotate(a.where);
  }
  return Status::Ok();
}

// The file is read here rather than by CLI11's config support, which does not fit it: CLI11
// applies its file before the environment (here the environment wins), reads `kafka.KEY` lines
// as a section, knows no `batch_size` spelling of --batch-size, and its errors name no line.
Status ReadConfigFile(const std::string& path, std::vector<Assignment>* out) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument("--config: cannot read \"" + path + "\"");
  static const Setting kKafkaPassThrough = {
      "kafka.*", "", "",
      [](IngestdConfig& c, const std::string& v) { return ParseKafkaProperty(v, c); }};
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    line = Trim(line);
    if (line.empty()) continue;
    const std::string where = path + ":" + std::to_string(line_no);
    const size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument(where + ": expected key = value, got \"" + line + "\"");
    }
    std::string key = Trim(line.substr(0, eq));
    const std::string value = Trim(line.substr(eq + 1));
    if (key.rfind("kafka.", 0) == 0 && key.size() > 6) {
      out->push_back({&kKafkaPassThrough, key.substr(6) + "=" + value, where + ": " + key});
      continue;
    }
    if (key.rfind("api-token.", 0) == 0 || key.rfind("api_token.", 0) == 0) {
      out->push_back({FindSetting("api-token"), key.substr(10) + "=" + value,
                      where + ": " + key.substr(0, 9)});
      continue;
    }
    std::replace(key.begin(), key.end(), '_', '-');
    const Setting* s = FindSetting(key);
    if (s == nullptr || key == "config" || key == "kafka-property" || key == "api-token") {
      return Status::InvalidArgument(where + ": unknown key \"" + key + "\"");
    }
    out->push_back({s, value, where + ": " + key});
  }
  return Status::Ok();
}

// The command line, tokenized by CLI11: one option per setting, built from the table, each
// occurrence kept in order (so `--ack-wait 2s --ack-wait-ms 1500` means 1500, and
// --kafka-property repeats). The values are checked by the table's own setters afterwards, so a
// bad value reads the same from a flag, the environment or the file.
Status ParseFlags(int argc, const char* const* argv, ParsedConfig* parsed,
                  std::vector<Assignment>* flags) {
  CLI::App app{"ingestd", "ingestd"};
  app.set_help_flag("-h,--help");
  app.allow_extras();  // reported below, in ingestd's own words
  CLI::Option* version = app.add_flag("--version");
  std::map<const CLI::Option*, const Setting*> setting_of;
  for (const Setting& s : Settings()) {
    CLI::Option* opt = app.add_option(std::string("--") + s.key, s.help)
                           ->type_name(s.arg)
                           ->expected(1)
                           ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    setting_of[opt] = &s;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    parsed->action = ConfigAction::kHelp;
    return Status::Ok();
  } catch (const CLI::ArgumentMismatch& e) {  // "--db: 1 required PATH missing"
    const std::string what = e.what();
    return Status::InvalidArgument(what.substr(0, what.find(':')) + ": missing value");
  } catch (const CLI::ParseError& e) {
    return Status::InvalidArgument(std::string(e.what()) + " (see --help)");
  }
  if (version->count() > 0) {
    parsed->action = ConfigAction::kVersion;
    return Status::Ok();
  }
  const std::vector<std::string> extras = app.remaining();
  if (!extras.empty()) {
    const std::string& first = extras.front();
    if (first.rfind("--", 0) != 0) {
      return Status::InvalidArgument("unexpected argument \"" + first + "\" (see --help)");
    }
    return Status::InvalidArgument("unknown flag " + first.substr(0, first.find('=')) +
                                   " (see --help)");
  }
  std::map<const CLI::Option*, size_t> taken;  // occurrences of each option consumed so far
  for (const CLI::Option* opt : app.parse_order()) {
    auto it = setting_of.find(opt);
    if (it == setting_of.end()) continue;
    flags->push_back({it->second, opt->results().at(taken[opt]++), opt->get_name()});
  }
  return Status::Ok();
}

}  // namespace

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = Trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Status ParseHostPort(const std::string& s, std::string* host, int* port) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) {
    return ExpectedGot("HOST:PORT", s);
  }
  std::string h = s.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int p = 0;
  if (!ParseInt(s.substr(colon + 1), 0, &p).ok() || p > 65535) {
    return ExpectedGot("HOST:PORT with a port from 0 to 65535", s);
  }
  *host = h;
  *port = p;
  return Status::Ok();
}

Result<ParsedConfig> ParseIngestdConfig(int argc, const char* const* argv, const EnvLookup& env) {
  ParsedConfig parsed;
  std::vector<Assignment> flags;
  INGEST_RETURN_IF_ERROR(ParseFlags(argc, argv, &parsed, &flags));
  if (parsed.action != ConfigAction::kRun) return parsed;

  const EnvLookup getenv_default = [](const char* name) { return std::getenv(name); };
  const EnvLookup& lookup = env ? env : getenv_default;
  std::vector<Assignment> from_env;
  for (const Setting& s : Settings()) {
    if (std::string(s.key) == "kafka-property") continue;
    const std::string name = EnvName(s.key);
    if (const char* v = lookup(name.c_str())) from_env.push_back({&s, v, name});
  }

  // The config file is named by the flag, else the environment.
  std::string config_file;
  for (const auto* list : {&from_env, &flags}) {
    for (const Assignment& a : *list) {
      if (std::string(a.setting->key) == "config") config_file = a.value;
    }
  }
  std::vector<Assignment> from_file;
  if (!config_file.empty()) INGEST_RETURN_IF_ERROR(ReadConfigFile(config_file, &from_file));

  INGEST_RETURN_IF_ERROR(Apply(parsed.config, from_file));
  INGEST_RETURN_IF_ERROR(Apply(parsed.config, from_env));
  INGEST_RETURN_IF_ERROR(Apply(parsed.config, flags));

  if (parsed.config.nats_urls.empty() && parsed.config.kafka_bootstrap.empty()) {
    return Status::InvalidArgument(
        "no transport: give --nats URLS and/or --kafka BOOTSTRAP (or INGEST_NATS / INGEST_KAFKA)");
  }
  return parsed;
}

std::string IngestdUsage() {
  std::ostringstream os;
  os << "usage: ingestd [--nats URLS] [--kafka BOOTSTRAP] [--db PATH] [--http HOST:PORT]\n"
        "               [--config FILE] [settings...]\n\n"
        "Consumes events from NATS JetStream and/or Kafka and folds them idempotently into\n"
        "SQLite or PostgreSQL. Serves GET /healthz (JSON) and GET /metrics (Prometheus) on "
        "--http.\n"
        "At least one of --nats and --kafka is required.\n\n"
        "Every setting is also an environment variable (INGEST_ + upper-case name, '-' -> '_')\n"
        "and a config file key (`name = value`, '#' comments). Flags win over the environment,\n"
        "the environment over the file. Defaults in [brackets].\n\n";
  for (const Setting& s : Settings()) {
    std::string left = std::string("  --") + s.key + " " + s.arg;
    if (left.size() < 34)
      left.resize(34, ' ');
    else
      left += "\n" + std::string(34, ' ');
    os << left << s.help << "\n";
  }
  os << "  --help                          this text\n"
        "  --version                       print the version and exit\n\n"
        "Signals: SIGTERM/SIGINT stop fetching, commit and ack what is in flight, exit 0;\n"
        "a second signal exits at once with status 1.\n";
  return os.str();
}

}  // namespace ingestlab
