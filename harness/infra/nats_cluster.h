// NatsCluster: real nats-server processes (1 node, or a 3-node JetStream cluster) on free
// loopback ports, for the tests and the harness's fault timeline.
//
// Each node gets a generated config file (server_name, client listen, monitoring http,
// jetstream store_dir, and for clusters a cluster block with routes to every other node), a log
// file and a store directory under `dir`. Start returns once every node's monitoring endpoint
// says JetStream is ready and, for clusters, a JetStream meta leader has been elected.
// Node control keeps ports and data: Restart(i) brings node i back with the same store, so it
// rejoins with the streams it had. Errors name the node and quote the tail of its log.
// Secure servers (docs/harness.md, "Secure transports"): with `tls`, a throwaway CA and
// certificates are generated into dir/tls (test_pki.h) and clients must speak TLS (tls:// URLs);
// with `auth`, clients must authenticate as one user with a generated password, with a token,
// or with an NKey (its seed in dir/auth/nkey.seed). client_security() is what a client needs;
// the cluster's own clients (CreateStreams, SetStreamSubjects) use it. Cluster routes stay
// plain TCP without authorization: they carry only server-to-server traffic on loopback, and
// what is under test is the clients' side.
// Thread-safety: one controlling thread; url getters are safe from any thread after Start.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "harness/infra/process.h"
#include "harness/infra/test_pki.h"
#include "system/nats/nats_security.h"

struct __natsConnection;

namespace ingestlab {

enum class NatsAuth { kNone, kUser, kToken, kNKey };

struct NatsClusterOptions {
  int nodes = 1;    // 1, or >= 3 for a JetStream cluster
  std::string dir;  // configs, logs and store dirs go here (must exist)
  bool jetstream = true;
  std::string cluster_name = "ingestlab";
  std::string server_binary = "nats-server";  // a path, or looked up on PATH
  std::string extra_config;                   // appended to every node's config file verbatim
  int64_t ready_timeout_ms = 20'000;          // per Start / Restart
  int64_t stop_grace_ms = 5'000;              // SIGTERM -> SIGKILL in Stop(i) and teardown
  bool tls = false;                           // require TLS from clients (certificates in dir/tls)
  bool tls_verify_clients = false;            // ... and a client certificate signed by the same CA
  NatsAuth auth = NatsAuth::kNone;
  std::string user = "ingestlab";  // kUser
  std::string password;            // kUser; empty = generated
  std::string token;               // kToken; empty = generated
};

class NatsCluster {
 public:
  static Result<std::unique_ptr<NatsCluster>> Start(const NatsClusterOptions& options);
  ~NatsCluster();  // kills every node and reaps it
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  int size() const { return static_cast<int>(nodes_.size()); }
  // What a client needs to connect: credentials and, with tls, the CA (and, when clients are
  // verified, the client certificate). Empty for a plain cluster.
  const NatsSecurity& client_security() const { return client_security_; }
  // The generated certificates (tls only; else every path is empty).
  const TestPki& pki() const { return pki_; }
  // "nats://127.0.0.1:p1,nats://127.0.0.1:p2,..." (tls://... with tls)
  std::string urls() const;
  std::vector<std::string> url_list() const;
  std::string url(int i) const;
  std::string monitoring_url(int i) const;  // "http://127.0.0.1:m"
  std::string server_name(int i) const;     // "n1", "n2", ...
  std::string log_path(int i) const;
  std::string store_dir(int i) const;
  int client_port(int i) const;
  pid_t pid(int i) const;  // 0 when the node is down
  bool running(int i) const;

  Status Kill(int i);     // SIGKILL, reaped
  Status Stop(int i);     // SIGTERM (SIGKILL after stop_grace_ms), reaped
  Status Restart(int i);  // stops it if running, starts it with the same ports and store, waits
  Status Pause(int i);    // SIGSTOP
  Status Resume(int i);   // SIGCONT
  // Waits until node i reports JetStream ready (and, clustered, knows a meta leader).
  Status WaitReady(int i, int64_t timeout_ms);
  // Replaces the subjects of an existing stream, keeping its messages: pointing the DLQ stream
  // at subjects nobody publishes to makes every publish to dlq.> fail with "no responders"
  // until the subjects are put back (a DLQ outage). Returns the subjects it had.
  Result<std::vector<std::string>> SetStreamSubjects(const std::string& stream,
                                                     const std::vector<std::string>& subjects);
  // Creates each stream (name → subjects) that does not exist yet: file storage, a 2-minute
  // duplicate window, min(3, nodes) replicas. For a system under test that does not create the
  // contract's streams itself, so that the simulators' JetStream publishes have a stream.
  Status CreateStreams(const std::vector<std::pair<std::string, std::vector<std::string>>>& streams);

 private:
  struct Node {
    std::string name;
    int client_port = 0;
    int cluster_port = 0;
    int http_port = 0;
    std::string config_path;
    std::string log_path;
    std::string store_dir;
    std::unique_ptr<ChildProcess> process;
  };
  explicit NatsCluster(NatsClusterOptions options) : options_(std::move(options)) {}
  Status WriteConfig(int i);
  Status Launch(int i);
  Status CheckIndex(int i) const;
  Status NodeError(int i, const std::string& what) const;
  Status PrepareSecurity();  // certificates, credentials, the config blocks
  // A client connection with client_security(), for the cluster's own calls.
  // Errors say `what` the connection was for.
  Status ConnectClient(__natsConnection** nc, const std::string& what) const;

  NatsClusterOptions options_;
  std::string binary_;  // resolved path of nats-server
  std::vector<Node> nodes_;
  TestPki pki_;
  NatsSecurity client_security_;
  std::string security_config_;  // tls and authorization blocks, in every node's config
};

}  // namespace ingestlab
