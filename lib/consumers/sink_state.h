// What the sinks of this folder do alike with their State (a mutex `mu`
// guarding `closed` and the metrics `m`; a wrapping sink also has the
// condition variable `cv` its writers wait on and the destination `dest`).
#ifndef TXJOURNAL_LIB_SINK_STATE_H_
#define TXJOURNAL_LIB_SINK_STATE_H_

#include <mutex>

#include "txjournal/sink.h"
#include "txjournal/status.h"

namespace txj::internal {

// The metrics as they are now.
template <class State>
SinkMetrics LockedMetrics(State& s) {
  std::lock_guard<std::mutex> lock(s.mu);
  return s.m;
}

// Closes a sink that wraps `s.dest` once: marks it closed, wakes its waiting
// writers and closes the destination. A second close returns OK.
template <class State>
Status CloseWrapping(State& s) {
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.closed) return Status::OK();
    s.closed = true;
    s.cv.notify_all();
  }
  return s.dest->close();
}

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_SINK_STATE_H_
