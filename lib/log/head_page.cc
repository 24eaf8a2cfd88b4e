#include "head_page.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <ctime>

#include "format.h"
#include "manifest.h"

namespace txj::internal {

namespace {
constexpr std::size_t kHeadSize = 4096;
static_assert(sizeof(HeadData) <= kHeadSize);

long Futex(const void* addr, int op, std::uint32_t val, const struct timespec* ts) {
  return ::syscall(SYS_futex, addr, op, val, ts, nullptr, 0);
}
}  // namespace

HeadPage::~HeadPage() { Detach(); }

void HeadPage::Detach() {
  guard_.Unregister();
  if (data_ != nullptr) fs_->Unmap(data_, kHeadSize);
  if (fd_ >= 0) fs_->Close(fd_);
  data_ = nullptr;
  fd_ = -1;
  can_register_ = false;
  fs_.reset();
}

Status HeadPage::Attach(std::shared_ptr<FileSystem> fs, int fd, bool writable, const std::string& path) {
  void* p = nullptr;
  if (int e = fs->Map(fd, 0, kHeadSize, writable, &p)) {
    fs->Close(fd);
    return Status::FromErrno(e, "mmap " + path);
  }
  fs_ = std::move(fs);
  fd_ = fd;
  data_ = static_cast<HeadData*>(p);
  guard_.Register(p, kHeadSize);
  can_register_ = writable;
  return Status::OK();
}

Status HeadPage::Create(std::shared_ptr<FileSystem> fs, const std::string& dir, mode_t mode,
                        std::uint64_t visible, std::uint64_t next_offset) {
  Detach();
  std::string path = JoinPath(dir, format::kHeadName);
  int fd = -1;
  if (int e = fs->Open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode, &fd)) {
    return OpenError(e, "open", path);
  }
  if (int e = fs->Allocate(fd, 0, kHeadSize)) {
    fs->Close(fd);
    return Status::FromErrno(e, "reserve " + path);
  }
  TXJ_RETURN_IF_ERROR(Attach(std::move(fs), fd, true, path));
  data_->magic = kHeadMagic;
  data_->visible_lsn.store(visible, std::memory_order_release);
  data_->next_offset.store(next_offset, std::memory_order_release);
  data_->writer_open.store(1, std::memory_order_release);
  data_->last_begun_txn.store(0, std::memory_order_relaxed);  // recovery has read it (LastBegun)
  WakeAll();
  return Status::OK();
}

std::uint64_t HeadPage::LastBegun(FileSystem& fs, const std::string& dir) {
  int fd = -1;
  if (fs.Open(JoinPath(dir, format::kHeadName), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0, &fd) != 0) return 0;
  alignas(HeadData) unsigned char buf[sizeof(HeadData)] = {};
  std::size_t got = 0;
  const int e = fs.PRead(fd, buf, sizeof buf, 0, &got);
  fs.Close(fd);
  std::uint64_t magic = 0, id = 0;
  if (e != 0 || got < sizeof buf) return 0;
  std::memcpy(&magic, buf + offsetof(HeadData, magic), sizeof magic);
  std::memcpy(&id, buf + offsetof(HeadData, last_begun_txn), sizeof id);
  return magic == kHeadMagic ? id : 0;
}

Status HeadPage::OpenReadOnly(std::shared_ptr<FileSystem> fs, const std::string& dir) {
  Detach();
  std::string path = JoinPath(dir, format::kHeadName);
  // Read-write when permitted, so this reader can register as a waiter and
  // be woken at once; otherwise read-only and polled.
  bool rw = true;
  int fd = -1;
  int e = fs->Open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0, &fd);
  if (e == EACCES || e == EPERM || e == EROFS) {
    rw = false;
    e = fs->Open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0, &fd);
  }
  if (e == ENOENT) return Status::NotFound("no head page " + path);
  if (e != 0) return OpenError(e, "open", path);
  std::uint64_t size = 0;
  if (fs->FileSize(fd, &size) != 0 || size < kHeadSize) {
    fs->Close(fd);
    return Status::NotFound("head page " + path + " is incomplete");
  }
  TXJ_RETURN_IF_ERROR(Attach(std::move(fs), fd, rw, path));
  if (data_->magic != kHeadMagic) {
    Detach();
    return Status::NotFound("head page " + path + " not initialised");
  }
  return Status::OK();
}

void HeadPage::Publish(std::uint64_t visible, std::uint64_t next_offset) {
  data_->next_offset.store(next_offset, std::memory_order_relaxed);
  data_->visible_lsn.store(visible, std::memory_order_release);
  data_->seq.fetch_add(1, std::memory_order_acq_rel);
  if (data_->waiters.load(std::memory_order_acquire) != 0) {
    Futex(&data_->seq, FUTEX_WAKE, INT_MAX, nullptr);
  }
}

void HeadPage::SetWriterOpen(bool open) {
  if (data_ == nullptr) return;
  data_->writer_open.store(open ? 1 : 0, std::memory_order_release);
  WakeAll();
}

void HeadPage::WakeAll() {
  // A reader that mapped the page read-only cannot bump seq (it would fault);
  // its waits poll instead (see Wait).
  if (data_ == nullptr || !can_register_) return;
  data_->seq.fetch_add(1, std::memory_order_acq_rel);
  Futex(&data_->seq, FUTEX_WAKE, INT_MAX, nullptr);
}

std::uint64_t HeadPage::visible_lsn() const { return data_->visible_lsn.load(std::memory_order_acquire); }
std::uint64_t HeadPage::next_offset() const { return data_->next_offset.load(std::memory_order_acquire); }
bool HeadPage::writer_open() const { return data_->writer_open.load(std::memory_order_acquire) != 0; }
std::uint32_t HeadPage::seq() const { return data_->seq.load(std::memory_order_acquire); }

void HeadPage::Wait(std::uint32_t seen, std::chrono::nanoseconds timeout) const {
  if (timeout.count() <= 0) return;
  // A reader that cannot register as a waiter is not woken: poll.
  if (!can_register_) timeout = std::min<std::chrono::nanoseconds>(timeout, std::chrono::milliseconds(2));
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1000000000);
  auto* self = const_cast<HeadData*>(data_);
  if (can_register_) self->waiters.fetch_add(1, std::memory_order_acq_rel);
  Futex(&data_->seq, FUTEX_WAIT, seen, &ts);
  if (can_register_) self->waiters.fetch_sub(1, std::memory_order_acq_rel);
}

}  // namespace txj::internal
