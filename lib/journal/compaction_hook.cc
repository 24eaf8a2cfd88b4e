#include "compaction_hook.h"

#include <atomic>

namespace txj::internal {

namespace {
std::atomic<TrackTopicsFn> track_topics{nullptr};
}  // namespace

void SetTrackTopicsHook(TrackTopicsFn fn) { track_topics.store(fn, std::memory_order_release); }

TrackTopicsFn TrackTopicsHook() { return track_topics.load(std::memory_order_acquire); }

}  // namespace txj::internal
