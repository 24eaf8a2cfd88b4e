#include "event_validation.h"

#include <algorithm>
#include <string>

#include "txjournal/cursor.h"
#include "txjournal/event.h"
#include "utf8.h"

namespace txj::internal {

namespace {

Status CheckName(std::string_view what, std::string_view s, std::size_t max, bool allow_empty) {
  if (s.empty() && !allow_empty) return Status::InvalidArgument(std::string(what) + " must not be empty");
  if (s.size() > max) {
    return Status::InvalidArgument(std::string(what) + " is " + std::to_string(s.size()) + " bytes, the limit is " +
                                   std::to_string(max));
  }
  if (!internal::IsValidUtf8(s)) return Status::InvalidArgument(std::string(what) + " is not valid UTF-8");
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return Status::InvalidArgument(std::string(what) + " contains a control character");
  }
  return Status::OK();
}

}  // namespace

Status ValidateEvent(std::string_view topic, std::string_view type, std::optional<std::string_view> key,
                     std::string_view payload) {
  TXJ_RETURN_IF_ERROR(CheckName("topic", topic, kMaxTopicLength, false));
  TXJ_RETURN_IF_ERROR(CheckName("event type", type, kMaxTypeLength, true));
  if (key && key->size() > kMaxKeyLength) {
    return Status::InvalidArgument("event key is " + std::to_string(key->size()) + " bytes, the limit is " +
                                   std::to_string(kMaxKeyLength));
  }
  if (payload.size() > 0xffffffffull) return Status::InvalidArgument("payload over 4 GiB");
  return Status::OK();
}

namespace {
bool TypeAllowed(const std::vector<std::string>& types, std::string_view type) {
  return types.empty() || std::find(types.begin(), types.end(), type) != types.end();
}
}  // namespace

Status CheckAgainstSchema(const Schema& schema, std::string_view topic, std::string_view type) {
  if (schema.empty()) return Status::OK();
  auto it = schema.find(std::string(topic));
  if (it == schema.end()) return Status::InvalidArgument("topic " + std::string(topic) + " is not in the journal's schema");
  if (!TypeAllowed(it->second, type)) {
    return Status::InvalidArgument("event type " + std::string(type) + " is not allowed in topic " + std::string(topic));
  }
  return Status::OK();
}

Status CheckFilterAgainstSchema(const Schema& schema, const Filter& filter) {
  if (schema.empty() || filter.match_all) return Status::OK();
  std::vector<const std::vector<std::string>*> candidates;
  for (const auto& t : filter.topics) {
    auto it = schema.find(t);
    if (it == schema.end()) return Status::InvalidArgument("cursor filter names topic " + t + ", which cannot appear");
    candidates.push_back(&it->second);
  }
  if (filter.topics.empty()) {
    for (const auto& [t, types] : schema) candidates.push_back(&types);
  }
  for (const auto& type : filter.types) {
    bool possible = false;
    for (const auto* types : candidates) possible = possible || TypeAllowed(*types, type);
    if (!possible) return Status::InvalidArgument("cursor filter names event type " + type + ", which cannot appear");
  }
  return Status::OK();
}

}  // namespace txj::internal
