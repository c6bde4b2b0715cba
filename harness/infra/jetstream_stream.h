// The JetStream stream the harness and its tests create for ingestd: file storage and the
// 2-minute duplicate window of CONTRACT.md section 2 (ingestd creates its own the same way).
// Thread-safety: as the jsCtx given.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nats/nats.h>

namespace ingestlab {

// Adds stream `name` over `subjects` with `replicas` copies. *jerr (when not null) receives the
// JetStream error, e.g. JSStreamNameExistErr for a stream that is there already.
inline natsStatus AddFileStream(jsCtx* js, const std::string& name,
                                const std::vector<std::string>& subjects, int replicas,
                                jsErrCode* jerr) {
  std::vector<const char*> ptrs;
  for (const std::string& subject : subjects) ptrs.push_back(subject.c_str());
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = name.c_str();
  cfg.Subjects = ptrs.data();
  cfg.SubjectsLen = static_cast<int>(ptrs.size());
  cfg.Storage = js_FileStorage;
  cfg.Duplicates = INT64_C(120'000'000'000);  // 2 minutes
  cfg.Replicas = replicas;
  jsStreamInfo* si = nullptr;
  const natsStatus s = js_AddStream(&si, js, &cfg, nullptr, jerr);
  if (si) jsStreamInfo_Destroy(si);
  return s;
}

}  // namespace ingestlab
