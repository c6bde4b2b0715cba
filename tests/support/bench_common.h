// Setup shared by the in-process pipeline benchmarks: the embedded schemas and a scratch
// directory per program run.
// Thread-safety: one benchmark thread at a time.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>

#include "system/schema.h"

namespace ingestlab::testing {

// The schemas ingestd embeds; nullptr, with the benchmark marked as failed, when they do not
// load.
inline std::unique_ptr<SchemaRegistry> EmbeddedSchemas(benchmark::State& state) {
  auto schemas = SchemaRegistry::LoadEmbedded();
  if (!schemas.ok()) {
    state.SkipWithError(schemas.status().ToString().c_str());
    return nullptr;
  }
  return std::move(schemas).value();
}

// <temp>/<tag>_<pid>: where a benchmark keeps its databases (not created here).
inline std::filesystem::path BenchScratchDir(const std::string& tag) {
  return std::filesystem::temp_directory_path() / (tag + "_" + std::to_string(::getpid()));
}

}  // namespace ingestlab::testing
