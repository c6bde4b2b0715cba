// NATS client security: credentials files, cnats options, NKey encoding; see nats_security.h.
#include "system/nats/nats_security.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include <nats/nats.h>
#include <openssl/evp.h>

#include "common/redact.h"

namespace ingestlab {
namespace {

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) {
    --e;
  }
  return std::string(s.substr(b, e - b));
}

// The whole file, or an error naming the setting and the file (never its contents).
Result<std::string> ReadWholeFile(const std::string& setting, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::InvalidArgument(setting + ": cannot read \"" + path +
                                   "\": " + std::strerror(errno));
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Status CheckReadable(const std::string& setting, const std::string& path) {
  if (access(path.c_str(), R_OK) != 0) {
    return Status::InvalidArgument(setting + ": cannot read \"" + path +
                                   "\": " + std::strerror(errno));
  }
  return Status::Ok();
}

// cnats's own error text for the last failed call, with any secret scrubbed.
Status CnatsError(const std::string& setting, natsStatus s) {
  std::string message = setting + ": " + natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (detail != nullptr && *detail != '\0') message += std::string(" (") + detail + ")";
  return Status::InvalidArgument(RedactText(message));
}

bool IsNatsCredsFile(const std::string& text) {
  return text.find("-----BEGIN NATS USER JWT-----") != std::string::npos;
}

// The seed in an NKey seed file: the first token starting with 'S' (a bare seed, or nsc's
// file with BEGIN/END lines around it).
std::string FindSeed(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const std::string t = Trim(line);
    if (t.size() >= 58 && t[0] == 'S' && t.find(' ') == std::string::npos) return t;
  }
  return "";
}

// CRC-16/XMODEM, what NKeys append to their payload.
uint16_t Crc16(const uint8_t* data, size_t n) {
  uint16_t crc = 0;
  for (size_t i = 0; i < n; ++i) {
    crc ^= static_cast<uint16_t>(data[i]) << 8;
    for (int b = 0; b < 8; ++b) {
      crc = (crc & 0x8000) != 0 ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                                : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc;
}

constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

std::string Base32Encode(const std::vector<uint8_t>& data) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t byte : data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += kBase32Alphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kBase32Alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

bool Base32Decode(std::string_view text, std::vector<uint8_t>* out) {
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const char* p = std::strchr(kBase32Alphabet, c);
    if (c == '\0' || p == nullptr) return false;
    buffer = (buffer << 5) | static_cast<uint32_t>(p - kBase32Alphabet);
    bits += 5;
    if (bits >= 8) {
      out->push_back(static_cast<uint8_t>(buffer >> (bits - 8)));
      bits -= 8;
    }
  }
  return true;
}

constexpr uint8_t kPrefixSeed = 18 << 3;  // 'S'
constexpr uint8_t kPrefixUser = 20 << 3;  // 'U'

void AppendCrc(std::vector<uint8_t>* raw) {
  const uint16_t crc = Crc16(raw->data(), raw->size());
  raw->push_back(static_cast<uint8_t>(crc & 0xff));
  raw->push_back(static_cast<uint8_t>(crc >> 8));
}

}  // namespace

