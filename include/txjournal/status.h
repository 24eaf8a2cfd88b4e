// txjournal: error values.
//
// Every fallible call returns a Status or a Result<T>. Both are
// [[nodiscard]]. No exception crosses the public API.
//
// Thread rules: plain values, no shared state: any thread; a value is
// written by one thread at a time, as any C++ value. Nothing here fails
// (value() on an error Result is a programming error, checked by an
// assertion).
#ifndef TXJOURNAL_STATUS_H_
#define TXJOURNAL_STATUS_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "txjournal/export.h"

namespace txj {

// The closed set of error codes. Values are stable (they appear in tool exit
// paths and logs): do not change the values of existing entries.
enum class Code : std::uint8_t {
  kOk = 0,
  kInvalidArgument = 1,  // the caller passed something unusable
  kInvalidState = 2,     // the call is not allowed now (ended transaction, open child, ...)
  kNotFound = 3,         // a named thing does not exist
  kCorruption = 4,       // stored data is damaged; message names file and offset
  kTruncated = 5,        // requested history has been dropped (compaction, retention)
  kClosed = 6,           // the cursor, sink or journal is closed
  kBusy = 7,             // another writer holds the journal or the write transaction
  kTimedOut = 8,         // a deadline passed
  kCancelled = 9,        // a stop token fired
  kIOError = 10,         // the operating system reported an error
  kNoSpace = 11,         // the file system is full (ENOSPC)
  kNotSupported = 12,    // a format or feature version this build does not know
  kFailed = 13,          // the journal failed closed after a failed write or sync; reopen it
};

// Returns a short stable name for `code`, such as "corruption".
TXJ_EXPORT std::string_view CodeName(Code code);

class [[nodiscard]] TXJ_EXPORT Status {
 public:
  // OK costs one byte and an empty string.
  Status() = default;

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
  static Status InvalidState(std::string msg) { return {Code::kInvalidState, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status Truncated(std::string msg) { return {Code::kTruncated, std::move(msg)}; }
  static Status Closed(std::string msg) { return {Code::kClosed, std::move(msg)}; }
  static Status Busy(std::string msg) { return {Code::kBusy, std::move(msg)}; }
  static Status TimedOut(std::string msg) { return {Code::kTimedOut, std::move(msg)}; }
  static Status Cancelled(std::string msg) { return {Code::kCancelled, std::move(msg)}; }
  static Status IOError(std::string msg) { return {Code::kIOError, std::move(msg)}; }
  static Status NoSpace(std::string msg) { return {Code::kNoSpace, std::move(msg)}; }
  static Status NotSupported(std::string msg) { return {Code::kNotSupported, std::move(msg)}; }
  static Status Failed(std::string msg) { return {Code::kFailed, std::move(msg)}; }
  // Maps an errno value: ENOSPC/EDQUOT -> kNoSpace, everything else -> kIOError.
  // `what` says what failed and where, e.g. "fdatasync /j/0000.seg".
  static Status FromErrno(int err, std::string_view what);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsTruncated() const { return code_ == Code::kTruncated; }
  bool IsClosed() const { return code_ == Code::kClosed; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsTimedOut() const { return code_ == Code::kTimedOut; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }

  // "corruption: bad checksum in /j/0000.seg at byte 4160".
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context: `.
  Status WithContext(std::string_view context) const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or an error. Access to value() on an error is a programming bug
// (checked with an assertion); test ok() first.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}   // NOLINT: implicit by design
  // Builds the value in place, without a move: Result<T>(std::in_place, args...).
  template <typename... A>
  explicit Result(std::in_place_t, A&&... args) : v_(std::in_place_index<0>, std::forward<A>(args)...) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error; Status::OK() when a value is held.
  Status status() const { return ok() ? Status::OK() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace txj

// Returns early from the enclosing function when `expr` is not OK.
#define TXJ_RETURN_IF_ERROR(expr)          \
  do {                                     \
    ::txj::Status txj_status_ = (expr);    \
    if (!txj_status_.ok()) return txj_status_; \
  } while (0)

#endif  // TXJOURNAL_STATUS_H_
