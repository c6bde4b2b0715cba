// Redaction: the one place that decides what a secret looks like, so that no log line, /healthz,
// /metrics, result.json or HTML report ever shows one. The rule (docs/ingestd.md, "Secrets"):
//
// - URLs: the userinfo of a URL ("scheme://USERINFO@host") is credentials. "user:password@"
//   keeps the user and masks the password ("nats://ingest:***@host:4222"); a userinfo without
//   ':' is a token and is masked whole ("nats://***@host:4222"). The userinfo runs from "://" to
//   the URL's last '@', so a password holding '@', ':' or '/' (encoded or not) is masked whole.
//   A URL without a scheme ("user:pw@host:4222", as cnats accepts) is handled by RedactUrl, not
//   by RedactText (which would otherwise take every e-mail address for one).
// - Properties (librdkafka settings, KEY=VALUE): a property is secret when its name, compared
//   case-insensitively, contains "password", "passwd", "secret", "token", "credential", "key" or
//   "pem" (sasl.password, ssl.key.password, ssl.keystore.password, ssl.key.pem, ssl_key,
//   sasl.oauthbearer.client.secret, ...); a name that is just "key" (a message key) is not.
//   Its value is replaced by "***"; other values are kept
//   (with any URL credentials in them redacted). Naming a path (ssl.key.location) as secret
//   costs nothing, missing a secret would.
// - Free text (RedactText): URL credentials as above, "KEY=VALUE" / "KEY = VALUE" where KEY is a
//   secret property name, and every secret value registered with RegisterSecret (a process
//   learns its own secrets at start-up: ingestd registers the passwords and tokens of its NATS
//   URLs and its secret Kafka properties, so a library echoing one verbatim is caught too).
//
// Redaction is idempotent: redacting redacted text changes nothing.
// Thread-safety: every function is safe from any thread (the registry is guarded by a mutex).
#pragma once

#include "common/status.h"

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ingestlab {

// What a secret is replaced with.
inline constexpr std::string_view kRedactedMask = "***";

// Registered secrets shorter than this are not scrubbed from free text (a 2-character password
// would turn every occurrence of those two letters into "***"); structural rules still apply.
inline constexpr size_t kMinRegisteredSecretLength = 4;

// One URL: "nats://ingest:s3cret@host:4222" -> "nats://ingest:***@host:4222",
// "nats://tok@host:4222" -> "nats://***@host:4222", "nats://host:4222" unchanged.
// Surrounding whitespace is kept.
std::string RedactUrl(std::string_view url);

// A comma-separated list of URLs (or host:port pairs), each redacted; separators kept.
std::string RedactUrlList(std::string_view urls);

// True for property names that hold secrets (see the rule above).
bool IsSecretProperty(std::string_view name);

// The value as it may be shown: "***" for a secret property, else the value with URL
// credentials redacted.
std::string RedactPropertyValue(std::string_view name, std::string_view value);

// "name=value" with the value redacted as above.
std::string RedactProperty(std::string_view name, std::string_view value);

// Every value redacted with RedactPropertyValue; names and order kept.
std::vector<std::pair<std::string, std::string>> RedactProperties(
    const std::vector<std::pair<std::string, std::string>>& properties);
std::map<std::string, std::string> RedactProperties(
    const std::map<std::string, std::string>& properties);

// Free text (a log message, an error, a health detail): URL credentials, secret KEY=VALUE
// pairs, and registered secret values are replaced by "***".
std::string RedactText(std::string_view text);

// Registers a secret value to be scrubbed from all later RedactText output in this process.
// Values shorter than kMinRegisteredSecretLength are ignored.
void RegisterSecret(std::string_view value);
// Registers the password or token of each URL in a comma-separated list, as written and
// percent-decoded.
void RegisterUrlSecrets(std::string_view urls);

// Writes `text` to `path` (replacing it) readable and writable by its owner only (mode 0600):
// for files that hold credentials or tokens. Io error naming the path on failure.
Status WritePrivateFile(const std::string& path, std::string_view text);
// Registers the values of the secret properties among `properties`.
void RegisterPropertySecrets(const std::vector<std::pair<std::string, std::string>>& properties);
void RegisterPropertySecrets(const std::map<std::string, std::string>& properties);
// Forgets every registered secret (for tests).
void ClearRegisteredSecrets();

// Redacts every string value of a JSON document in place (nlohmann::json or anything with the
// same interface). Keys are kept, and so are the values of keys ending in "_b64": base64 is
// data, not text, and its '=' padding could pass for a KEY=VALUE pair.
template <class Json>
void RedactJsonStrings(Json& j) {
  if (j.is_string()) {
    auto& s = j.template get_ref<std::string&>();
    s = RedactText(s);
  } else if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      if (key.size() >= 4 && key.compare(key.size() - 4, 4, "_b64") == 0) continue;
      RedactJsonStrings(it.value());
    }
  } else if (j.is_array()) {
    for (auto& v : j) RedactJsonStrings(v);
  }
}

}  // namespace ingestlab
