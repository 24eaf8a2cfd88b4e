// Checks of an event's fields, shared by Transaction::append and the
// participants that stage events before writing them.
#ifndef TXJOURNAL_LIB_EVENT_VALIDATION_H_
#define TXJOURNAL_LIB_EVENT_VALIDATION_H_

#include <optional>
#include <string_view>

#include "txjournal/status.h"

namespace txj::internal {

// kInvalidArgument naming the field: topic empty, over kMaxTopicLength, not
// UTF-8 or with control characters; type likewise (may be empty); key over
// kMaxKeyLength; payload over 4 GiB.
Status ValidateEvent(std::string_view topic, std::string_view type, std::optional<std::string_view> key,
                     std::string_view payload);

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_EVENT_VALIDATION_H_
