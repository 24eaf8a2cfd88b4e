// DIR/HEAD: one shared page through which the writer tells readers in any
// process how far they may read, and wakes them (futex on a shared mapping).
// It holds hints only: readers still verify every record, and a writer's
// open rewrites it.
#ifndef TXJOURNAL_LIB_HEAD_PAGE_H_
#define TXJOURNAL_LIB_HEAD_PAGE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "mapping_guard.h"
#include "non_copyable.h"
#include "txjournal/file_system.h"
#include "txjournal/status.h"

namespace txj::internal {

inline constexpr std::uint64_t kHeadMagic = 0x4441454850584a54ull;  // "TJXPHEAD"

struct HeadData {
  std::uint64_t magic;
  std::atomic<std::uint64_t> visible_lsn;  // readers may read records below it
  std::atomic<std::uint64_t> next_offset;
  std::atomic<std::uint32_t> seq;          // futex word: bumped on each publish
  std::atomic<std::uint32_t> waiters;      // readers waiting on seq
  std::atomic<std::uint64_t> writer_open;  // 1 while a writer has the journal open
  // The id of the last transaction the writer began: one whose records were
  // all still in the writer's memory when it stopped left nothing in the
  // file, and the next writer keeps its id taken (recovery). At byte 64, on
  // a cache line of its own: every begin stores it, and a reader spinning
  // on `seq` (Cursor::set_spin) would otherwise lose its line to the writer
  // at each begin as well as at each publish.
  alignas(64) std::atomic<std::uint64_t> last_begun_txn;
};

class HeadPage : NonCopyable {
 public:
  HeadPage() = default;
  ~HeadPage();

  // Writer: creates or resets DIR/HEAD, through `fs`.
  Status Create(std::shared_ptr<FileSystem> fs, const std::string& dir, mode_t mode, std::uint64_t visible,
                std::uint64_t next_offset);
  // Reader: maps DIR/HEAD through `fs` (writable if permitted, to register
  // as a waiter); kNotFound if it does not exist or is incomplete.
  Status OpenReadOnly(std::shared_ptr<FileSystem> fs, const std::string& dir);
  bool valid() const { return data_ != nullptr; }

  // Writer: publishes a new visible end and wakes waiting readers.
  void Publish(std::uint64_t visible, std::uint64_t next_offset);
  void SetWriterOpen(bool open);
  // Writer: notes a transaction id before it is handed out.
  void NoteBegun(std::uint64_t txn_id) {
    if (data_ != nullptr) data_->last_begun_txn.store(txn_id, std::memory_order_relaxed);
  }
  // Before a writer's Create: the last transaction id the previous writer
  // noted as begun; 0 when DIR/HEAD is missing, unreadable or not
  // initialised (a hint: callers check it against the journal).
  static std::uint64_t LastBegun(FileSystem& fs, const std::string& dir);
  // Wakes every waiter (used on close so blocked readers recheck).
  void WakeAll();

  std::uint64_t visible_lsn() const;
  std::uint64_t next_offset() const;
  bool writer_open() const;
  std::uint32_t seq() const;
  // Waits until seq differs from `seen` or `timeout` passes (spurious
  // wake-ups are possible).
  void Wait(std::uint32_t seen, std::chrono::nanoseconds timeout) const;

 private:
  // Maps the first page of the open `fd` and takes ownership of both.
  Status Attach(std::shared_ptr<FileSystem> fs, int fd, bool writable, const std::string& path);
  void Detach();

  std::shared_ptr<FileSystem> fs_;
  HeadData* data_ = nullptr;
  int fd_ = -1;
  MappingGuard guard_;  // a HEAD file truncated by someone else reads as zeros, not SIGBUS
  bool can_register_ = false;
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_HEAD_PAGE_H_
