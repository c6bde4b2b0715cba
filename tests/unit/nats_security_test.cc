// NATS client security without a server: ingestd's nats-* settings from flags, the environment
// and the config file; credentials files (the key = value format, a NATS .creds file, errors);
// the secrets they hold reaching the redaction module; NKey seeds and public keys.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/redact.h"
#include "harness/infra/ports.h"
#include "system/config.h"
#include "system/nats/nats_security.h"

using namespace ingestlab;

namespace {

std::string Write(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.Sub(name);
  std::ofstream(path) << text;
  return path;
}

Result<ParsedConfig> Parse(std::vector<std::string> args,
                           std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "ingestd");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseIngestdConfig(static_cast<int>(argv.size()), argv.data(), [env](const char* name) {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

}  // namespace

TEST_CASE("the nats-* settings come from flags, the environment and the config file") {
  auto dir = TempDir::Create("nats-security-config").value();
  const std::string ca = Write(dir, "ca.pem", "-----BEGIN CERTIFICATE-----\n");
  const std::string cert = Write(dir, "client.pem", "cert");
  const std::string key = Write(dir, "client.key", "key");
  const std::string seed = Write(dir, "nkey.seed", "SU...");
  const std::string creds = Write(dir, "credentials", "user = u\n");
  const std::string conf = Write(dir, "ingestd.conf",
                                 "nats = tls://127.0.0.1:4222\nnats_user = from-file\n"
                                 "nats-password = file-password\nnats-tls-ca = " +
                                     ca + "\n");

  SECTION("flags") {
    auto p = Parse({"--nats",
                    "tls://127.0.0.1:4222",
                    "--nats-user",
                    "u",
                    "--nats-password",
                    "pw",
                    "--nats-token",
                    "tok",
                    "--nats-nkey-seed",
                    seed,
                    "--nats-credentials",
                    creds,
                    "--nats-tls-ca",
                    ca,
                    "--nats-tls-cert",
                    cert,
                    "--nats-tls-key",
                    key,
                    "--nats-tls",
                    "true"});
    INFO(p.status().message());
    REQUIRE(p.ok());
    NatsSecurity e;
    e.user = "u";
    e.password = "pw";
    e.token = "tok";
    e.nkey_seed_file = seed;
    e.credentials = creds;
    e.tls_ca = ca;
    e.tls_cert = cert;
    e.tls_key = key;
    e.tls = true;
    CHECK(p->config.nats_security == e);
  }
  SECTION("file, then environment over it") {
    auto p = Parse({"--config", conf}, {{"INGEST_NATS_PASSWORD", "env-password"}});
    INFO(p.status().message());
    REQUIRE(p.ok());
    CHECK(p->config.nats_security.user == "from-file");
    CHECK(p->config.nats_security.password == "env-password");
    CHECK(p->config.nats_security.tls_ca == ca);
  }
  SECTION("an unreadable file is one line naming the setting, from wherever it came") {
    const std::string missing = dir.Sub("missing.pem");
    auto flag = Parse({"--nats", "nats://x:1", "--nats-tls-ca", missing});
    CHECK(flag.status().message() ==
          "--nats-tls-ca: cannot read \"" + missing + "\": No such file or directory");
    auto env = Parse({"--nats", "nats://x:1"}, {{"INGEST_NATS_CREDENTIALS", missing}});
    CHECK(env.status().message() ==
          "INGEST_NATS_CREDENTIALS: cannot read \"" + missing + "\": No such file or directory");
  }
  SECTION("a bad password value is refused without echoing anything else") {
    auto p = Parse({"--nats", "nats://x:1", "--nats-tls", "maybe"});
    CHECK(p.status().message() == "--nats-tls: expected true or false, got \"maybe\"");
  }
}

TEST_CASE("a credentials file round-trips, keeps values given directly and registers secrets") {
  ClearRegisteredSecrets();
  auto dir = TempDir::Create("nats-security-creds").value();
  NatsSecurity written;
  written.user = "ingestlab";
  written.password = "p#ss word=with-symbols-0123";  // '#', ' ' and '=' survive
  written.tls_ca = "/abs/ca.pem";
  written.tls = true;
  const std::string path = dir.Sub("credentials");
  REQUIRE(WriteNatsCredentialsFile(path, written).ok());
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  NatsSecurity read;
  REQUIRE(ReadNatsCredentialsFile(path, &read).ok());
  CHECK(read == written);
  CHECK(RedactText("error: " + written.password) == "error: ***");

  // A value already set (a flag, an INGEST_* variable) wins over the file's.
  NatsSecurity given;
  given.user = "other";
  REQUIRE(ReadNatsCredentialsFile(path, &given).ok());
  CHECK(given.user == "other");
  CHECK(given.password == written.password);

  // Relative paths are relative to the file.
  const std::string rel = Write(dir, "relative", "tls-ca = certs/ca.pem\ntoken = tok-abcdef-123\n");
  NatsSecurity relative;
  REQUIRE(ReadNatsCredentialsFile(rel, &relative).ok());
  CHECK(relative.tls_ca == dir.Sub("certs/ca.pem"));
  CHECK(RedactText("tok-abcdef-123") == "***");
  ClearRegisteredSecrets();
}

TEST_CASE("a credentials file's errors name the file and line, never a value") {
  auto dir = TempDir::Create("nats-security-bad").value();
  NatsSecurity s;
  const std::string unknown = Write(dir, "unknown", "user = u\npasword = secret-typo\n");
  CHECK(ReadNatsCredentialsFile(unknown, &s).message() ==
        "nats-credentials: " + unknown + ":2: unknown key \"pasword\"");
  const std::string malformed = Write(dir, "malformed", "# comment\nsecret-without-key\n");
  CHECK(ReadNatsCredentialsFile(malformed, &s).message() ==
        "nats-credentials: " + malformed + ":2: expected key = value");
  CHECK(ReadNatsCredentialsFile(dir.Sub("none"), &s).message() ==
        "nats-credentials: cannot read \"" + dir.Sub("none") + "\": No such file or directory");
}

TEST_CASE("a NATS .creds file is passed to cnats as is") {
  auto dir = TempDir::Create("nats-security-dotcreds").value();
  const std::string path = Write(dir, "user.creds",
                                 "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1Qi\n------END NATS "
                                 "USER JWT------\n");
  NatsSecurity s;
  REQUIRE(ReadNatsCredentialsFile(path, &s).ok());
  CHECK(s.credentials == path);
  CHECK(s.user.empty());
}

TEST_CASE("NKey seeds: the public key is derived, a damaged seed is refused") {
  // The user seed and public key of the NATS documentation's NKey example.
  CHECK(
      NKeyPublicKeyFromSeed("SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY").value() ==
      "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4");
  const std::string seed = EncodeNKeyUserSeed(std::string(32, '\x07'));
  CHECK(seed.rfind("SU", 0) == 0);
  auto pub = NKeyPublicKeyFromSeed(seed);
  REQUIRE(pub.ok());
  CHECK(pub->rfind("U", 0) == 0);
  CHECK(pub->size() == 56);
  std::string damaged = seed;
  damaged[10] = damaged[10] == 'A' ? 'B' : 'A';
  CHECK(NKeyPublicKeyFromSeed(damaged).status().message() == "NKey seed checksum mismatch");
  CHECK_FALSE(NKeyPublicKeyFromSeed("not a seed").ok());
}

TEST_CASE("DescribeNatsSecurity names the mechanisms, never a secret") {
  NatsSecurity s;
  CHECK(DescribeNatsSecurity(s) == "none");
  s.user = "u";
  s.password = "hunter2-secret";
  s.tls_ca = "/ca.pem";
  CHECK(DescribeNatsSecurity(s) == "user+tls");
}

// Kafka's security settings need no settings of their own: --kafka-property carries them to
// librdkafka, and the secret ones are redacted like any other secret property.
TEST_CASE("librdkafka security properties pass through --kafka-property and are redacted") {
  ClearRegisteredSecrets();
  auto p = Parse({"--kafka", "127.0.0.1:9093", "--kafka-property", "security.protocol=SASL_SSL",
                  "--kafka-property", "ssl.ca.location=/etc/kafka-ca.pem", "--kafka-property",
                  "sasl.username=ingestd", "--kafka-property", "sasl.password=Kp-1f9e-secret"});
  REQUIRE(p.ok());
  const auto& props = p->config.kafka_properties;
  CHECK(props.at("security.protocol") == "SASL_SSL");
  CHECK(props.at("sasl.password") == "Kp-1f9e-secret");
  const auto shown = RedactProperties(props);
  CHECK(shown.at("sasl.password") == "***");
  CHECK(shown.at("ssl.ca.location") == "/etc/kafka-ca.pem");
  CHECK(shown.at("sasl.username") == "ingestd");
  RegisterPropertySecrets(props);
  CHECK(RedactText("librdkafka: auth failed for Kp-1f9e-secret") ==
        "librdkafka: auth failed for ***");
  ClearRegisteredSecrets();
}
