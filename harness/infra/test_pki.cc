// TestPki: the openssl command lines; see test_pki.h.
#include "harness/infra/test_pki.h"

#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "harness/infra/process.h"

namespace ingestlab {
namespace {

Status RunOpenssl(const std::string& dir, const std::string& step,
                  const std::vector<std::string>& args) {
  SpawnOptions spawn;
  spawn.program = "openssl";
  spawn.args = args;
  spawn.log_path = dir + "/openssl.log";
  spawn.working_dir = dir;
  auto child = ChildProcess::Spawn(spawn);
  if (!child.ok()) {
    return Status::NotFound("test certificates: " + child.status().message() +
                            " (apt-get install openssl)");
  }
  auto exit = (*child)->WaitExit(30'000);
  if (!exit.ok() || !exit->exited || exit->code != 0) {
    return Status::Io("test certificates: openssl " + step + " failed (" +
                      (exit.ok() ? exit->ToString() : exit.status().message()) + ")\n--- tail of " +
                      spawn.log_path + " ---\n" + ReadFileTail(spawn.log_path, 1500));
  }
  return Status::Ok();
}

std::string RandomSerial() {
  std::random_device rd;
  const uint64_t v = (static_cast<uint64_t>(rd()) << 31) ^ rd();
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v | 1));
  return buf;
}

// A key and a certificate signed by the CA, with the extensions in `ext`.
Status IssueCertificate(const TestPki& pki, const std::string& name, const std::string& subject,
                        const std::string& ext) {
  const std::string ext_file = pki.dir + "/" + name + ".ext";
  {
    std::ofstream out(ext_file);
    out << ext;
    if (!out) return Status::Io("test certificates: cannot write " + ext_file);
  }
  const std::string csr = pki.dir + "/" + name + ".csr";
  INGEST_RETURN_IF_ERROR(RunOpenssl(
      pki.dir, name + " key",
      {"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", pki.dir + "/" + name + ".key", "-out", csr, "-subj", subject}));
  INGEST_RETURN_IF_ERROR(RunOpenssl(
      pki.dir, name + " certificate",
      {"x509", "-req", "-in", csr, "-CA", pki.ca_cert, "-CAkey", pki.ca_key, "-set_serial",
       RandomSerial(), "-days", "7", "-extfile", ext_file, "-out", pki.dir + "/" + name + ".pem"}));
  chmod((pki.dir + "/" + name + ".key").c_str(), 0600);
  std::error_code ec;
  std::filesystem::remove(csr, ec);
  return Status::Ok();
}

}  // namespace

Result<TestPki> TestPki::Generate(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Io("test certificates: cannot create " + dir + ": " + ec.message());
  TestPki pki;
  pki.dir = std::filesystem::absolute(dir, ec).lexically_normal().string();
  pki.ca_cert = pki.dir + "/ca.pem";
  pki.ca_key = pki.dir + "/ca.key";
  pki.server_cert = pki.dir + "/server.pem";
  pki.server_key = pki.dir + "/server.key";
  pki.client_cert = pki.dir + "/client.pem";
  pki.client_key = pki.dir + "/client.key";
  INGEST_RETURN_IF_ERROR(
      RunOpenssl(pki.dir, "CA",
                 {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-keyout", pki.ca_key, "-out", pki.ca_cert, "-days", "7", "-subj",
                  "/CN=ingestlab test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"}));
  chmod(pki.ca_key.c_str(), 0600);
  INGEST_RETURN_IF_ERROR(IssueCertificate(pki, "server", "/CN=127.0.0.1",
                                          "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                          "basicConstraints=CA:FALSE\n"
                                          "keyUsage=critical,digitalSignature,keyEncipherment\n"
                                          "extendedKeyUsage=serverAuth\n"));
  INGEST_RETURN_IF_ERROR(IssueCertificate(pki, "client", "/CN=ingestlab-client",
                                          "basicConstraints=CA:FALSE\n"
                                          "keyUsage=critical,digitalSignature,keyEncipherment\n"
                                          "extendedKeyUsage=clientAuth\n"));
  return pki;
}

}  // namespace ingestlab
