// ChildProcess: fork/exec with a process group, a death signal and a log file; see process.h.
#include "harness/infra/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/log.h"

extern char** environ;

namespace ingestlab {

std::string ExitStatus::ToString() const {
  if (exited) return "exit " + std::to_string(code);
  return "signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
}

std::string ReadFileTail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  const std::streamoff start = size > static_cast<std::streamoff>(max_bytes)
                                   ? size - static_cast<std::streamoff>(max_bytes)
                                   : 0;
  in.seekg(start);
  std::string out(static_cast<size_t>(size - start), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

namespace {

// PR_SET_PDEATHSIG fires when the *thread* that forked exits, not the process. So every fork
// happens on this one thread, which lives as long as the process: a child started from a
// short-lived worker thread is not killed when that thread ends.
class SpawnerThread {
 public:
  static SpawnerThread& Get() {
    static SpawnerThread* instance = new SpawnerThread();  // never destroyed: outlives callers
    return *instance;
  }
  template <typename F>
  auto Run(F&& f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::forward<F>(f));
    auto result = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.emplace_back([&task] { task(); });
    }
    cv_.notify_one();
    return result.get();
  }

 private:
  SpawnerThread() {
    std::thread([this] {
      while (true) {
        std::function<void()> job;
        {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [this] { return !queue_.empty(); });
          job = std::move(queue_.front());
          queue_.pop_front();
        }
        job();
      }
    }).detach();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
};

}  // namespace

Result<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(const SpawnOptions& options) {
  return SpawnerThread::Get().Run([&options] { return SpawnOnThisThread(options); });
}

