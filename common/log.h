// Logging: one line per record on stderr, "2026-11-23T19:30:01.123Z INFO  nats: reconnected ...".
// Every record is redacted first (common/redact.h: URL credentials, secret KEY=VALUE pairs,
// registered secret values), so no caller can log a secret.
// Thread-safety: safe from any thread; each record is written with one write(2).
#pragma once

#include <sstream>
#include <string>

namespace ingestlab {

enum class LogLevel { kDebug = 0, kInfo, kWarn, kError };

// Records below the level are dropped. Default kInfo; INGEST_LOG_LEVEL=debug|info|warn|error.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "debug", "info", "warn", "error". Returns false on anything else.
bool ParseLogLevel(const std::string& s, LogLevel* out);
// Prefixes every record with this process's name, e.g. "ingestd[2]".
void SetLogProcessName(const std::string& name);
void LogLine(LogLevel level, const std::string& component, const std::string& message);

namespace detail {
class LogRecord {
 public:
  LogRecord(LogLevel level, const char* component) : level_(level), component_(component) {}
  ~LogRecord() { LogLine(level_, component_, stream_.str()); }
  std::ostringstream& stream() { return stream_; }

 private:
  LogLevel level_;
  const char* component_;
  std::ostringstream stream_;
};
}  // namespace detail

}  // namespace ingestlab

// LOG(kInfo, "nats") << "connected to " << url;
#define LOG(level, component)                                              \
  if (::ingestlab::LogLevel::level < ::ingestlab::GetLogLevel()) {         \
  } else                                                                   \
    ::ingestlab::detail::LogRecord(::ingestlab::LogLevel::level, component).stream()
