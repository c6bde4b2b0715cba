// Specification of the redaction rule (common/redact.h): credentials in URLs, secret properties
// and free text never come out; everything else comes out unchanged.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>

#include "common/personal_data.h"
#include "common/redact.h"
#include "system/http_server.h"
#include "system/metrics.h"
#include "tests/support/text_checks.h"

using namespace ingestlab;

namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// RedactUrl(url) shows none of `secrets` and reads `expected`.
void CheckRedactsUrl(const std::string& url, std::initializer_list<const char*> secrets,
                     const std::string& expected) {
  INFO(url);
  const std::string out = RedactUrl(url);
  ingestlab::testing::CheckContainsNone(out, secrets);
  CHECK(out == expected);
}

}  // namespace

TEST_CASE("RedactUrl masks the password and keeps user, host and port", "[redact]") {
  CheckRedactsUrl("nats://ingest:Pa55word-9z@nats.example.com:4222", {"Pa55word-9z"},
                  "nats://ingest:***@nats.example.com:4222");

  SECTION("a URL without credentials is unchanged") {
    CHECK(RedactUrl("nats://host:4222") == "nats://host:4222");
    CHECK(RedactUrl("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222");
    CHECK(RedactUrl("127.0.0.1:9092") == "127.0.0.1:9092");
    CHECK(RedactUrl("") == "");
  }
  SECTION("a token (userinfo without ':') is masked whole") {
    CheckRedactsUrl("nats://s3cr3tT0ken@host:4222", {"s3cr3tT0ken"}, "nats://***@host:4222");
  }
  SECTION("IPv6 hosts keep their brackets and port") {
    CHECK(RedactUrl("nats://u:pw-v6-secret@[::1]:4222") == "nats://u:***@[::1]:4222");
    CHECK(RedactUrl("nats://[2001:db8::7]:4222") == "nats://[2001:db8::7]:4222");
    CHECK(RedactUrl("nats://tok-v6-secret@[fe80::1%25eth0]:4222") ==
          "nats://***@[fe80::1%25eth0]:4222");
  }
  SECTION("percent-encoded passwords holding '@' and ':' are masked whole") {
    CheckRedactsUrl("nats://ingest:p%40ss%3Aw0rd@host:4222", {"p%40ss", "w0rd"},
                    "nats://ingest:***@host:4222");
  }
  SECTION("raw '@', ':' and '/' in a password are masked whole too") {
    CheckRedactsUrl("nats://ingest:p@ss:w/rd@host:4222", {"ss:w", "rd@"},
                    "nats://ingest:***@host:4222");
  }
  SECTION("a URL without a scheme, as cnats accepts it") {
    CHECK(RedactUrl("ingest:noscheme-pw@host:4222") == "ingest:***@host:4222");
    CHECK(RedactUrl("tok-noscheme@host:4222") == "***@host:4222");
  }
  SECTION("surrounding whitespace, an empty password and redacted input are kept") {
    CHECK(RedactUrl(" nats://u:pw12@h:1 ") == " nats://u:***@h:1 ");
    CHECK(RedactUrl("nats://user:@h:1") == "nats://user:@h:1");
    CHECK(RedactUrl("nats://user:***@h:1") == "nats://user:***@h:1");
    CHECK(RedactUrl("nats://***@h:1") == "nats://***@h:1");
  }
}

TEST_CASE("RedactUrlList redacts each URL of a comma-separated list", "[redact]") {
  const std::string out =
      RedactUrlList("nats://a:first-pw@h1:4222, nats://h2:4222,nats://tok-second@[::1]:4223");
  CHECK_FALSE(Contains(out, "first-pw"));
  CHECK_FALSE(Contains(out, "tok-second"));
  CHECK(out == "nats://a:***@h1:4222, nats://h2:4222,nats://***@[::1]:4223");
  CHECK(RedactUrlList("h1:9092,h2:9092") == "h1:9092,h2:9092");
}

TEST_CASE("IsSecretProperty: names with password, secret, token, credential, key or pem",
          "[redact]") {
  for (const char* name :
       {"sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem", "ssl_key",
        "sasl.oauthbearer.client.secret", "SASL.PASSWORD", "kafka.sasl.password", "api_token",
        "ssl.keystore.location", "my.credentials", "db_passwd"}) {
    INFO(name);
    CHECK(IsSecretProperty(name));
  }
  for (const char* name : {"bootstrap.servers", "sasl.username", "sasl.mechanism",
                           "security.protocol", "group.id", "client.id", "acks", "key", "KEY"}) {
    INFO(name);
    CHECK_FALSE(IsSecretProperty(name));
  }
}

TEST_CASE("RedactProperties masks secret values and keeps the others", "[redact]") {
  const std::vector<std::pair<std::string, std::string>> props = {
      {"sasl.username", "ingest"},
      {"sasl.password", "kafka-pw-123"},
      {"ssl.key.pem", "-----BEGIN PRIVATE KEY-----abc"},
      {"bootstrap.servers", "b1:9092,b2:9092"}};
  const auto out = RedactProperties(props);
  REQUIRE(out.size() == 4);
  CHECK(out[0] == std::pair<std::string, std::string>{"sasl.username", "ingest"});
  CHECK(out[1] == std::pair<std::string, std::string>{"sasl.password", "***"});
  CHECK(out[2] == std::pair<std::string, std::string>{"ssl.key.pem", "***"});
  CHECK(out[3] == std::pair<std::string, std::string>{"bootstrap.servers", "b1:9092,b2:9092"});

  const std::map<std::string, std::string> m = {{"ssl.keystore.password", "ks-pw-77"},
                                                {"acks", "all"}};
  const auto mo = RedactProperties(m);
  CHECK(mo.at("ssl.keystore.password") == "***");
  CHECK(mo.at("acks") == "all");
  CHECK(RedactProperty("sasl.password", "kafka-pw-123") == "sasl.password=***");
  CHECK(RedactProperty("group.id", "ingestd") == "group.id=ingestd");
}

TEST_CASE("RedactText scrubs URLs, secret assignments and registered secrets", "[redact]") {
  ClearRegisteredSecrets();
  SECTION("URLs inside messages, lists and brackets") {
    const std::string out = RedactText(
        "ready: nats=nats://ingest:txt-pw-1@h:4222,nats://h2:4222 "
        "no server reachable at [nats://tok-txt-2@h:1, nats://u:txt-pw-3@[::1]:2]");
    ingestlab::testing::CheckContainsNone(out, {"txt-pw-1", "tok-txt-2", "txt-pw-3"});
    ingestlab::testing::CheckContainsAll(out, {"nats://ingest:***@h:4222", "nats://h2:4222",
                                               "nats://***@h:1", "nats://u:***@[::1]:2]"});
  }
  SECTION("secret KEY=VALUE pairs, with or without spaces or quotes") {
    const std::string out = RedactText(
        "kafka property sasl.password=kv-secret-1: bad; ssl.key.password = kv-secret-2, "
        "sasl.oauthbearer.client.secret=\"kv secret 3\" group.id=ingestd");
    ingestlab::testing::CheckContainsNone(out, {"kv-secret-1", "kv-secret-2", "kv secret 3"});
    CHECK(Contains(out, "sasl.password=***"));
    CHECK(Contains(out, "group.id=ingestd"));
  }
  SECTION("librdkafka's configuration dump: its own [redacted] is kept, a value is not") {
    CHECK(RedactText("CONF: [thrd:app]:   sasl.password = [redacted]") ==
          "CONF: [thrd:app]:   sasl.password = [redacted]");
    CHECK(RedactText("CONF:   ssl.key.pem = [MIIB-key-material] next") ==
          "CONF:   ssl.key.pem = *** next");
  }
  SECTION("plain text, e-mail addresses and JSON payloads are unchanged") {
    const std::string text =
        R"(applied 10 events; {"email":"u1@example.com","reason":"invalid_password"} at )"
        R"(http://127.0.0.1:8080/healthz)";
    CHECK(RedactText(text) == text);
    // A usage text and a message key are not secrets.
    const std::string usage = R"(--kafka-property: expected KEY=VALUE, got "x"; key=cust-1)";
    CHECK(RedactText(usage) == usage);
  }
  SECTION("registered secrets are scrubbed wherever they appear") {
    RegisterSecret("Echoed-Secret-42");
    RegisterSecret("abc");  // too short to scrub from free text
    const std::string out = RedactText("library said: auth failed for Echoed-Secret-42 (abc)");
    CHECK_FALSE(Contains(out, "Echoed-Secret-42"));
    CHECK(Contains(out, "(abc)"));
  }
  SECTION("URL secrets register as written and percent-decoded") {
    RegisterUrlSecrets("nats://ingest:p%40ss-reg-9@h:1, nats://tok-reg-8@h:2, nats://h:3");
    const std::string out = RedactText("p%40ss-reg-9 p@ss-reg-9 tok-reg-8");
    CHECK(out == "*** *** ***");
  }
  SECTION("property secrets register") {
    RegisterPropertySecrets(std::vector<std::pair<std::string, std::string>>{
        {"sasl.password", "prop-reg-7"}, {"group.id", "not-a-secret"}});
    const std::string out = RedactText("prop-reg-7 not-a-secret");
    CHECK(out == "*** not-a-secret");
  }
  SECTION("redaction is idempotent") {
    const std::string once = RedactText("nats://u:idem-pw@h:1 sasl.password=idem-2");
    CHECK(RedactText(once) == once);
    const std::string message = "kafka property " + RedactProperty("sasl.password", "x-pw-1") +
                                ": No such configuration property";
    CHECK(message == "kafka property sasl.password=***: No such configuration property");
    CHECK(RedactText(message) == message);
  }
  ClearRegisteredSecrets();
}

TEST_CASE("RedactJsonStrings redacts every string value of a document", "[redact]") {
  nlohmann::json j = {{"command", "ingestd --nats nats://u:json-pw-1@h:4222"},
                      {"nested", {{"list", {"nats://tok-json-2@h:1", 3, true}}}},
                      {"count", 7},
                      {"payload_b64", "QUJDtokenRA=="}};
  RedactJsonStrings(j);
  const std::string dumped = j.dump();
  CHECK_FALSE(Contains(dumped, "json-pw-1"));
  CHECK_FALSE(Contains(dumped, "tok-json-2"));
  CHECK(j["command"] == "ingestd --nats nats://u:***@h:4222");
  CHECK(j["count"] == 7);
  CHECK(j["nested"]["list"][1] == 3);
  CHECK(j["payload_b64"] == "QUJDtokenRA==");  // data, not text: left as it is
}

TEST_CASE("/healthz and /metrics rendering redacts source details and labels", "[redact]") {
  HealthInputs h;
  SourceHealth nats;
  nats.connected = true;
  nats.detail = "connected to nats://ingest:health-pw-5@127.0.0.1:4222";
  nats.lag["nats://tok-label-6@h:1"] = 2;
  h.nats = nats;
  h.db_ok = false;
  h.db_error = "cannot open nats://u:db-pw-7@h:1";
  const HttpReply reply = RenderHealthz(h);
  CHECK_FALSE(Contains(reply.body, "health-pw-5"));
  CHECK_FALSE(Contains(reply.body, "db-pw-7"));
  CHECK(Contains(reply.body, "nats://ingest:***@127.0.0.1:4222"));
  const std::string metrics = RenderSourceMetrics(h);
  CHECK_FALSE(Contains(metrics, "tok-label-6"));
  CHECK(Contains(metrics, "ingest_source_lag"));
}

TEST_CASE("log lines never show an e-mail address or a phone number") {
  const auto [text, masked] = GENERATE(table<std::string, std::string>({
      {"lead ann.lee+x@acme.io created", "lead ***@acme.io created"},
      {"to <bob@mail.example.co.uk>.", "to <***@mail.example.co.uk>."},
      {"phone +1-555-0100 given", "phone *** given"},
      {"call (555) 123-4567 now", "call *** now"},
      {"call 555-123-4567", "call ***"},
      {"intl +44 20 7946 0958, thanks", "intl ***, thanks"},
      {"{\"email\":\"c7@example.com\",\"phone\":\"+1-555-7781\"}",
       "{\"email\":\"***@example.com\",\"phone\":\"***\"}"},
  }));
  INFO(text);
  CHECK(MaskPersonalData(text) == masked);
  CHECK(MaskPersonalData(masked) == masked);  // idempotent
}

TEST_CASE("personal-data masking keeps the numbers logs are made of") {
  for (const std::string text :
       {"committed 1000 events at 1795463890744 in 12 ms", "offsets 1000-2000 of billing-0",
        "event date 2026-12-04, time 2026-12-04T23:15:51.654Z", "listening on 127.0.0.1:8080",
        "id 123e4567-e89b-12d3-a456-426614174000", "nats://ingest:***@127.0.0.1:4222",
        "version 1.2.3-rc1", "user@localhost", "a @ b", "seq 12345678"}) {
    INFO(text);
    CHECK(MaskPersonalData(text) == text);
  }
}

TEST_CASE("personal-data masking is linear in its input") {
  // Inputs that would make a careless scanner quadratic: every character a possible start.
  for (const std::string unit : {"a@", "(", "+1", "1-", "a.b@c."}) {
    std::string text;
    while (text.size() < 400'000) text += unit;
    const auto start = std::chrono::steady_clock::now();
    const std::string out = MaskPersonalData(text);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
    CHECK(std::count(out.begin(), out.end(), '@') == std::count(text.begin(), text.end(), '@'));
  }
}
