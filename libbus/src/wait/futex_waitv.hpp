// Sleeping on several futex words at once (futex_waitv, Linux >= 5.16), for a subscriber that waits
// on many topics. Shared (not private) futexes: the words live in shared memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "wait/futex.hpp"

namespace shmbus::wait {

inline constexpr std::size_t kMaxFutexWaiters = 128;  // FUTEX_WAITV_MAX

struct FutexWaiter {
  std::atomic<std::uint32_t>* word = nullptr;
  std::uint32_t expected = 0;
};

// Sleeps until one word differs from its expected value, a wake-up on one of them, or
// `deadline_ns` (CLOCK_MONOTONIC) passes. At most kMaxFutexWaiters words. Where the kernel lacks
// futex_waitv, sleeps on the first word only (callers bound the deadline and re-check them all).
WaitResult futex_wait_any(std::span<const FutexWaiter> waiters, std::uint64_t deadline_ns) noexcept;

}  // namespace shmbus::wait
