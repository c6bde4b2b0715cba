// Specification of ingestd's configuration (system/config.h): flags win over INGEST_* env vars,
// env over the config file, the file over defaults; every bad value and unknown key is a one-line
// error naming it.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <map>
#include <string>
#include <vector>

#include "system/config.h"

using namespace ingestlab;

namespace {

struct Env {
  std::map<std::string, std::string> vars;
  EnvLookup lookup() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

Result<ParsedConfig> Parse(std::vector<std::string> args, const Env& env = {}) {
  std::vector<const char*> argv = {"ingestd"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseIngestdConfig(static_cast<int>(argv.size()), argv.data(), env.lookup());
}

std::string Error(std::vector<std::string> args, const Env& env = {}) {
  auto r = Parse(std::move(args), env);
  if (r.ok()) return "(no error)";
  CHECK(r.status().code() == Status::Code::kInvalidArgument);
  return r.status().message();
}

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    static int counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("ingestd_config_test_" + std::to_string(::getpid()) + "_" +
              std::to_string(counter++) + ".conf"))
                .string();
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

TEST_CASE("defaults apply when only a transport is given") {
  auto r = Parse({"--nats", "nats://127.0.0.1:4222"});
  REQUIRE(r.ok());
  const IngestdConfig& c = r->config;
  CHECK(r->action == ConfigAction::kRun);
  CHECK(c.nats_urls == std::vector<std::string>{"nats://127.0.0.1:4222"});
  CHECK(c.kafka_bootstrap.empty());
  CHECK(c.db_path == "ingest.db");
  CHECK(c.http == "127.0.0.1:8080");
  CHECK(c.max_attempts == 5);
  CHECK(c.synchronous == "full");
  CHECK(c.auto_create_customers);
  CHECK(c.log_level == "info");
  CHECK(c.dlq_max_payload_bytes == 512 * 1024);
}

TEST_CASE("every setting can be given as a flag") {
  auto r = Parse({"--nats",
                  "nats://a:1, nats://b:2",
                  "--kafka=127.0.0.1:9092",
                  "--db",
                  "/tmp/x.db",
                  "--http",
                  "127.0.0.1:0",
                  "--http-port-file",
                  "/tmp/port",
                  "--batch-size",
                  "50",
                  "--batch-wait-ms",
                  "1",
                  "--max-txn-messages",
                  "900",
                  "--queue-messages",
                  "7000",
                  "--max-attempts",
                  "3",
                  "--retry-base-ms",
                  "20",
                  "--retry-max-ms",
                  "900",
                  "--max-payload-bytes",
                  "4096",
                  "--dlq-max-payload-bytes",
                  "2048",
                  "--busy-timeout-ms",
                  "10",
                  "--synchronous",
                  "normal",
                  "--summary-threshold",
                  "80",
                  "--auto-create-customers",
                  "false",
                  "--group-id",
                  "g1",
                  "--durable",
                  "d1",
                  "--streams",
                  "BILLING,AUTH",
                  "--topics",
                  "crm.leads",
                  "--schemas",
                  "/s",
                  "--log-level",
                  "debug",
                  "--name",
                  "ingestd[2]",
                  "--kafka-property",
                  "socket.timeout.ms=1000"});
  REQUIRE(r.ok());
  const IngestdConfig& c = r->config;
  CHECK(c.nats_urls == std::vector<std::string>{"nats://a:1", "nats://b:2"});
  CHECK(c.kafka_bootstrap == "127.0.0.1:9092");
  CHECK(c.db_path == "/tmp/x.db");
  CHECK(c.http == "127.0.0.1:0");
  CHECK(c.http_port_file == "/tmp/port");
  CHECK(c.batch_size == 50);
  CHECK(c.batch_wait_ms == 1);
  CHECK(c.max_txn_messages == 900);
  CHECK(c.queue_messages == 7000);
  CHECK(c.max_attempts == 3);
  CHECK(c.synchronous == "normal");
  CHECK(c.retry_base_ms == 20);
  CHECK(c.retry_max_ms == 900);
  CHECK(c.max_payload_bytes == 4096);
  CHECK(c.dlq_max_payload_bytes == 2048);
  CHECK(c.busy_timeout_ms == 10);
  CHECK(c.summary_threshold == 80);
  CHECK_FALSE(c.auto_create_customers);
  CHECK(c.group_id == "g1");
  CHECK(c.durable == "d1");
  CHECK(c.streams == std::vector<std::string>{"BILLING", "AUTH"});
  CHECK(c.topics == std::vector<std::string>{"crm.leads"});
  CHECK(c.schemas_dir == "/s");
  CHECK(c.log_level == "debug");
  CHECK(c.name == "ingestd[2]");
  CHECK(c.kafka_properties == std::map<std::string, std::string>{{"socket.timeout.ms", "1000"}});
}

TEST_CASE("precedence: flags over environment over config file over defaults") {
  TempFile file(
      "# ingestd settings\n"
      "nats = nats://file:4222\n"
      "db = /file.db\n"
      "batch_size = 11   # underscores work too\n"
      "max-attempts = 9\n"
      "dlq-max-payload-bytes = 1000\n"
      "kafka.client.id = from-file\n"
      "kafka.socket.timeout.ms = 1\n"
      "\n");
  Env env;
  env.vars = {{"INGEST_CONFIG", file.path()},
              {"INGEST_DB", "/env.db"},
              {"INGEST_BATCH_SIZE", "22"},
              {"INGEST_HTTP", "127.0.0.1:9000"}};

  SECTION("the DLQ payload cut-off comes from the file, or the environment over it") {
    auto from_file = Parse({}, env);
    REQUIRE(from_file.ok());
    CHECK(from_file->config.dlq_max_payload_bytes == 1000);
    env.vars["INGEST_DLQ_MAX_PAYLOAD_BYTES"] = "3000";
    auto from_env = Parse({}, env);
    REQUIRE(from_env.ok());
    CHECK(from_env->config.dlq_max_payload_bytes == 3000);
  }

  SECTION("the file fills what nothing else sets") {
    auto r = Parse({}, env);
    REQUIRE(r.ok());
    CHECK(r->config.nats_urls == std::vector<std::string>{"nats://file:4222"});
    CHECK(r->config.max_attempts == 9);
    CHECK(r->config.kafka_properties.at("client.id") == "from-file");
  }
  SECTION("the environment wins over the file") {
    auto r = Parse({}, env);
    REQUIRE(r.ok());
    CHECK(r->config.db_path == "/env.db");
    CHECK(r->config.batch_size == 22);
    CHECK(r->config.http == "127.0.0.1:9000");
  }
  SECTION("flags win over both") {
    auto r = Parse(
        {"--db", "/flag.db", "--batch-size", "33", "--kafka-property", "socket.timeout.ms=5"}, env);
    REQUIRE(r.ok());
    CHECK(r->config.db_path == "/flag.db");
    CHECK(r->config.batch_size == 33);
    CHECK(r->config.http == "127.0.0.1:9000");
    CHECK(r->config.kafka_properties.at("socket.timeout.ms") == "5");
    CHECK(r->config.kafka_properties.at("client.id") == "from-file");
  }
  SECTION("--config on the command line beats INGEST_CONFIG") {
    TempFile other("nats = nats://other:4222\n");
    auto r = Parse({"--config", other.path()}, env);
    REQUIRE(r.ok());
    CHECK(r->config.nats_urls == std::vector<std::string>{"nats://other:4222"});
    CHECK(r->config.max_attempts == 5);
  }
}

TEST_CASE("bad values are one-line errors naming the setting and the value") {
  const std::vector<std::string> nats = {"--nats", "nats://127.0.0.1:4222"};
  auto with = [&](std::vector<std::string> extra) {
    auto args = nats;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  CHECK(Error(with({"--batch-size", "abc"})) ==
        "--batch-size: expected a positive integer, got \"abc\"");
  CHECK(Error(with({"--batch-size", "0"})) ==
        "--batch-size: expected a positive integer, got \"0\"");
  CHECK(Error(with({"--max-attempts", "-1"})) ==
        "--max-attempts: expected a positive integer, got \"-1\"");
  CHECK(Error(with({"--synchronous", "off"})) ==
        "--synchronous: expected full or normal, got \"off\"");
  CHECK(Error(with({"--batch-wait-ms", "5ms"})) ==
        "--batch-wait-ms: expected a positive integer, got \"5ms\"");
  CHECK(Error(with({"--busy-timeout-ms", "-5"})) ==
        "--busy-timeout-ms: expected a non-negative integer, got \"-5\"");
  CHECK(Error(with({"--queue-messages", "99999999999"})) ==
        "--queue-messages: expected a positive integer, got \"99999999999\"");
  CHECK(Error(with({"--auto-create-customers", "maybe"})) ==
        "--auto-create-customers: expected true or false, got \"maybe\"");
  CHECK(Error(with({"--http", "localhost"})) == "--http: expected HOST:PORT, got \"localhost\"");
  CHECK(Error(with({"--http", "127.0.0.1:70000"})) ==
        "--http: expected HOST:PORT with a port from 0 to 65535, got \"127.0.0.1:70000\"");
  CHECK(Error(with({"--log-level", "loud"})) ==
        "--log-level: expected debug, info, warn or error, got \"loud\"");
  CHECK(Error(with({"--kafka-property", "novalue"})) ==
        "--kafka-property: expected KEY=VALUE, got \"novalue\"");
  CHECK(Error(with({"--db", ""})) == "--db: expected a non-empty value, got \"\"");
  CHECK(Error(with({"--db"})) == "--db: missing value");

  SECTION("in the environment, the variable is named") {
    Env env;
    env.vars = {{"INGEST_NATS", "nats://x:1"}, {"INGEST_RETRY_BASE_MS", "soon"}};
    CHECK(Error({}, env) == "INGEST_RETRY_BASE_MS: expected a positive integer, got \"soon\"");
  }
  SECTION("in the file, the file, line and key are named") {
    TempFile file("nats = nats://x:1\n\nmax_attempts = lots\n");
    CHECK(Error({"--config", file.path()}) ==
          file.path() + ":3: max-attempts: expected a positive integer, got \"lots\"");
  }
}

TEST_CASE("unknown keys, stray arguments and missing transports are rejected") {
  CHECK(Error({"--nats", "nats://x:1", "--batchsize", "5"}) ==
        "unknown flag --batchsize (see --help)");
  CHECK(Error({"--nats", "nats://x:1", "extra"}) == "unexpected argument \"extra\" (see --help)");
  CHECK(Error({"--db", "/tmp/x.db"}).find("no transport") == 0);
  TempFile unknown("nats = nats://x:1\nspeed = fast\n");
  CHECK(Error({"--config", unknown.path()}) == unknown.path() + ":2: unknown key \"speed\"");
  TempFile no_equals("nats nats://x:1\n");
  CHECK(Error({"--config", no_equals.path()}) ==
        no_equals.path() + ":1: expected key = value, got \"nats nats://x:1\"");
  CHECK(Error({"--config", "/nonexistent/ingestd.conf"}) ==
        "--config: cannot read \"/nonexistent/ingestd.conf\"");
}

TEST_CASE("--help and --version need no transport") {
  auto help = Parse({"--help"});
  REQUIRE(help.ok());
  CHECK(help->action == ConfigAction::kHelp);
  auto version = Parse({"--version"});
  REQUIRE(version.ok());
  CHECK(version->action == ConfigAction::kVersion);
  const std::string usage = IngestdUsage();
  for (const char* flag : {"--nats", "--kafka", "--db", "--http", "--config", "--batch-size",
                           "--max-attempts", "--kafka-property", "--durable", "--group-id",
                           "--synchronous", "--ack-wait", "--ack-wait-ms"}) {
    CHECK(usage.find(flag) != std::string::npos);
  }
}

TEST_CASE("--ack-wait takes a duration, as CONTRACT.md names it; --ack-wait-ms stays") {
  auto parsed = Parse({"--nats", "nats://127.0.0.1:4222", "--ack-wait", "2s"});
  REQUIRE(parsed.ok());
  CHECK(parsed->config.ack_wait_ms == 2000);
  auto ms = Parse({"--nats", "nats://127.0.0.1:4222", "--ack-wait", "750ms"});
  REQUIRE(ms.ok());
  CHECK(ms->config.ack_wait_ms == 750);
  auto minutes = Parse({"--nats", "nats://127.0.0.1:4222", "--ack-wait", "1m"});
  REQUIRE(minutes.ok());
  CHECK(minutes->config.ack_wait_ms == 60000);
  auto legacy = Parse({"--nats", "nats://127.0.0.1:4222", "--ack-wait-ms", "1500"});
  REQUIRE(legacy.ok());
  CHECK(legacy->config.ack_wait_ms == 1500);
  for (const char* bad : {"10", "s", "-5s", "1.5s", "0ms", "99999999999s", "10 s"}) {
    INFO(bad);
    auto r = Parse({"--nats", "nats://127.0.0.1:4222", "--ack-wait", bad});
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.status().message(), Catch::Contains("duration"));
  }
}

// Every default the help text ([brackets]) and docs/ingestd.md (its settings table) state is the
// compiled-in one: applying it changes nothing. One source of truth, the others checked.
TEST_CASE("the defaults in --help and docs/ingestd.md are the compiled-in defaults") {
  const auto base = Parse({"--nats", "nats://127.0.0.1:4222"});
  REQUIRE(base.ok());
  std::map<std::string, std::string> stated;  // key -> default, from both sources
  int from_help = 0, from_docs = 0;
  {
    std::istringstream usage(IngestdUsage());
    for (std::string line; std::getline(usage, line);) {
      if (line.rfind("  --", 0) != 0) continue;  // a setting's line
      const size_t dash = 2;
      const size_t open = line.rfind('[');
      const size_t close = line.rfind(']');
      if (open == std::string::npos || close == std::string::npos || close < open) continue;
      const std::string key = line.substr(dash + 2, line.find(' ', dash) - dash - 2);
      stated["help " + key] = line.substr(open + 1, close - open - 1);
      ++from_help;
    }
  }
  {
    std::ifstream docs(std::string(INGESTLAB_SOURCE_DIR) + "/docs/ingestd.md");
    for (std::string line; std::getline(docs, line);) {
      // | `--key ARG` ... | `default` | meaning |
      if (line.rfind("| `--", 0) != 0) continue;
      const size_t key_end = line.find_first_of(" `", 5);
      const std::string key = line.substr(5, key_end - 5);
      const size_t cell = line.find("| `", line.find('|', 1));
      if (cell == std::string::npos || cell > line.find('|', line.find('|', 1) + 1)) continue;
      const size_t end = line.find('`', cell + 3);
      stated["docs " + key] = line.substr(cell + 3, end - cell - 3);
      ++from_docs;
    }
  }
  CHECK(from_help >= 15);
  CHECK(from_docs >= 15);
  for (const auto& [where, value] : stated) {
    const std::string key = where.substr(where.find(' ') + 1);
    // Empty means "the default four topics": stating them sets the same list explicitly.
    if (key == "topics") continue;
    if (value.find(' ') != std::string::npos) continue;  // a description ("all but DLQ")
    INFO(where << " states the default '" << value << "'");
    auto applied = Parse({"--nats", "nats://127.0.0.1:4222", "--" + key, value});
    REQUIRE(applied.ok());
    CHECK(applied->config == base->config);
  }
}
