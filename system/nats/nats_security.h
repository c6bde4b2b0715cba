// NatsSecurity: how a NATS client proves who it is and whom it trusts — user and password, a
// token, an NKey seed or a NATS .creds file, and TLS (the CA to trust, an optional client
// certificate, TLS required). ingestd, the simulators' publisher and the harness's own clients
// (dead-letter tap, latency probe, stream setup) all apply it through ApplyNatsSecurity, so a
// server with TLS and authorization takes every one of them the same way.
//
// A credentials file (`nats-credentials`, and what `ingestlab up --secure` writes) is either
//   - a NATS .creds file (a user JWT and its NKey seed, as nsc writes them), used as is; or
//   - `key = value` lines (a line starting with '#' is a comment; a value may hold '#'): user,
//     password, token, nkey-seed, tls-ca, tls-cert, tls-key (files; relative paths are
//     relative to the credentials file) and tls (true|false). Values given directly (flags,
//     INGEST_* variables) win over the file's.
// Secrets (password, token) read from a file are registered with the redaction module
// (common/redact.h) as soon as they are read, so no log line shows them.
// Thread-safety: plain values; the functions are safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

struct __natsOptions;

namespace ingestlab {

struct NatsSecurity {
  std::string user;
  std::string password;
  std::string token;
  std::string nkey_seed_file;  // a file holding an NKey seed ("SU..."); the public key is derived
  std::string credentials;     // a credentials file: NATS .creds, or key = value (see above)
  std::string tls_ca;          // PEM file of the CA(s) the server's certificate must chain to
  std::string tls_cert;        // client certificate chain (PEM), for servers that verify clients
  std::string tls_key;         // its private key (PEM)
  bool tls = false;            // require TLS (also implied by tls:// URLs and by any tls_* file)

  bool empty() const { return *this == NatsSecurity(); }
  bool operator==(const NatsSecurity&) const = default;
};

// Fills `security` from the key = value credentials file at `path`, keeping fields that are
// already set. A NATS .creds file is not parsed: security->credentials keeps naming it. Errors
// are one line naming the file (and line). Registers the secrets it reads.
Status ReadNatsCredentialsFile(const std::string& path, NatsSecurity* security);

// Writes `security` as a key = value credentials file (mode 0600): what a client of a server
// started by the harness needs. tls-ca and the other paths are written as given.
Status WriteNatsCredentialsFile(const std::string& path, const NatsSecurity& security);

// Applies `security` to cnats options: the credentials file first (read as above), then
// user/password, token, NKey, TLS. Every error is one line naming the setting
// ("nats-tls-ca: cannot read \"/x/ca.pem\": ..."), never a secret.
Status ApplyNatsSecurity(__natsOptions* opts, const NatsSecurity& security);

// Registers the password and token with the redaction module (common/redact.h).
void RegisterNatsSecrets(const NatsSecurity& security);

// "user+tls", "token+tls+client certificate", "nkey", "credentials file", "none": what a log
// line may say about the security in use (never a secret).
std::string DescribeNatsSecurity(const NatsSecurity& security);

// NKeys (https://docs.nats.io/running-a-nats-service/configuration/securing_nats/auth_intro/
// nkey_auth): the user seed ("SU...") of a 32-byte Ed25519 seed, and the public key ("U...") of
// a seed. Errors name what is wrong, never the seed.
std::string EncodeNKeyUserSeed(std::string_view raw_seed32);
Result<std::string> NKeyPublicKeyFromSeed(std::string_view seed);

}  // namespace ingestlab
