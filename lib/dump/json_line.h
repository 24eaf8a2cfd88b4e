// One line of the dump format read without building a JSON tree: nlohmann's
// SAX parser (the same lexer and grammar as json::parse, so the same
// accepted language and the same parse error messages) feeding a flat table
// of the top-level object's members. Nested objects and arrays are checked
// by the parser and kept only as their kind: no dump op has them. Reused
// from line to line: the table and its strings keep their capacity.
#ifndef TXJ_DUMP_JSON_LINE_H_
#define TXJ_DUMP_JSON_LINE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace txj::internal {

class JsonLine {
 public:
  // The kinds json::type() / is_number_*() tell apart.
  enum class Kind { kNull, kBool, kUnsigned, kInteger, kFloat, kString, kObject, kArray };
  struct Value {
    Kind kind = Kind::kNull;
    std::uint64_t number = 0;  // kUnsigned
    std::string text;          // kString
  };

  // Reads `line` as one JSON value (strict: nothing but white space after
  // it). An error is json::parse's exception message (what()), word for
  // word.
  std::optional<std::string> Read(std::string_view line);

  // The value read was an object.
  bool is_object() const { return is_object_; }
  // The member `name` of the object read (the last one of that name, as
  // json::parse keeps it), or null.
  const Value* Get(std::string_view name) const;
  // Get(name) is a string / a non-negative integer.
  bool IsString(std::string_view name) const;
  bool IsUnsigned(std::string_view name) const;

 private:
  class Handler;
  struct Member {
    std::string name;
    Value value;
  };
  Value* Slot(const std::string& name);

  bool is_object_ = false;
  std::vector<Member> members_;  // members_[0, used_) are this line's
  std::size_t used_ = 0;
};

}  // namespace txj::internal

#endif  // TXJ_DUMP_JSON_LINE_H_
