// Importing foreign message dumps into the event log format. ParseKcatLine reads one line of
// `kcat -C -J` output (topic, partition, offset, key, payload, headers, ts) into a publish record
// (transport kafka, expected "applied"). Pure functions; safe from any thread.
#pragma once

#include <string>

#include "common/status.h"
#include "simulators/event_log.h"

namespace ingestlab::harness {

// first_ts_ms: the ts of the first imported message (offset_ms is relative to it); pass -1 for
// the first line, then the returned record's published_ms holds its absolute ts.
Result<sim::PublishRecord> ParseKcatLine(const std::string& line, int64_t first_ts_ms);

}  // namespace ingestlab::harness
