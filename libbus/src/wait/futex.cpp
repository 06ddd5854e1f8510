#include "wait/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>

namespace shmbus::wait {
namespace {

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value,
           const timespec* timeout) noexcept {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, timeout,  // NOLINT
                 nullptr, 0);
}

WaitResult classify(long rc) noexcept {
  if (rc == 0) return WaitResult::woken;
  switch (errno) {
    case EAGAIN:
      return WaitResult::value_changed;
    case ETIMEDOUT:
      return WaitResult::timed_out;
    default:
      return WaitResult::interrupted;
  }
}

}  // namespace

WaitResult futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                      std::chrono::nanoseconds timeout) noexcept {
  if (timeout.count() <= 0) return WaitResult::timed_out;
  timespec relative{};
  relative.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
  relative.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
  return classify(futex(word, FUTEX_WAIT, expected, &relative));
}

WaitResult futex_wait_forever(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
  return classify(futex(word, FUTEX_WAIT, expected, nullptr));
}

int futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept {
  const long rc = futex(word, FUTEX_WAKE, static_cast<std::uint32_t>(count), nullptr);
  return rc < 0 ? 0 : static_cast<int>(rc);
}

int futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
  return futex_wake(word, INT_MAX);
}

std::uint64_t monotonic_ns() noexcept {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(now.tv_nsec);
}

}  // namespace shmbus::wait
