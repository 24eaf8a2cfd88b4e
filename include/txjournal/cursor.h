// txjournal: cursors over the committed view.
//
// A cursor returns committed events in commit order, with dense offsets,
// starting at a chosen offset, optionally filtered by topic and type.
// Events that do not pass the filter still advance the cursor.
//
// Thread rules: one thread calls next()/wait_next(); close() may be called
// from any thread and wakes a waiting wait_next().
// Lifetime: a cursor must be destroyed before the Journal that opened it.
#ifndef TXJOURNAL_CURSOR_H_
#define TXJOURNAL_CURSOR_H_

#include "txjournal/cxx_standard.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "txjournal/event.h"
#include "txjournal/export.h"
#include "txjournal/status.h"

namespace txj {

// Which events a cursor returns. A default Filter matches nothing and is
// rejected by open_cursor (kInvalidArgument): ask for everything explicitly
// with Filter::all().
struct TXJ_EXPORT Filter {
  bool match_all = false;
  std::vector<std::string> topics;  // any of these (empty: any topic)
  std::vector<std::string> types;   // any of these (empty: any type)

  static Filter all() { return Filter{true, {}, {}}; }
  static Filter for_topics(std::vector<std::string> t) { return Filter{false, std::move(t), {}}; }

  bool is_empty() const { return !match_all && topics.empty() && types.empty(); }
  bool matches(std::string_view topic, std::string_view type) const;
};

namespace internal { class CursorImpl; struct CursorAccess; }

class TXJ_EXPORT Cursor {
 public:
  Cursor();
  Cursor(Cursor&&) noexcept;
  Cursor& operator=(Cursor&&) noexcept;
  ~Cursor();

  // The next matching committed event, or std::nullopt when the end of what
  // is committed now is reached. Errors: kClosed (cursor closed), kTruncated
  // (the next event lies in history that was dropped), kCorruption (damaged
  // record; the message names segment file and byte offset).
  Result<std::optional<Event>> next();

  // Like next(), but at the end waits until a matching event is committed.
  // Errors besides next()'s: kTimedOut when `deadline` passes, kCancelled
  // when `stop` fires, kClosed when the cursor is closed meanwhile.
  Result<Event> wait_next(std::chrono::steady_clock::time_point deadline =
                              std::chrono::steady_clock::time_point::max(),
                          std::stop_token stop = {});

  // Fills `out` with up to out.size() matching committed events, in order,
  // and returns how many (0: the end of what is committed now). The fast
  // way to replay: no optional or Result per event. The events' views stay
  // valid until the next call on this cursor. Errors as next(); an error met
  // after some events were filled is returned by the next call. Slots past
  // the count returned hold nothing meaningful (they may be reset to empty
  // events). One thread at a time per cursor.
  Result<std::size_t> next_batch(std::span<Event> out);

  // wait_next() busy-polls the journal's shared head page for up to `d`
  // before it sleeps on the futex, so a commit (in this process or another)
  // is seen within a microsecond or two instead of a wake-up's time, at the
  // cost of a CPU kept busy while it spins. 0 (the default) sleeps at once.
  // Has no effect without a head page (readers without write access to it
  // poll every Options::poll_interval).
  void set_spin(std::chrono::nanoseconds d);

  // Offset the next returned event will have at least.
  std::uint64_t position() const;

  // Closes the cursor; a second close returns kClosed. Thread-safe.
  Status close();

 private:
  friend class Journal;
  friend struct internal::CursorAccess;  // inspect.h
  explicit Cursor(std::unique_ptr<internal::CursorImpl> impl);
  std::unique_ptr<internal::CursorImpl> impl_;
};

}  // namespace txj

#endif  // TXJOURNAL_CURSOR_H_
