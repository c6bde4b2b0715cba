// TestPki: a throwaway certificate authority for servers the harness starts with TLS, made at
// run time with the `openssl` command line (nothing is checked in, nothing outlives the run
// directory): an ECDSA P-256 CA, a server certificate for the loopback names (CN 127.0.0.1,
// SAN IP:127.0.0.1 and DNS:localhost) and a client certificate (CN ingestlab-client), each
// valid for 7 days. Keys are written unencrypted (mode 0600) beside the certificates.
// Thread-safety: none needed; Generate runs the openssl processes one after another.
#pragma once

#include <string>

#include "common/status.h"

namespace ingestlab {

struct TestPki {
  std::string dir;
  std::string ca_cert;      // ca.pem: what clients trust
  std::string ca_key;       // ca.key
  std::string server_cert;  // server.pem
  std::string server_key;   // server.key
  std::string client_cert;  // client.pem: for servers that verify clients
  std::string client_key;   // client.key

  // Creates `dir` and the files above in it. An error names the openssl step that failed and
  // quotes its output (dir/openssl.log); a missing openssl says to install it.
  static Result<TestPki> Generate(const std::string& dir);
};

}  // namespace ingestlab