Status ReadNatsCredentialsFile(const std::string& path, NatsSecurity* security) {
  auto text = ReadWholeFile("nats-credentials", path);
  if (!text.ok()) return text.status();
  if (IsNatsCredsFile(*text)) {
    if (security->credentials.empty()) security->credentials = path;
    return Status::Ok();
  }
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  auto file_path = [&](const std::string& value) {
    if (value.empty() || value[0] == '/') return value;
    return (dir / value).lexically_normal().string();
  };
  std::istringstream in(*text);
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string t = Trim(line);
    // A comment is a whole line: a password may hold '#'.
    if (t.empty() || t[0] == '#') continue;
    const std::string where = path + ":" + std::to_string(line_no);
    const size_t eq = t.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("nats-credentials: " + where + ": expected key = value");
    }
    std::string key = Trim(t.substr(0, eq));
    for (char& c : key) c = c == '_' ? '-' : c;
    const std::string value = Trim(t.substr(eq + 1));
    auto keep_first = [&](std::string* field, const std::string& v) {
      if (field->empty()) *field = v;
    };
    if (key == "user") {
      keep_first(&security->user, value);
    } else if (key == "password") {
      RegisterSecret(value);
      keep_first(&security->password, value);
    } else if (key == "token") {
      RegisterSecret(value);
      keep_first(&security->token, value);
    } else if (key == "nkey-seed") {
      keep_first(&security->nkey_seed_file, file_path(value));
    } else if (key == "tls-ca") {
      keep_first(&security->tls_ca, file_path(value));
    } else if (key == "tls-cert") {
      keep_first(&security->tls_cert, file_path(value));
    } else if (key == "tls-key") {
      keep_first(&security->tls_key, file_path(value));
    } else if (key == "tls") {
      if (value != "true" && value != "false") {
        return Status::InvalidArgument("nats-credentials: " + where +
                                       ": tls: expected true or false");
      }
      security->tls = security->tls || value == "true";
    } else {
      return Status::InvalidArgument("nats-credentials: " + where + ": unknown key \"" + key +
                                     "\"");
    }
  }
  return Status::Ok();
}

Status WriteNatsCredentialsFile(const std::string& path, const NatsSecurity& s) {
  std::ostringstream out;
  out << "# NATS client credentials (ingestlab): key = value; see docs/ingestd.md\n";
  auto line = [&](const char* key, const std::string& value) {
    if (!value.empty()) out << key << " = " << value << "\n";
  };
  line("user", s.user);
  line("password", s.password);
  line("token", s.token);
  line("nkey-seed", s.nkey_seed_file);
  line("tls-ca", s.tls_ca);
  line("tls-cert", s.tls_cert);
  line("tls-key", s.tls_key);
  if (s.tls) out << "tls = true\n";
  return WritePrivateFile(path, out.str());
}

void RegisterNatsSecrets(const NatsSecurity& security) {
  RegisterSecret(security.password);
  RegisterSecret(security.token);
}

std::string DescribeNatsSecurity(const NatsSecurity& s) {
  std::string out;
  auto add = [&](const char* what) { out += (out.empty() ? "" : "+") + std::string(what); };
  if (!s.credentials.empty()) add("credentials file");
  if (!s.user.empty()) add("user");
  if (!s.token.empty()) add("token");
  if (!s.nkey_seed_file.empty()) add("nkey");
  if (s.tls || !s.tls_ca.empty() || !s.tls_cert.empty()) add("tls");
  if (!s.tls_cert.empty()) add("client certificate");
  return out.empty() ? "none" : out;
}

