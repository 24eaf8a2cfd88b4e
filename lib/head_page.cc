#include "head_page.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <ctime>

#include "format.h"
#include "manifest.h"

namespace txj::internal {

namespace {
constexpr std::uint64_t kHeadMagic = 0x4441454850584a54ull;  // "TJXPHEAD"
constexpr std::size_t kHeadSize = 4096;
static_assert(sizeof(HeadData) <= kHeadSize);

long Futex(const void* addr, int op, std::uint32_t val, const struct timespec* ts) {
  return ::syscall(SYS_futex, addr, op, val, ts, nullptr, 0);
}
}  // namespace

HeadPage::~HeadPage() {
  guard_.Unregister();
  if (data_ != nullptr) ::munmap(data_, kHeadSize);
  if (fd_ >= 0) ::close(fd_);
}

Status HeadPage::Create(const std::string& dir, mode_t mode, std::uint64_t visible,
                        std::uint64_t next_offset) {
  std::string path = JoinPath(dir, format::kHeadName);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  if (int e = ::posix_fallocate(fd, 0, kHeadSize)) {
    ::close(fd);
    return Status::FromErrno(e, "reserve " + path);
  }
  void* p = ::mmap(nullptr, kHeadSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    ::close(fd);
    return Status::FromErrno(e, "mmap " + path);
  }
  fd_ = fd;
  data_ = static_cast<HeadData*>(p);
  guard_.Register(p, kHeadSize);
  can_register_ = true;
  data_->magic = kHeadMagic;
  data_->visible_lsn.store(visible, std::memory_order_release);
  data_->next_offset.store(next_offset, std::memory_order_release);
  data_->writer_open.store(1, std::memory_order_release);
  WakeAll();
  return Status::OK();
}

Status HeadPage::OpenReadOnly(const std::string& dir) {
  std::string path = JoinPath(dir, format::kHeadName);
  // Read-write when permitted, so this reader can register as a waiter and
  // be woken at once; otherwise read-only and polled.
  bool rw = true;
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
    rw = false;
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("no head page " + path);
    return Status::FromErrno(errno, "open " + path);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < kHeadSize) {
    ::close(fd);
    return Status::NotFound("head page " + path + " is incomplete");
  }
  void* p = ::mmap(nullptr, kHeadSize, rw ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    ::close(fd);
    return Status::FromErrno(e, "mmap " + path);
  }
  fd_ = fd;
  data_ = static_cast<HeadData*>(p);
  guard_.Register(p, kHeadSize);
  can_register_ = rw;
  if (data_->magic != kHeadMagic) {
    guard_.Unregister();
    ::munmap(p, kHeadSize);
    data_ = nullptr;
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
