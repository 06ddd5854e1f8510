#include "wait/futex_waitv.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <ctime>

namespace shmbus::wait {
namespace {

std::atomic<bool> g_waitv_missing{false};

}  // namespace

WaitResult futex_wait_any(std::span<const FutexWaiter> waiters,
                          std::uint64_t deadline_ns) noexcept {
  if (waiters.empty()) return WaitResult::timed_out;
  const std::uint64_t now = monotonic_ns();
  if (now >= deadline_ns) return WaitResult::timed_out;
  if (waiters.size() == 1 || waiters.size() > kMaxFutexWaiters ||
      g_waitv_missing.load(std::memory_order_relaxed)) {
    return futex_wait(*waiters[0].word, waiters[0].expected,
                      std::chrono::nanoseconds(deadline_ns - now));
  }
  std::array<futex_waitv, kMaxFutexWaiters> vector{};
  for (std::size_t i = 0; i < waiters.size(); ++i) {
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
    vector[i].uaddr = reinterpret_cast<std::uintptr_t>(waiters[i].word);  // NOLINT
    vector[i].val = waiters[i].expected;
    vector[i].flags = FUTEX_32;  // no FUTEX_PRIVATE_FLAG: other processes wake these words
  }
  timespec deadline{};
  deadline.tv_sec = static_cast<time_t>(deadline_ns / 1'000'000'000ULL);
  deadline.tv_nsec = static_cast<long>(deadline_ns % 1'000'000'000ULL);
  const long rc = syscall(SYS_futex_waitv, vector.data(), static_cast<unsigned>(waiters.size()), 0U,
                          &deadline, CLOCK_MONOTONIC);
  if (rc >= 0) return WaitResult::woken;
  switch (errno) {
    case EAGAIN:
      return WaitResult::value_changed;
    case ETIMEDOUT:
      return WaitResult::timed_out;
    case ENOSYS:
      g_waitv_missing.store(true, std::memory_order_relaxed);
      return futex_wait(*waiters[0].word, waiters[0].expected,
                        std::chrono::nanoseconds(deadline_ns - now));
    default:
      return WaitResult::interrupted;
  }
}

}  // namespace shmbus::wait
