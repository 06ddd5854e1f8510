// Futex waits and wakes on words in shared memory (not FUTEX_PRIVATE: other processes share them).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace shmbus::wait {

enum class WaitResult : std::uint8_t { woken, value_changed, timed_out, interrupted };

// Sleeps while `word` == `expected`, at most `timeout` (negative or zero: return at once).
WaitResult futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                      std::chrono::nanoseconds timeout) noexcept;
// Sleeps while `word` == `expected`, with no time limit.
WaitResult futex_wait_forever(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept;
// Wakes up to `count` sleepers on `word`; returns how many woke.
int futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept;
int futex_wake_all(std::atomic<std::uint32_t>& word) noexcept;

// A pause instruction for spin loops: lets the sibling hyperthread run and saves power.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// CLOCK_MONOTONIC in ns through the vDSO: no system call.
std::uint64_t monotonic_ns() noexcept;

}  // namespace shmbus::wait
