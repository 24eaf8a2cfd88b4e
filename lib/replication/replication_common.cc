#include "txjournal/replication.h"

#include "hex.h"

namespace txj {

std::string SubjectToken(std::string_view topic) {
  std::string out;
  for (unsigned char c : topic) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '_';
      out += internal::HexEncode(&c, 1);
    }
  }
  return out;
}

}  // namespace txj
