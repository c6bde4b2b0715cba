// natsStatus conversion, URL splitting and ack-reply parsing; see nats_util.h.
#include "system/nats/nats_util.h"

#include <charconv>

#include "common/redact.h"

namespace ingestlab::nats_util {

bool IsTransient(natsStatus s) {
  switch (s) {
    case NATS_TIMEOUT:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NO_SERVER:
    case NATS_NO_RESPONDERS:
    case NATS_NOT_YET_CONNECTED:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_SLOW_CONSUMER:
    case NATS_INSUFFICIENT_BUFFER:
      return true;
    default:
      return false;
  }
}

Status ToStatus(natsStatus s, const std::string& what, jsErrCode jerr) {
  if (s == NATS_OK) return Status::Ok();
  std::string message = "nats: " + what + ": " + natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (detail && *detail && std::string(detail) != natsStatus_GetText(s)) {
    message += std::string(" (") + detail + ")";
  }
  if (jerr != 0) message += " (jetstream error " + std::to_string(static_cast<int>(jerr)) + ")";
  // cnats's last error may name the server URL as configured, credentials included.
  message = RedactText(message);
  return IsTransient(s) ? Status::Transient(message) : Status::Io(message);
}

std::vector<std::string> SplitUrls(const std::vector<std::string>& urls) {
  std::vector<std::string> out;
  for (const std::string& item : urls) {
    size_t start = 0;
    while (start <= item.size()) {
      size_t comma = item.find(',', start);
      if (comma == std::string::npos) comma = item.size();
      std::string url = item.substr(start, comma - start);
      const size_t b = url.find_first_not_of(" \t");
      const size_t e = url.find_last_not_of(" \t");
      if (b != std::string::npos) out.push_back(url.substr(b, e - b + 1));
      start = comma + 1;
    }
  }
  return out;
}

bool ParseAckReply(std::string_view reply, uint64_t* stream_seq, int64_t* delivered,
                   int64_t* timestamp_ns) {
  std::string_view tokens[16];
  size_t n = 0;
  size_t start = 0;
  while (n < 16) {
    const size_t dot = reply.find('.', start);
    tokens[n++] = reply.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (n < 9 || tokens[0] != "$JS" || tokens[1] != "ACK") return false;
  // 9 tokens: the original form. 11 or more: $JS.ACK.<domain>.<account hash>.<stream>...
  if (n == 10) return false;
  const size_t base = n == 9 ? 4 : 6;
  if (base + 3 >= n) return false;
  auto parse = [](std::string_view t, auto* out) {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), *out);
    return ec == std::errc() && p == t.data() + t.size();
  };
  return parse(tokens[base], delivered) && parse(tokens[base + 1], stream_seq) &&
         (timestamp_ns == nullptr || parse(tokens[base + 3], timestamp_ns));
}

}  // namespace ingestlab::nats_util
