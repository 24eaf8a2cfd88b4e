#include "mapping_guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

namespace txj::internal {

std::atomic<std::uint64_t> MappingGuard::total_faults_{0};

// Async-signal-safe: one lock-free atomic add.
void CountFault() { MappingGuard::total_faults_.fetch_add(1, std::memory_order_acq_rel); }

namespace {

// A fixed table the signal handler can read without locks. A slot is taken
// by a CAS on `used`; the handler trusts `begin`/`end` only while they are
// non-zero (they are cleared before the slot is released).
struct Slot {
  std::atomic<bool> used{false};
  std::atomic<std::uintptr_t> begin{0};
  std::atomic<std::uintptr_t> end{0};
  std::atomic<std::uint32_t> faults{0};
};

constexpr int kSlots = 8192;
Slot g_slots[kSlots];
struct sigaction g_previous;
std::mutex g_install_mu;

void ChainToPrevious(int sig, siginfo_t* info, void* ctx) {
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) {
      g_previous.sa_sigaction(sig, info, ctx);
      return;
    }
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  // Default action: restore it; returning re-executes the faulting access,
  // which then ends the process as if no handler had been installed.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGBUS, &dfl, nullptr);
}

void OnSigbus(int sig, siginfo_t* info, void* ctx) {
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  for (Slot& s : g_slots) {
    const std::uintptr_t b = s.begin.load(std::memory_order_acquire);
    if (b == 0 || addr < b || addr >= s.end.load(std::memory_order_acquire)) continue;
    const int saved_errno = errno;
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    void* at = reinterpret_cast<void*>(addr & ~(page - 1));
    void* p = ::mmap(at, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    errno = saved_errno;
    if (p != at) break;  // cannot absorb it: behave as if unguarded
    s.faults.fetch_add(1, std::memory_order_acq_rel);
    CountFault();
    return;
  }
  ChainToPrevious(sig, info, ctx);
}

// Installs the handler if it is not the current one (first use, or the
// program installed its own since: that one becomes the one chained to).
void Install() {
  std::lock_guard<std::mutex> lock(g_install_mu);
  struct sigaction cur;
  if (::sigaction(SIGBUS, nullptr, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == OnSigbus) return;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = OnSigbus;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, &g_previous);
}

}  // namespace

void MappingGuard::Register(const void* addr, std::size_t len) {
  Unregister();
  if (addr == nullptr || len == 0) return;
  Install();
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (!g_slots[i].used.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) continue;
    Slot& s = g_slots[i];
    s.faults.store(0, std::memory_order_relaxed);
    s.end.store(reinterpret_cast<std::uintptr_t>(addr) + len, std::memory_order_release);
    s.begin.store(reinterpret_cast<std::uintptr_t>(addr), std::memory_order_release);
    slot_ = i;
    return;
  }
}

void MappingGuard::Unregister() {
  if (slot_ < 0) return;
  Slot& s = g_slots[slot_];
  s.begin.store(0, std::memory_order_release);
  s.end.store(0, std::memory_order_release);
  s.used.store(false, std::memory_order_release);
  slot_ = -1;
}

std::uint32_t MappingGuard::faults() const {
  return slot_ < 0 ? 0 : g_slots[slot_].faults.load(std::memory_order_acquire);
}

}  // namespace txj::internal
