// txjournal: compactors fold a topic's history into a snapshot.
//
// A compactor is a deterministic fold over the committed events of one
// topic: an initial state, apply(state, event), and an encoding of the state
// to bytes and back. Journal::compact(topic) folds the topic up to a point
// into a snapshot; the history it covers can then be dropped from the
// segments while other topics are left as they are. Journal::rebuild(topic)
// starts from the newest snapshot and applies the events after it.
//
// Determinism is the contract: the same events in the same order must give
// the same encoded bytes, on every machine and in every run. The state hash
// stored with a snapshot is XXH3-128 of the encoding. Each snapshot records
// the compactor's name and version, and is never decoded by another.
//
// The compactor classes are here; the values that describe snapshots
// (SnapshotInfo, CompactionPolicy, StateHash) are in snapshot.h, which this
// header includes.
//
// Thread rules: a compactor's methods are const and may be called from
// several threads at once (the journal's automatic compaction thread and
// the callers of Journal::compact() and rebuild()), each call with a State
// of its own: keep a compactor free of shared mutable data. A State is used
// by one thread at a time.
#ifndef TXJOURNAL_COMPACTOR_H_
#define TXJOURNAL_COMPACTOR_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "txjournal/event.h"
#include "txjournal/export.h"
#include "txjournal/snapshot.h"
#include "txjournal/status.h"

namespace txj {

class TXJ_EXPORT Compactor {
 public:
  // Type-erased folded state; each compactor defines its own.
  class State {
   public:
    virtual ~State() = default;
  };

  virtual ~Compactor() = default;
  virtual std::string name() const = 0;
  virtual std::uint32_t version() const = 0;
  virtual std::unique_ptr<State> initial() const = 0;
  // Folds one committed event of the topic into `state`. An error stops the
  // compaction or rebuild and is returned with the event's offset added.
  virtual Status apply(State& state, const Event& event) const = 0;
  // Deterministic encoding of `state`. No error: a state apply() accepted
  // must encode.
  virtual std::string encode(const State& state) const = 0;
  // Errors: kCorruption when `bytes` is not a valid encoding.
  virtual Result<std::unique_ptr<State>> decode(std::string_view bytes) const = 0;
};

// Kafka-style: the last event of each key wins; an event whose type equals
// the tombstone type deletes its key. Events without a key are an error
// (kInvalidArgument naming the offset). The state maps key -> payload;
// encode() lists keys in byte order.
class TXJ_EXPORT LatestByKeyCompactor final : public Compactor {
 public:
  struct Map final : State {
    std::map<std::string, std::string> values;
  };
  explicit LatestByKeyCompactor(std::string tombstone_type = "tombstone")
      : tombstone_(std::move(tombstone_type)) {}
  std::string name() const override { return "latest-by-key"; }
  std::uint32_t version() const override { return 1; }
  std::unique_ptr<State> initial() const override { return std::make_unique<Map>(); }
  // Errors: kInvalidArgument (an event without a key).
  Status apply(State& state, const Event& event) const override;
  std::string encode(const State& state) const override;
  Result<std::unique_ptr<State>> decode(std::string_view bytes) const override;

 private:
  std::string tombstone_;
};

// Turns a fold over any C++ type T into a compactor. Its errors are those
// `apply` and `decode` return; its thread rules hold for the three
// functions given (called from several threads at once):
//
//   auto counter = txj::MakeFoldCompactor<std::uint64_t>(
//       "count", 1, 0,
//       [](std::uint64_t& n, const txj::Event&) { ++n; return txj::Status::OK(); },
//       [](const std::uint64_t& n) { return std::to_string(n); },
//       [](std::string_view s) -> txj::Result<std::uint64_t> { return std::stoull(std::string(s)); });
template <typename T>
class FoldCompactor final : public Compactor {
 public:
  using ApplyFn = std::function<Status(T&, const Event&)>;
  using EncodeFn = std::function<std::string(const T&)>;
  using DecodeFn = std::function<Result<T>(std::string_view)>;
  struct Box final : State {
    explicit Box(T v) : value(std::move(v)) {}
    T value;
  };

  FoldCompactor(std::string name, std::uint32_t version, T initial, ApplyFn apply, EncodeFn encode,
                DecodeFn decode)
      : name_(std::move(name)),
        version_(version),
        initial_(std::move(initial)),
        apply_(std::move(apply)),
        encode_(std::move(encode)),
        decode_(std::move(decode)) {}

  std::string name() const override { return name_; }
  std::uint32_t version() const override { return version_; }
  std::unique_ptr<State> initial() const override { return std::make_unique<Box>(initial_); }
  Status apply(State& state, const Event& event) const override {
    return apply_(static_cast<Box&>(state).value, event);
  }
  std::string encode(const State& state) const override { return encode_(static_cast<const Box&>(state).value); }
  Result<std::unique_ptr<State>> decode(std::string_view bytes) const override {
    Result<T> v = decode_(bytes);
    if (!v.ok()) return v.status();
    return std::unique_ptr<State>(std::make_unique<Box>(std::move(v).value()));
  }
  // The typed value inside a state this compactor made.
  static const T& value(const State& state) { return static_cast<const Box&>(state).value; }

 private:
  std::string name_;
  std::uint32_t version_;
  T initial_;
  ApplyFn apply_;
  EncodeFn encode_;
  DecodeFn decode_;
};

template <typename T>
std::shared_ptr<Compactor> MakeFoldCompactor(std::string name, std::uint32_t version, T initial,
                                             typename FoldCompactor<T>::ApplyFn apply,
                                             typename FoldCompactor<T>::EncodeFn encode,
                                             typename FoldCompactor<T>::DecodeFn decode) {
  return std::make_shared<FoldCompactor<T>>(std::move(name), version, std::move(initial), std::move(apply),
                                            std::move(encode), std::move(decode));
}

// What rebuild() returns.
struct RebuiltState {
  std::unique_ptr<Compactor::State> state;
  std::string encoded;               // compactor->encode(*state)
  std::string state_hash;            // XXH3-128 of `encoded`, 32 hex digits
  std::uint64_t next_offset = 0;     // events below this (of any topic) are reflected
  std::uint64_t from_snapshot = 0;   // covered offset of the snapshot used (0: none)
  std::uint64_t events_applied = 0;  // events applied after the snapshot
};

}  // namespace txj

#endif  // TXJOURNAL_COMPACTOR_H_
