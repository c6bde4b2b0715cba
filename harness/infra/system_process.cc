// SystemProcess: start, wait for the ready URL, signal, restart.
#include "harness/infra/system_process.h"

#include <httplib.h>
#include <signal.h>

#include <chrono>

#include "common/clock.h"
#include "common/log.h"

namespace ingestlab {

int SignalNumber(const std::string& name) {
  if (name == "TERM") return SIGTERM;
  if (name == "INT") return SIGINT;
  if (name == "QUIT") return SIGQUIT;
  if (name == "HUP") return SIGHUP;
  if (name == "KILL") return SIGKILL;
  return -1;
}

Status HttpReady(const std::string& url, int64_t timeout_ms) {
  constexpr std::string_view kScheme = "http://";
  if (url.compare(0, kScheme.size(), kScheme) != 0) {
    return Status::InvalidArgument("not an http:// URL: " + url);
  }
  const size_t slash = url.find('/', kScheme.size());
  httplib::Client client(url.substr(0, slash));
  client.set_connection_timeout(timeout_ms / 1000, (timeout_ms % 1000) * 1000);
  client.set_read_timeout(timeout_ms / 1000, (timeout_ms % 1000) * 1000);
  auto res = client.Get(slash == std::string::npos ? "/" : url.substr(slash));
  if (!res) return Status::Transient(httplib::to_string(res.error()));
  if (res->status < 200 || res->status > 299) {
    return Status::Transient("HTTP " + std::to_string(res->status));
  }
  return Status::Ok();
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
    Status ready = HttpReady(options_.ready_http, 500);
    if (ready.ok()) return Status::Ok();
    last_problem = ready.message();
    if (clock.NowMonoNanos() >= deadline) break;
    clock.SleepFor(std::chrono::milliseconds(100));
  }
  const std::string tail = process_->LogTail(1500);
  process_->Stop(1000);
  return Status::Io(options_.name + " not ready within " +
                    std::to_string(options_.ready_timeout_ms) + " ms: " + options_.ready_http +
                    " answered " + last_problem + "; log " + options_.log_path + ":\n" + tail);
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
