// Checks of an event's fields, shared by Transaction::append and the
// participants that stage events before writing them.
#ifndef TXJOURNAL_LIB_EVENT_VALIDATION_H_
#define TXJOURNAL_LIB_EVENT_VALIDATION_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "txjournal/status.h"

namespace txj {
struct Filter;
}

namespace txj::internal {

// kInvalidArgument naming the field: topic empty, over kMaxTopicLength, not
// UTF-8 or with control characters; type likewise (may be empty); key over
// kMaxKeyLength; payload over 4 GiB.
Status ValidateEvent(std::string_view topic, std::string_view type, std::optional<std::string_view> key,
                     std::string_view payload);

using Schema = std::map<std::string, std::vector<std::string>>;

// kInvalidArgument when `schema` is set and does not allow (topic, type).
Status CheckAgainstSchema(const Schema& schema, std::string_view topic, std::string_view type);
// kInvalidArgument when `schema` is set and `filter` names a topic or type
// that cannot appear (or a type none of the named topics allows).
Status CheckFilterAgainstSchema(const Schema& schema, const Filter& filter);

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_EVENT_VALIDATION_H_
