#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <mutex>

#include "common/personal_data.h"
#include "common/redact.h"

namespace ingestlab {
namespace {

LogLevel InitialLevel() {
  LogLevel level = LogLevel::kInfo;
  if (const char* env = std::getenv("INGEST_LOG_LEVEL")) ParseLogLevel(env, &level);
  return level;
}

std::atomic<LogLevel>& Level() {
  static std::atomic<LogLevel> level{InitialLevel()};
  return level;
}

std::mutex& NameMutex() {
  static std::mutex mu;
  return mu;
}

std::string& ProcessName() {
  static std::string name;
  return name;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO ";
    case LogLevel::kWarn:
      return "WARN ";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?";
}

}  // namespace

void SetLogLevel(LogLevel level) { Level() = level; }
LogLevel GetLogLevel() { return Level(); }

bool ParseLogLevel(const std::string& s, LogLevel* out) {
  if (s == "debug")
    *out = LogLevel::kDebug;
  else if (s == "info")
    *out = LogLevel::kInfo;
  else if (s == "warn")
    *out = LogLevel::kWarn;
  else if (s == "error")
    *out = LogLevel::kError;
  else
    return false;
  return true;
}

void SetLogProcessName(const std::string& name) {
  std::lock_guard<std::mutex> lock(NameMutex());
  ProcessName() = name;
}

void LogLine(LogLevel level, const std::string& component, const std::string& message) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t secs = system_clock::to_time_t(now);
  const int millis =
      static_cast<int>(duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  std::string line;
  line.reserve(64 + message.size());
  line += stamp;
  line += ' ';
  line += LevelName(level);
  line += ' ';
  {
    std::lock_guard<std::mutex> lock(NameMutex());
    if (!ProcessName().empty()) {
      line += ProcessName();
      line += ' ';
    }
  }
  line += component;
  line += ": ";
  // Every record passes the redaction rule (common/redact.h): no caller can log a secret; nor a
  // customer's e-mail address or phone number (common/personal_data.h).
  line += MaskPersonalData(RedactText(message));
  line += '\n';
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace ingestlab
