#include "tool_util.h"

#include "txjournal/version.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace txj::tools {

std::optional<std::string> ParseU64(std::string_view option, std::string_view text, std::uint64_t min,
                                    std::uint64_t max, std::uint64_t* out) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  if (text.empty()) return std::string(option) + ": empty value (expected a non-negative integer)";
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::string(option) + ": " + quoted + " is not a non-negative integer" +
             (text[0] == '-' ? " (negative values are not allowed)" : "");
    }
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) {
      return std::string(option) + ": " + quoted + " is out of range (largest: " + std::to_string(max) + ")";
    }
    v = v * 10 + d;
  }
  if (v < min || v > max) {
    return std::string(option) + ": " + quoted + " is out of range (" + std::to_string(min) + " to " +
           std::to_string(max) + ")";
  }
  *out = v;
  return std::nullopt;
}

bool OutputOk(std::ostream& out, std::ostream& err, std::string_view tool) {
  errno = 0;
  if (out.good()) out.flush();
  if (out.good()) return true;
  const int e = errno;
  err << tool << ": write error: " << (e ? std::strerror(e) : "the output stream failed")
      << " (the output is incomplete)\n";
  return false;
}

unsigned GuardStandardDescriptors() {
  unsigned closed = 0;
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    closed |= 1u << fd;
    // Opened in order, each takes the lowest free number: this one.
    int got = ::open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
    if (got >= 0 && got != fd) {
      ::dup2(got, fd);
      ::close(got);
    }
  }
  return closed;
}

int FinishStdout(int code, std::string_view tool) {
  errno = 0;
  bool ok = std::cout.good();
  if (ok) {
    std::cout.flush();
    ok = std::cout.good();
  }
  int e = errno;
  if (std::fflush(stdout) != 0) {
    ok = false;
    e = errno;
  }
  if (std::fclose(stdout) != 0 && ok) {
    ok = false;
    e = errno;
  }
  if (ok || (code != 0 && code != 1)) return code;  // an earlier failure was reported already
  std::fprintf(stderr, "%.*s: write error: %s (the output is incomplete)\n", static_cast<int>(tool.size()),
               tool.data(), e ? std::strerror(e) : "the output stream failed");
  return kWriteErrorExit;
}

std::string VersionText(std::string_view tool) {
  return std::string(tool) + " (txjournal) " + kVersionString + "\nlibrary " + LibraryVersion() +
         ", on-disk format version " + std::to_string(LibraryFormatVersion());
}

}  // namespace txj::tools
