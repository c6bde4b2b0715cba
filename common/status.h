// Status and Result<T>: expected failures as values, never exceptions.
//
// A Status is either OK or carries a Code and a message naming what was wrong and where
// ("envelope: field 'timestamp' must be RFC 3339, got \"yesterday\""). Adapters convert
// natsStatus, rd_kafka_resp_err_t and SQLite codes into a Status at the boundary.
// Thread-safety: values; safe to copy between threads.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace ingestlab {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,  // bad input from a user or a message: not retryable
    kParse,            // bytes are not a well-formed envelope: dead-letter reason "parse"
    kSchema,           // well-formed but rejected by its schema: dead-letter reason "schema"
    kTransient,        // may succeed if retried (SQLITE_BUSY, timeout, broker unavailable)
    kWaiting,          // a message waits for another (an event it depends on is not applied
                       // yet): retried like kTransient, but the failure is the message's own
    kNotFound,
    kAlreadyExists,
    kIo,               // file, socket or process failure
    kInternal,         // a bug: an invariant did not hold
  };

  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status Parse(std::string m) { return {Code::kParse, std::move(m)}; }
  static Status Schema(std::string m) { return {Code::kSchema, std::move(m)}; }
  static Status Transient(std::string m) { return {Code::kTransient, std::move(m)}; }
  static Status Waiting(std::string m) { return {Code::kWaiting, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status Io(std::string m) { return {Code::kIo, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // Retrying may succeed: kTransient (the infrastructure) or kWaiting (the message's turn).
  bool is_transient() const { return code_ == Code::kTransient || code_ == Code::kWaiting; }

  // "schema: field 'amount' must be a number" (or "ok").
  std::string ToString() const;
  static const char* CodeName(Code code);

  // Prefixes the message with context: Status::Io("refused").Annotate("nats 127.0.0.1:4222").
  Status Annotate(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Result<T>: a T or a non-OK Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}    // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ingestlab

#define INGEST_RETURN_IF_ERROR(expr)        \
  do {                                      \
    ::ingestlab::Status _st = (expr);       \
    if (!_st.ok()) return _st;              \
  } while (0)
