// SystemProcess: start, wait for the ready URL, signal, restart.
#include "harness/infra/system_process.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "common/clock.h"
#include "common/log.h"

namespace ingestlab {
namespace fs = std::filesystem;

int SignalNumber(const std::string& name) {
  if (name == "TERM") return SIGTERM;
  if (name == "INT") return SIGINT;
  if (name == "QUIT") return SIGQUIT;
  if (name == "HUP") return SIGHUP;
  if (name == "KILL") return SIGKILL;
  return -1;
}

std::string FindIngestdBinary() {
  if (const char* env = std::getenv("INGESTLAB_INGESTD"); env && *env) return env;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path dir = self.parent_path();
    for (const fs::path& candidate :
         {dir / ".." / "system" / "ingestd", dir / "ingestd", dir / ".." / "bin" / "ingestd"}) {
      if (fs::exists(candidate, ec) && access(candidate.c_str(), X_OK) == 0) {
        return fs::weakly_canonical(candidate, ec).string();
      }
    }
  }
  return "ingestd";
}

Result<PrometheusSample> SystemProcess::FetchMetrics(int timeout_ms) const {
  if (options_.metrics_http.empty()) return Status::NotFound(options_.name + " has no metrics");
  auto body = HttpGetText(options_.metrics_http, timeout_ms, options_.name);
  if (!body.ok()) return body.status();
  return ParsePrometheusText(*body);
}

Result<std::string> SystemProcess::FetchHealth(int timeout_ms) const {
  if (options_.ready_http.empty()) return Status::NotFound(options_.name + " has no ready URL");
  return HttpGetText(options_.ready_http, timeout_ms, options_.name);
}

Result<std::unique_ptr<SystemProcess>> SystemProcess::Start(SystemProcessOptions options) {
  if (options.command.empty() || options.command.front().empty()) {
    return Status::InvalidArgument(options.name + ": no command to start");
  }
  std::unique_ptr<SystemProcess> p(new SystemProcess(std::move(options)));
  INGEST_RETURN_IF_ERROR(p->Launch());
  return p;
}

bool SystemProcess::running() { return process_ && process_->Running(); }

Status SystemProcess::Launch() {
  SpawnOptions spawn;
  spawn.program = options_.command.front();
  spawn.args.assign(options_.command.begin() + 1, options_.command.end());
  spawn.env = options_.env;
  spawn.log_path = options_.log_path;
  auto child = ChildProcess::Spawn(spawn);
  if (!child.ok()) return child.status().Annotate(options_.name + ": cannot start");
  process_ = std::move(child).value();
  Clock& clock = Clock::System();
  const int64_t deadline = clock.NowMonoNanos() + options_.ready_timeout_ms * 1'000'000;
  std::string last_problem = "no answer yet";
  for (;;) {
    if (!process_->Running()) {
      auto exit = process_->WaitExit(0);
      return Status::Io(options_.name + " exited during start-up (" +
                        (exit.ok() ? exit->ToString() : std::string("?")) + "); log " +
                        options_.log_path + ":\n" + process_->LogTail(1500));
    }
    if (options_.ready_http.empty()) return Status::Ok();
    auto ready = HttpGetText(options_.ready_http, 500, options_.name);
    if (ready.ok()) return Status::Ok();
    last_problem = ready.status().message();
    if (clock.NowMonoNanos() >= deadline) break;
    clock.SleepFor(std::chrono::milliseconds(100));
  }
  const std::string tail = process_->LogTail(1500);
  process_->Stop(1000);
  return Status::Io(options_.name + " not ready within " +
                    std::to_string(options_.ready_timeout_ms) + " ms (" + last_problem +
                    "); log " + options_.log_path + ":\n" + tail);
}

Status SystemProcess::Kill() {
  if (!running()) return Status::Ok();
  INGEST_RETURN_IF_ERROR(process_->Signal(SIGKILL));
  auto r = process_->WaitExit(5000);
  return r.ok() ? Status::Ok() : r.status().Annotate(options_.name);
}

Result<ExitStatus> SystemProcess::Terminate() {
  if (!process_) return Status::NotFound(options_.name + " was never started");
  if (!process_->Running()) return process_->WaitExit(0);
  process_->Signal(SIGCONT);  // a paused process cannot handle its stop signal
  process_->Signal(options_.stop_signal);
  auto ended = process_->WaitExit(options_.stop_grace_ms);
  if (ended.ok()) return ended;
  LOG(kWarn, "harness") << options_.name << " ignored signal " << options_.stop_signal << " for "
                        << options_.stop_grace_ms << " ms; killing it";
  return process_->Stop(0);
}

Status SystemProcess::Pause() {
  if (!running()) return Status::NotFound(options_.name + " is not running");
  return process_->Suspend();
}

Status SystemProcess::Resume() {
  if (!running()) return Status::NotFound(options_.name + " is not running");
  return process_->Signal(SIGCONT);
}

Status SystemProcess::Restart() {
  if (running()) {
    auto r = Terminate();
    if (!r.ok()) return r.status();
  }
  return Launch();
}

Status SystemProcess::StartAgain() {
  if (running()) return Status::AlreadyExists(options_.name + " is already running");
  return Launch();
}

}  // namespace ingestlab
