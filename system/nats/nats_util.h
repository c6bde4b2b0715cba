// Small helpers shared by the JetStream adapter's files: natsStatus -> Status, URL lists,
// and the stream sequence / delivery count carried in a JetStream message's reply subject.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nats/nats.h>

#include "common/status.h"

namespace ingestlab::nats_util {

// "nats: <what>: <status text> (<last error>, jetstream error <code>)"; Transient for
// timeouts, disconnections and missing responders, Io otherwise.
Status ToStatus(natsStatus s, const std::string& what, jsErrCode jerr = static_cast<jsErrCode>(0));

// True for the failures a disconnected or restarting broker causes.
bool IsTransient(natsStatus s);

// Splits "nats://a:1, nats://b:2" (commas, optional spaces) into URLs.
std::vector<std::string> SplitUrls(const std::vector<std::string>& urls);

// From a JetStream ack reply subject ("$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.
// <consumer seq>.<timestamp>.<pending>", or the longer form with domain and account hash):
// the stream sequence, the number of deliveries and (when timestamp_ns is given) the time the
// message was stored, in unix ns. False if the subject is not one.
bool ParseAckReply(std::string_view reply, uint64_t* stream_seq, int64_t* delivered,
                   int64_t* timestamp_ns = nullptr);

}  // namespace ingestlab::nats_util
