#include <cstdio>

#include "txjournal/replication.h"

namespace txj {

std::string SubjectToken(std::string_view topic) {
  std::string out;
  for (unsigned char c : topic) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "_%02x", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace txj
