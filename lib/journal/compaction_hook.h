// The writer's one call into compaction, through a hook: the journal layer
// does not depend on the compaction layer above it.
//
// At each checkpoint, while some compactor has an automatic policy
// (JournalState::auto_policies), the writer has compaction advance the
// topics follower to the checkpoint's offset, add the per-topic counts of the
// events it passed to `delta`, and queue automatic compactions.
#ifndef TXJOURNAL_LIB_COMPACTION_HOOK_H_
#define TXJOURNAL_LIB_COMPACTION_HOOK_H_

#include <cstdint>
#include <map>
#include <string>

#include "catalog.h"

namespace txj::internal {

struct JournalState;

using TrackTopicsFn = void (*)(JournalState& j, std::uint64_t upto, std::map<std::string, TopicStats>* delta);

// Installed by compaction when a compactor with a policy is registered,
// before it sets auto_policies (the only way that becomes true); the same
// function for every journal of the process.
void SetTrackTopicsHook(TrackTopicsFn fn);
// The installed function. REQUIRES: auto_policies was seen true (acquire).
TrackTopicsFn TrackTopicsHook();

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_COMPACTION_HOOK_H_