Status ApplyNatsSecurity(natsOptions* opts, const NatsSecurity& given) {
  NatsSecurity s = given;
  if (!s.credentials.empty()) {
    auto text = ReadWholeFile("nats-credentials", s.credentials);
    if (!text.ok()) return text.status();
    if (IsNatsCredsFile(*text)) {
      const natsStatus st =
          natsOptions_SetUserCredentialsFromFiles(opts, s.credentials.c_str(), nullptr);
      if (st != NATS_OK) return CnatsError("nats-credentials", st);
    } else {
      INGEST_RETURN_IF_ERROR(ReadNatsCredentialsFile(s.credentials, &s));
    }
  }
  RegisterNatsSecrets(s);
  if (!s.user.empty()) {
    const natsStatus st = natsOptions_SetUserInfo(
        opts, s.user.c_str(), s.password.empty() ? nullptr : s.password.c_str());
    if (st != NATS_OK) return CnatsError("nats-user", st);
  } else if (!s.password.empty()) {
    return Status::InvalidArgument("nats-password: given without nats-user");
  }
  if (!s.token.empty()) {
    const natsStatus st = natsOptions_SetToken(opts, s.token.c_str());
    if (st != NATS_OK) return CnatsError("nats-token", st);
  }
  if (!s.nkey_seed_file.empty()) {
    auto text = ReadWholeFile("nats-nkey-seed", s.nkey_seed_file);
    if (!text.ok()) return text.status();
    auto pub = NKeyPublicKeyFromSeed(FindSeed(*text));
    if (!pub.ok()) return pub.status().Annotate("nats-nkey-seed: " + s.nkey_seed_file);
    const natsStatus st = natsOptions_SetNKeyFromSeed(opts, pub->c_str(), s.nkey_seed_file.c_str());
    if (st != NATS_OK) return CnatsError("nats-nkey-seed", st);
  }
  const bool tls = s.tls || !s.tls_ca.empty() || !s.tls_cert.empty() || !s.tls_key.empty();
  if (tls) {
    const natsStatus st = natsOptions_SetSecure(opts, true);
    if (st != NATS_OK) return CnatsError("nats-tls", st);
  }
  if (!s.tls_ca.empty()) {
    INGEST_RETURN_IF_ERROR(CheckReadable("nats-tls-ca", s.tls_ca));
    const natsStatus st = natsOptions_LoadCATrustedCertificates(opts, s.tls_ca.c_str());
    if (st != NATS_OK) return CnatsError("nats-tls-ca", st);
  }
  if (!s.tls_cert.empty() || !s.tls_key.empty()) {
    if (s.tls_cert.empty()) return Status::InvalidArgument("nats-tls-key: needs nats-tls-cert");
    if (s.tls_key.empty()) return Status::InvalidArgument("nats-tls-cert: needs nats-tls-key");
    INGEST_RETURN_IF_ERROR(CheckReadable("nats-tls-cert", s.tls_cert));
    INGEST_RETURN_IF_ERROR(CheckReadable("nats-tls-key", s.tls_key));
    const natsStatus st =
        natsOptions_LoadCertificatesChain(opts, s.tls_cert.c_str(), s.tls_key.c_str());
    if (st != NATS_OK) return CnatsError("nats-tls-cert", st);
  }
  return Status::Ok();
}

std::string EncodeNKeyUserSeed(std::string_view raw_seed32) {
  std::vector<uint8_t> raw = {static_cast<uint8_t>(kPrefixSeed | (kPrefixUser >> 5)),
                              static_cast<uint8_t>((kPrefixUser & 31) << 3)};
  raw.insert(raw.end(), raw_seed32.begin(), raw_seed32.end());
  AppendCrc(&raw);
  return Base32Encode(raw);
}

Result<std::string> NKeyPublicKeyFromSeed(std::string_view seed) {
  std::vector<uint8_t> raw;
  if (seed.empty() || !Base32Decode(seed, &raw) || raw.size() != 36) {
    return Status::InvalidArgument("not an NKey seed");
  }
  const uint16_t crc = static_cast<uint16_t>(raw[34] | (raw[35] << 8));
  if (Crc16(raw.data(), 34) != crc) return Status::InvalidArgument("NKey seed checksum mismatch");
  if ((raw[0] & 0xf8) != kPrefixSeed) return Status::InvalidArgument("not an NKey seed");
  const uint8_t prefix = static_cast<uint8_t>(((raw[0] & 7) << 5) | ((raw[1] & 0xf8) >> 3));
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, raw.data() + 2, 32), EVP_PKEY_free);
  std::fill(raw.begin(), raw.end(), 0);
  if (!key) return Status::InvalidArgument("NKey seed: not an Ed25519 key");
  std::vector<uint8_t> pub = {prefix};
  pub.resize(33);
  size_t len = 32;
  if (EVP_PKEY_get_raw_public_key(key.get(), pub.data() + 1, &len) != 1 || len != 32) {
    return Status::InvalidArgument("NKey seed: cannot derive the public key");
  }
  AppendCrc(&pub);
  return Base32Encode(pub);
}

}  // namespace ingestlab
