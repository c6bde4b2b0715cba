// Run directories: what ingestlab may delete, and which names may become paths.
//
// ingestlab replaces a directory (run, replay --out, shrink --out and its DIR.tries/) only
// when it does not exist, is empty, or is a run directory. A run directory is a directory
// holding the marker file `.ingestlab-run` (written first into every directory ingestlab
// creates for a run or for shrink's attempts) or, for run directories written before the marker
// existed, `result.json`, `events.log` or `events.log.gz`. Anything else (a file, a symbolic
// link, a directory of someone's files) is refused with a one-line error, and nothing is deleted.
//
// A scenario name becomes part of a path (<out>/<scenario>-<seed>, <log>-replay): it must be 1
// to 128 characters of A-Z a-z 0-9 . _ -, not start with '.', and not contain "..". Names read
// from an event log's header are checked before use.
// Thread-safety: pure functions over the file system.
#pragma once

#include <string>

#include "common/status.h"

namespace ingestlab {

// The marker file ingestlab writes into each directory it creates for a run.
inline constexpr const char* kRunDirMarker = ".ingestlab-run";
inline constexpr size_t kMaxScenarioNameLength = 128;

// OK for a valid scenario name; InvalidArgument naming the name (control characters escaped)
// and the rule otherwise.
Status ValidateScenarioName(const std::string& name);

// True when `dir` is a directory holding the marker, result.json, events.log or events.log.gz.
bool IsRunDirectory(const std::string& dir);

// OK when ingestlab may delete and recreate `dir`: it does not exist, is an empty directory, or
// is a run directory. InvalidArgument otherwise, e.g.
// "out/x exists and is not an ingestlab run directory (no .ingestlab-run, result.json or
// events.log in it): refusing to replace it".
Status CheckReplaceable(const std::string& dir);

// CheckReplaceable, then removes `dir` and creates it afresh (with parents) holding the marker
// file, whose text says what made it (`what`, e.g. "run", "shrink attempts").
Status PrepareRunDirectory(const std::string& dir, const std::string& what = "run");

}  // namespace ingestlab