Result<std::unique_ptr<ChildProcess>> ChildProcess::SpawnOnThisThread(const SpawnOptions& options) {
  if (options.program.empty()) return Status::InvalidArgument("spawn: empty program name");

  // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
  std::vector<std::string> argv_storage;
  argv_storage.push_back(options.program);
  argv_storage.insert(argv_storage.end(), options.args.begin(), options.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::map<std::string, std::string> env_map;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    env_map[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : options.env) env_map[k] = v;
  std::vector<std::string> env_storage;
  for (const auto& [k, v] : env_map) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  const std::string log_path = options.log_path.empty() ? "/dev/null" : options.log_path;
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return Status::Io("spawn " + options.program + ": can't open log " + log_path + ": " +
                      strerror(errno));
  }
  // The child writes errno here if exec fails; a successful exec closes it (CLOEXEC).
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
    close(log_fd);
    return Status::Io("spawn " + options.program + ": pipe: " + strerror(errno));
  }
  const pid_t parent = getpid();
  const char* workdir = options.working_dir.empty() ? nullptr : options.working_dir.c_str();
  // Highest descriptor to mark close-on-exec by hand where close_range is missing.
  struct rlimit nofile {};
  const int max_fd = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
                         ? static_cast<int>(std::min<rlim_t>(nofile.rlim_cur, 1 << 20))
                         : 1 << 16;

  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(log_fd);
    close(exec_pipe[0]);
    close(exec_pipe[1]);
    return Status::Io("spawn " + options.program + ": fork: " + strerror(err));
  }
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    // Undo signal state a test framework may have set in the parent.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    // The child gets stdin, stdout and stderr only. Descriptors opened without O_CLOEXEC by
    // libraries in this process must not outlive the exec. librdkafka's mock cluster accept()s
    // without it: a child holding a copy of a mock broker's connection keeps that connection open
    // after the mock closed it (broker down), so the client never learns it was cut and waits
    // on it for good.
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      for (int fd = 3; fd < max_fd; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    if (workdir && chdir(workdir) != 0) {
      int err = errno;
      (void)!write(exec_pipe[1], &err, sizeof(err));
      _exit(127);
    }
    execvpe(argv[0], argv.data(), envp.data());
    int err = errno;
    (void)!write(exec_pipe[1], &err, sizeof(err));
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent, so the group exists before we ever signal it
  close(log_fd);
  close(exec_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(exec_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(exec_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    int status;
    waitpid(pid, &status, 0);
    return Status::Io("spawn " + options.program + ": " + strerror(child_errno));
  }
  LOG(kDebug, "process") << "started " << options.program << " pid " << pid << " log " << log_path;
  return std::unique_ptr<ChildProcess>(new ChildProcess(options, pid));
}

ChildProcess::~ChildProcess() {
  if (!reaped_) {
    kill(-pid_, SIGKILL);  // the whole group: helpers the child may have started
    kill(pid_, SIGKILL);
    TryReap(/*block=*/true);
  } else {
    kill(-pid_, SIGKILL);  // stray grandchildren, if any; harmless when the group is gone
  }
}

bool ChildProcess::TryReap(bool block) {
  if (reaped_) return true;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return false;
  reaped_ = true;
  if (r < 0) {  // not our child any more (ECHILD): treat as gone
    exit_status_ = ExitStatus{false, 0, 0};
    return true;
  }
  if (WIFEXITED(status)) {
    exit_status_ = ExitStatus{true, WEXITSTATUS(status), 0};
  } else if (WIFSIGNALED(status)) {
    exit_status_ = ExitStatus{false, 0, WTERMSIG(status)};
  }
  return true;
}

Status ChildProcess::Signal(int sig) {
  if (TryReap(false)) {
    return Status::NotFound(options_.program + " (pid " + std::to_string(pid_) +
                            ") has already exited: " + exit_status_.ToString());
  }
  if (kill(pid_, sig) != 0) {
    return Status::Io("kill " + std::to_string(pid_) + ": " + strerror(errno));
  }
  return Status::Ok();
}

namespace {

// True when every task of `pid` reports state T (stopped) or t (traced) in /proc.
bool AllThreadsStopped(pid_t pid) {
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = opendir(task_dir.c_str());
  if (dir == nullptr) return false;
  bool stopped = true;
  int tasks = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream in(task_dir + "/" + entry->d_name + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // "pid (comm) S ...": comm may hold spaces and parentheses, so read after the last ')'.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) continue;  // task just ended
    ++tasks;
    const char state = stat[close + 2];
    if (state != 'T' && state != 't') {
      stopped = false;
      break;
    }
  }
  closedir(dir);
  return stopped && tasks > 0;
}

}  // namespace

Status ChildProcess::Suspend(int64_t timeout_ms) {
  INGEST_RETURN_IF_ERROR(Signal(SIGSTOP));
  Clock& clock = Clock::System();
  const int64_t deadline = clock.NowMonoNanos() + timeout_ms * 1'000'000;
  while (!AllThreadsStopped(pid_)) {
    if (TryReap(false)) {
      return Status::NotFound(options_.program + " (pid " + std::to_string(pid_) +
                              ") exited while being paused: " + exit_status_.ToString());
    }
    if (clock.NowMonoNanos() >= deadline) {
      return Status::Transient(options_.program + " (pid " + std::to_string(pid_) +
                               ") was sent SIGSTOP but not all its threads stopped within " +
                               std::to_string(timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Status::Ok();
}

bool ChildProcess::Running() { return !TryReap(false); }

Result<ExitStatus> ChildProcess::WaitExit(int64_t timeout_ms) {
  Clock& clock = Clock::System();
  const int64_t deadline = clock.NowMonoNanos() + timeout_ms * 1'000'000;
  while (!TryReap(false)) {
    if (clock.NowMonoNanos() >= deadline) {
      return Status::Transient(options_.program + " (pid " + std::to_string(pid_) +
                               ") still running after " + std::to_string(timeout_ms) + " ms");
    }
    clock.SleepFor(std::chrono::milliseconds(5));
  }
  return exit_status_;
}

ExitStatus ChildProcess::Stop(int64_t grace_ms) {
  if (TryReap(false)) return exit_status_;
  kill(pid_, SIGCONT);  // a paused process can't handle SIGTERM
  kill(pid_, SIGTERM);
  auto ended = WaitExit(grace_ms);
  if (ended.ok()) return ended.value();
  LOG(kWarn, "process") << options_.program << " (pid " << pid_ << ") ignored SIGTERM for "
                        << grace_ms << " ms; killing it";
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  TryReap(true);
  return exit_status_;
}

std::string ChildProcess::LogTail(size_t max_bytes) const {
  return ReadFileTail(options_.log_path, max_bytes);
}

}  // namespace ingestlab
