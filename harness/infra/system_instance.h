// SystemInstance: one process of the system under test, as the fault timeline sees it — an
// ingestd (IngestdProcess) or a process of a system of the user's own (SystemProcess). The
// timeline's kill/stop/restart/pause/resume actions work on either through this interface.
// Thread-safety: one controlling thread for the actions; name() from any thread.
#pragma once

#include <string>

#include "common/status.h"
#include "harness/infra/process.h"

namespace ingestlab {

class SystemInstance {
 public:
  virtual ~SystemInstance() = default;

  virtual const std::string& name() const = 0;  // "ingestd-0", "system-1"
  virtual bool running() = 0;
  virtual Status Kill() = 0;                   // SIGKILL, reaped
  virtual Result<ExitStatus> Terminate() = 0;  // its stop signal; SIGKILL after the grace time
  virtual Status Pause() = 0;                  // SIGSTOP
  virtual Status Resume() = 0;                 // SIGCONT
  virtual Status Restart() = 0;                // Terminate if running, then start and wait
  virtual Status StartAgain() = 0;             // start after Kill/Terminate, and wait
};

}  // namespace ingestlab
