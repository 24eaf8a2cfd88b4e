#include "json_line.h"

#include <nlohmann/json.hpp>

namespace txj::internal {

using json = nlohmann::json;

// nlohmann's SAX interface: every value of the line, in order. Only the
// top-level object's members are kept (depth_ 1); deeper values are
// checked by the parser and dropped.
class JsonLine::Handler {
 public:
  explicit Handler(JsonLine& line) : line_(line) {}

  bool null() { return Scalar(Kind::kNull); }
  bool boolean(bool) { return Scalar(Kind::kBool); }
  bool number_integer(json::number_integer_t) { return Scalar(Kind::kInteger); }
  bool number_unsigned(json::number_unsigned_t v) {
    if (Value* slot = Take()) {
      slot->kind = Kind::kUnsigned;
      slot->number = v;
    }
    return true;
  }
  bool number_float(json::number_float_t, const json::string_t&) { return Scalar(Kind::kFloat); }
  bool string(json::string_t& s) {
    if (Value* slot = Take()) {
      slot->kind = Kind::kString;
      slot->text.assign(s);
    }
    return true;
  }
  bool binary(json::binary_t&) { return Scalar(Kind::kNull); }  // not in JSON text
  bool start_object(std::size_t) { return Open(Kind::kObject); }
  bool start_array(std::size_t) { return Open(Kind::kArray); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(json::string_t& name) {
    if (depth_ == 1 && line_.is_object_) current_ = line_.Slot(name);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    error_ = e.what();
    return false;
  }

  std::optional<std::string>& error() { return error_; }

 private:
  // The member whose value comes now, if any (once).
  Value* Take() {
    Value* v = depth_ == 1 ? current_ : nullptr;
    current_ = nullptr;
    return v;
  }
  bool Scalar(Kind kind) {
    if (Value* slot = Take()) slot->kind = kind;
    return true;
  }
  bool Open(Kind kind) {
    if (depth_ == 0) {
      line_.is_object_ = kind == Kind::kObject;
    } else if (Value* slot = Take()) {
      slot->kind = kind;
    }
    ++depth_;
    return true;
  }
  bool Close() {
    --depth_;
    return true;
  }

  JsonLine& line_;
  std::size_t depth_ = 0;     // containers open
  Value* current_ = nullptr;  // the top-level member whose key was read last
  std::optional<std::string> error_;
};

std::optional<std::string> JsonLine::Read(std::string_view line) {
  is_object_ = false;
  used_ = 0;
  Handler h(*this);
  json::sax_parse(line, &h);  // strict, no comments: as json::parse
  return std::move(h.error());
}

// A new member (duplicates too: Get finds the last, as json::parse keeps
// the last value of a name, without a search per member here).
JsonLine::Value* JsonLine::Slot(const std::string& name) {
  if (used_ == members_.size()) members_.emplace_back();
  Member& m = members_[used_++];
  m.name.assign(name);
  m.value.kind = Kind::kNull;
  m.value.number = 0;
  m.value.text.clear();
  return &m.value;
}

const JsonLine::Value* JsonLine::Get(std::string_view name) const {
  for (std::size_t i = used_; i > 0; --i) {
    if (members_[i - 1].name == name) return &members_[i - 1].value;
  }
  return nullptr;
}

bool JsonLine::IsString(std::string_view name) const {
  const Value* v = Get(name);
  return v != nullptr && v->kind == Kind::kString;
}

bool JsonLine::IsUnsigned(std::string_view name) const {
  const Value* v = Get(name);
  return v != nullptr && v->kind == Kind::kUnsigned;
}

}  // namespace txj::internal
