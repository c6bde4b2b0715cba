// Specification of ingestd's configuration (system/config.h): flags win over INGEST_* env vars,
// env over the config file, the file over defaults; every bad value and unknown key is a one-line
// error naming it.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "system/config.h"

using namespace ingestlab;

namespace {

using Args = std::vector<std::string>;
using Vars = std::map<std::string, std::string>;

EnvLookup LookupIn(const Vars& vars) {
  return [&vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

Result<ParsedConfig> Parse(const Args& args, const Vars& env = {}) {
  std::vector<const char*> argv = {"ingestd"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseIngestdConfig(static_cast<int>(argv.size()), argv.data(), LookupIn(env));
}

// The configuration args and env give; the test stops if they are refused.
IngestdConfig Config(const Args& args, const Vars& env = {}) {
  auto r = Parse(args, env);
  INFO((r.ok() ? std::string() : r.status().message()));
  REQUIRE(r.ok());
  CHECK(r->action == ConfigAction::kRun);
  return r->config;
}

// The same with a NATS transport in front, for tests about any other setting.
IngestdConfig WithNats(const Args& args) {
  Args all = {"--nats", "nats://127.0.0.1:4222"};
  all.insert(all.end(), args.begin(), args.end());
  return Config(all);
}

std::string Error(const Args& args, const Vars& env = {}) {
  auto r = Parse(args, env);
  if (r.ok()) return "(no error)";
  CHECK(r.status().code() == Status::Code::kInvalidArgument);
  return r.status().message();
}

std::string ErrorWithNats(const Args& args) {
  Args all = {"--nats", "nats://127.0.0.1:4222"};
  all.insert(all.end(), args.begin(), args.end());
  return Error(all);
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
  const IngestdConfig c = Config({"--nats", "nats://127.0.0.1:4222"});
  IngestdConfig expected;
  expected.nats_urls = {"nats://127.0.0.1:4222"};
  CHECK(c == expected);
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
  // One flag and its value a line.
  // clang-format off
  const IngestdConfig c = Config({
      "--nats", "nats://a:1, nats://b:2",
      "--kafka=127.0.0.1:9092",  // --key=value as well as --key value
      "--db", "/tmp/x.db",
      "--http", "127.0.0.1:0",
      "--http-port-file", "/tmp/port",
      "--batch-size", "50",
      "--batch-wait-ms", "1",
      "--max-txn-messages", "900",
      "--queue-messages", "7000",
      "--queue-bytes", "2097152",
      "--max-attempts", "3",
      "--dependency-wait-ms", "0",
      "--ack-wait", "3s",
      "--retry-base-ms", "20",
      "--retry-max-ms", "900",
      "--max-payload-bytes", "4096",
      "--dlq-max-payload-bytes", "2048",
      "--busy-timeout-ms", "10",
      "--synchronous", "normal",
      "--summary-threshold", "80",
      "--auto-create-customers", "false",
      "--group-id", "g1",
      "--durable", "d1",
      "--streams", "BILLING,AUTH",
      "--topics", "crm.leads",
      "--schemas", "/s",
      "--log-level", "debug",
      "--name", "ingestd[2]",
      "--kafka-property", "socket.timeout.ms=1000",
  });
  // clang-format on
  IngestdConfig e;
  e.nats_urls = {"nats://a:1", "nats://b:2"};
  e.kafka_bootstrap = "127.0.0.1:9092";
  e.db_path = "/tmp/x.db";
  e.http = "127.0.0.1:0";
  e.http_port_file = "/tmp/port";
  e.batch_size = 50;
  e.batch_wait_ms = 1;
  e.max_txn_messages = 900;
  e.queue_messages = 7000;
  e.queue_bytes = 2 << 20;
  e.max_attempts = 3;
  e.dependency_wait_ms = 0;
  e.ack_wait_ms = 3000;
  e.retry_base_ms = 20;
  e.retry_max_ms = 900;
  e.max_payload_bytes = 4096;
  e.dlq_max_payload_bytes = 2048;
  e.busy_timeout_ms = 10;
  e.synchronous = "normal";
  e.summary_threshold = 80;
  e.auto_create_customers = false;
  e.group_id = "g1";
  e.durable = "d1";
  e.streams = {"BILLING", "AUTH"};
  e.topics = {"crm.leads"};
  e.schemas_dir = "/s";
  e.log_level = "debug";
  e.name = "ingestd[2]";
  e.kafka_properties = {{"socket.timeout.ms", "1000"}};
  CHECK(c == e);
}

TEST_CASE("a flag given twice: the last wins, --kafka-property adds up") {
  CHECK(WithNats({"--batch-size", "7", "--batch-size=8"}).batch_size == 8);
  // Two names for one value: the later on the command line wins, whichever it is.
  CHECK(WithNats({"--ack-wait", "2s", "--ack-wait-ms", "1500"}).ack_wait_ms == 1500);
  CHECK(WithNats({"--ack-wait-ms", "1500", "--ack-wait", "2s"}).ack_wait_ms == 2000);
  CHECK(WithNats({"--kafka-property", "a=1", "--kafka-property", "b=2", "--kafka-property=a=3"})
            .kafka_properties == std::map<std::string, std::string>{{"a", "3"}, {"b", "2"}});
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
  Vars env = {{"INGEST_CONFIG", file.path()},
              {"INGEST_DB", "/env.db"},
              {"INGEST_BATCH_SIZE", "22"},
              {"INGEST_HTTP", "127.0.0.1:9000"}};

  SECTION("the DLQ payload cut-off comes from the file, or the environment over it") {
    CHECK(Config({}, env).dlq_max_payload_bytes == 1000);
    env["INGEST_DLQ_MAX_PAYLOAD_BYTES"] = "3000";
    CHECK(Config({}, env).dlq_max_payload_bytes == 3000);
  }
  SECTION("the file fills what nothing else sets") {
    const IngestdConfig c = Config({}, env);
    CHECK(c.nats_urls == std::vector<std::string>{"nats://file:4222"});
    CHECK(c.max_attempts == 9);
    CHECK(c.kafka_properties.at("client.id") == "from-file");
  }
  SECTION("the environment wins over the file") {
    const IngestdConfig c = Config({}, env);
    CHECK(c.db_path == "/env.db");
    CHECK(c.batch_size == 22);
    CHECK(c.http == "127.0.0.1:9000");
  }
  SECTION("flags win over both") {
    const IngestdConfig c = Config(
        {"--db", "/flag.db", "--batch-size", "33", "--kafka-property", "socket.timeout.ms=5"}, env);
    CHECK(c.db_path == "/flag.db");
    CHECK(c.batch_size == 33);
    CHECK(c.http == "127.0.0.1:9000");
    CHECK(c.kafka_properties.at("socket.timeout.ms") == "5");
    CHECK(c.kafka_properties.at("client.id") == "from-file");
  }
  SECTION("--config on the command line beats INGEST_CONFIG") {
    TempFile other("nats = nats://other:4222\n");
    const IngestdConfig c = Config({"--config", other.path()}, env);
    CHECK(c.nats_urls == std::vector<std::string>{"nats://other:4222"});
    CHECK(c.max_attempts == 5);
  }
}

TEST_CASE("bad values are one-line errors naming the setting and the value") {
  const auto [args, message] = GENERATE(table<Args, std::string>({
      {{"--batch-size", "abc"}, "--batch-size: expected a positive integer, got \"abc\""},
      {{"--batch-size", "0"}, "--batch-size: expected a positive integer, got \"0\""},
      {{"--max-attempts", "-1"}, "--max-attempts: expected a positive integer, got \"-1\""},
      {{"--synchronous", "off"}, "--synchronous: expected full or normal, got \"off\""},
      {{"--batch-wait-ms", "5ms"}, "--batch-wait-ms: expected a positive integer, got \"5ms\""},
      {{"--busy-timeout-ms", "-5"},
       "--busy-timeout-ms: expected a non-negative integer, got \"-5\""},
      {{"--queue-messages", "99999999999"},
       "--queue-messages: expected a positive integer, got \"99999999999\""},
      {{"--auto-create-customers", "maybe"},
       "--auto-create-customers: expected true or false, got \"maybe\""},
      {{"--http", "localhost"}, "--http: expected HOST:PORT, got \"localhost\""},
      {{"--http", "127.0.0.1:70000"},
       "--http: expected HOST:PORT with a port from 0 to 65535, got \"127.0.0.1:70000\""},
      {{"--log-level", "loud"}, "--log-level: expected debug, info, warn or error, got \"loud\""},
      {{"--kafka-property", "novalue"}, "--kafka-property: expected KEY=VALUE, got \"novalue\""},
      {{"--db", ""}, "--db: expected a non-empty value, got \"\""},
      {{"--api-token", "org_a=short"},
       "--api-token: organisation org_a: a token must have at least 16 characters"},
      {{"--api-token", "no-equals-sign-0123456789"},
       "--api-token: expected ORG=TOKEN (the value is not shown)"},
      {{"--api-token", "org_a=has a space 0123456789"},
       "--api-token: organisation org_a: a token is printable ASCII without spaces"},
      {{"--db"}, "--db: missing value"},
  }));
  INFO(args.front());
  CHECK(ErrorWithNats(args) == message);
}

TEST_CASE("context API tokens come from the file (api-token.ORG) and the command line") {
  TempFile file(
      "api-token.org_a = token-a-0123456789abcdef\napi_token.org_c = token-c-0123456789ab\n");
  const IngestdConfig c =
      Config({"--nats", "nats://x:1", "--config", file.path(), "--api-token",
              "org_b=token-b-0123456789abcdef"});
  CHECK(c.api_tokens == std::map<std::string, std::string>{{"token-a-0123456789abcdef", "org_a"},
                                                           {"token-b-0123456789abcdef", "org_b"},
                                                           {"token-c-0123456789ab", "org_c"}});
  TempFile clash(
      "api-token.org_a = token-x-0123456789abcdef\napi-token.org_b = token-x-0123456789abcdef\n");
  CHECK(Error({"--config", clash.path()}) ==
        clash.path() + ":2: api-token: organisation org_b: the same token is given to org_a");
}

TEST_CASE("a bad value from the environment or the file names where it came from") {
  CHECK(Error({}, {{"INGEST_NATS", "nats://x:1"}, {"INGEST_RETRY_BASE_MS", "soon"}}) ==
        "INGEST_RETRY_BASE_MS: expected a positive integer, got \"soon\"");
  TempFile file("nats = nats://x:1\n\nmax_attempts = lots\n");
  CHECK(Error({"--config", file.path()}) ==
        file.path() + ":3: max-attempts: expected a positive integer, got \"lots\"");
}

TEST_CASE("unknown flags, stray arguments and missing transports are rejected") {
  const auto [args, message] = GENERATE(table<Args, std::string>({
      {{"--nats", "nats://x:1", "--batchsize", "5"}, "unknown flag --batchsize (see --help)"},
      {{"--nats", "nats://x:1", "--batchsize=5"}, "unknown flag --batchsize (see --help)"},
      {{"--nats", "nats://x:1", "extra"}, "unexpected argument \"extra\" (see --help)"},
      {{"--nats", "nats://x:1", "-b"}, "unexpected argument \"-b\" (see --help)"},
      {{"--db", "/tmp/x.db"},
       "no transport: give --nats URLS and/or --kafka BOOTSTRAP (or INGEST_NATS / INGEST_KAFKA)"},
  }));
  CHECK(Error(args) == message);
}

TEST_CASE("a config file's unknown keys and malformed lines are named with their line") {
  const auto [content, line_and_message] = GENERATE(table<std::string, std::string>({
      {"nats = nats://x:1\nspeed = fast\n", ":2: unknown key \"speed\""},
      {"nats = nats://x:1\nkafka-property = a=b\n", ":2: unknown key \"kafka-property\""},
      {"nats nats://x:1\n", ":1: expected key = value, got \"nats nats://x:1\""},
  }));
  TempFile file(content);
  CHECK(Error({"--config", file.path()}) == file.path() + line_and_message);
  CHECK(Error({"--config", "/nonexistent/ingestd.conf"}) ==
        "--config: cannot read \"/nonexistent/ingestd.conf\"");
}

TEST_CASE("--help and --version need no transport") {
  const auto [args, action] = GENERATE(table<Args, ConfigAction>({
      {{"--help"}, ConfigAction::kHelp},
      {{"-h"}, ConfigAction::kHelp},
      {{"--batch-size", "abc", "--help"}, ConfigAction::kHelp},
      {{"--version"}, ConfigAction::kVersion},
  }));
  auto r = Parse(args);
  REQUIRE(r.ok());
  CHECK(r->action == action);
}

TEST_CASE("--ack-wait takes a duration, as CONTRACT.md names it; --ack-wait-ms stays") {
  SECTION("a whole number and a unit") {
    const auto [flag, value, ms] = GENERATE(table<std::string, std::string, int>({
        {"--ack-wait", "2s", 2000},
        {"--ack-wait", "750ms", 750},
        {"--ack-wait", "1m", 60000},
        {"--ack-wait-ms", "1500", 1500},
    }));
    CHECK(WithNats({flag, value}).ack_wait_ms == ms);
  }
  SECTION("anything else is refused") {
    const std::string bad = GENERATE("10", "s", "-5s", "1.5s", "0ms", "99999999999s", "10 s");
    CHECK_THAT(ErrorWithNats({"--ack-wait", bad}), Catch::Contains("duration"));
  }
}

namespace {

// What --help and docs/ingestd.md say about each setting: key -> its stated default ("" when it
// states none).
using Stated = std::map<std::string, std::string>;

// "  --key ARG   meaning [default]" lines; a meaning too long for the line goes on in the next.
Stated StatedInHelp() {
  Stated stated;
  std::istringstream usage(IngestdUsage());
  std::string key, text;
  auto flush = [&] {
    if (key.empty() || key == "help" || key == "version") return;
    const size_t open = text.rfind('['), close = text.rfind(']');
    stated[key] = open != std::string::npos && close != std::string::npos && open < close
                      ? text.substr(open + 1, close - open - 1)
                      : "";
  };
  for (std::string line; std::getline(usage, line);) {
    if (line.rfind("  --", 0) == 0) {
      flush();
      key = line.substr(4, line.find(' ', 4) - 4);
      text = line;
    } else if (!key.empty() && line.rfind("    ", 0) == 0) {
      text += line;
    } else {
      flush();
      key.clear();
    }
  }
  flush();
  return stated;
}

// Settings table rows: | `--key ARG` (or `--other ARG`) / `INGEST_KEY` | `default` | meaning |
// A second name in the first cell shares the row's default, so only its presence is recorded.
Stated StatedInDocs() {
  Stated stated;
  std::ifstream docs(std::string(INGESTLAB_SOURCE_DIR) + "/docs/ingestd.md");
  for (std::string line; std::getline(docs, line);) {
    if (line.rfind("| `--", 0) != 0) continue;
    const size_t first_end = line.find(" | ", 1);
    const std::string first = line.substr(0, first_end);
    const std::string second =
        line.substr(first_end + 3, line.find(" | ", first_end + 3) - first_end - 3);
    for (size_t at = first.find("`--"); at != std::string::npos; at = first.find("`--", at + 1)) {
      const std::string key = first.substr(at + 3, first.find_first_of(" `", at + 3) - at - 3);
      const bool main_name = at == 2;
      stated[key] = main_name && second.size() >= 2 && second.front() == '`' && second.back() == '`'
                        ? second.substr(1, second.size() - 2)
                        : "";
    }
  }
  return stated;
}

std::set<std::string> Keys(const Stated& stated) {
  std::set<std::string> keys;
  for (const auto& [key, value] : stated) keys.insert(key);
  return keys;
}

}  // namespace

// Every default the help text ([brackets]) and docs/ingestd.md (its settings table) state is the
// compiled-in one: applying it changes nothing. One source of truth, the others checked.
TEST_CASE("the defaults in --help and docs/ingestd.md are the compiled-in defaults") {
  const Stated help = StatedInHelp();
  const Stated docs = StatedInDocs();
  // --help lists every setting of the table; the docs must list the same ones.
  CHECK(help.size() >= 30);
  CHECK(Keys(docs) == Keys(help));

  const IngestdConfig base = WithNats({});
  for (const auto* stated : {&help, &docs}) {
    for (const auto& [key, value] : *stated) {
      INFO((stated == &help ? "--help" : "docs/ingestd.md")
           << " states --" << key << " defaults to '" << value << "'");
      // "The default four topics" is an empty list; stating them sets the same list explicitly.
      if (value.empty() || key == "topics") continue;
      if (value.find(' ') != std::string::npos) continue;  // a description ("all but DLQ")
      CHECK(WithNats({"--" + key, value}) == base);
    }
  }
  for (const auto& [key, value] : docs) {
    INFO("--" << key);
    if (!value.empty() && help.count(key) != 0) CHECK(help.at(key) == value);
  }
}
