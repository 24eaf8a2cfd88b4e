#include "txjournal/status.h"

#include <cstring>

namespace txj {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kInvalidState: return "invalid state";
    case Code::kNotFound: return "not found";
    case Code::kCorruption: return "corruption";
    case Code::kTruncated: return "truncated";
    case Code::kClosed: return "closed";
    case Code::kBusy: return "busy";
    case Code::kTimedOut: return "timed out";
    case Code::kCancelled: return "cancelled";
    case Code::kIOError: return "io error";
    case Code::kNoSpace: return "no space";
    case Code::kNotSupported: return "not supported";
    case Code::kFailed: return "failed";
  }
  return "unknown";
}

Status Status::FromErrno(int err, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return NoSpace(std::move(msg));
  return IOError(std::move(msg));
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string s(CodeName(code_));
  s += ": ";
  s += message_;
  return s;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return Status(code_, std::move(msg));
}

}  // namespace txj
