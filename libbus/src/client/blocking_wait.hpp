// Waiting for a message in a subscriber's WaitMode: busy polling, then (adaptive, block) sleeping
// on the topic's futex. Shared by broadcast subscribers and group members, which differ only in how
// they poll.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "layout/shm_layout.hpp"
#include "shmbus/error.hpp"
#include "shmbus/subscriber.hpp"
#include "wait/clock.hpp"
#include "wait/futex.hpp"

namespace shmbus::detail {

// A lost wake-up can only come from a publisher killed between commit and wake; bounding each
// sleep turns that into latency instead of a hang.
inline constexpr std::uint64_t kMaxSleepNs = 100'000'000;

// Calls `poll()` (true: got one) until it succeeds or the clock passes `deadline` (CLOCK_MONOTONIC
// ns), without a system call. The clock is read every 64 polls, and then with the TSC clock's
// unordered read: a deadline needs no fence, and a caught-up receiver polls again sooner.
template <typename Poll>
Status spin_until(Poll&& poll, std::uint64_t deadline) noexcept {
  for (std::uint32_t round = 1;; ++round) {
    wait::cpu_relax();
    if (poll()) return Status::ok;
    if ((round & 63U) == 0 && wait::stamp_ns() >= deadline) return Status::timeout;
  }
}

// Calls `poll()` until it succeeds or `timeout` passes.
template <typename Poll>
Status spin_for_message(Poll&& poll, std::chrono::nanoseconds timeout) noexcept {
  if (poll()) return Status::ok;
  return spin_until(poll, wait::stamp_ns() + static_cast<std::uint64_t>(timeout.count()));
}

// A sleeper's first step on a topic, before its seq_cst fence: counts itself in `waiters` (relaxed:
// the fence orders it) and returns the futex word to sleep on, read with acquire (it pairs with a
// waker's release increment, so a newer value means a newer commit).
inline std::uint32_t announce_sleeper(layout::TopicHeader& header) noexcept {
  header.waiters.fetch_add(1, std::memory_order_relaxed);
  return header.wake_word.load(std::memory_order_acquire);
}

// A sleeper's last step on a topic, once it is awake (relaxed: nothing is published by leaving).
inline void retire_sleeper(layout::TopicHeader& header) noexcept {
  header.waiters.fetch_sub(1, std::memory_order_relaxed);
}

// A sleeper that saw a claim in flight (ring::claim_in_flight) may be missed by that publisher's
// look at `waiters`: it polls for kClaimSpinNs, as the commit is usually a few stores away, and
// then sleeps in short slices (ClaimSlices), so that such a miss costs a slice, not kMaxSleepNs.
inline constexpr std::uint64_t kClaimSpinNs = 2'000;
inline constexpr std::uint64_t kClaimSliceNs = 200'000;
// A claim still open after slices adding up to ~25 ms belongs to a publisher that is descheduled
// or dead (the daemon aborts a dead one's slot): its sleepers wake ~80 times a second, not 5000.
inline constexpr std::uint64_t kClaimSliceMaxNs = 12'800'000;

// How long each of a sleeper's consecutive sleeps may be while it sees a claim in flight: the
// first kClaimSliceNs, each next one twice as long, up to kClaimSliceMaxNs. A sleep that sees no
// claim starts the series again.
class ClaimSlices {
 public:
  // The bound of the next sleep (no bound without a claim in flight).
  std::uint64_t next(bool claim_in_flight) noexcept {
    if (!claim_in_flight) {
      slice_ = kClaimSliceNs;
      return ~std::uint64_t{0};
    }
    const std::uint64_t slice = slice_;
    slice_ = std::min(slice_ * 2, kClaimSliceMaxNs);
    return slice;
  }

 private:
  std::uint64_t slice_ = kClaimSliceNs;
};

// After a failed poll that saw a claim in flight, polls for kClaimSpinNs (true: it succeeded).
template <typename Poll>
bool poll_while_claimed(bool claim_in_flight, Poll&& poll) noexcept {
  return claim_in_flight && spin_until(poll, wait::stamp_ns() + kClaimSpinNs) == Status::ok;
}

// Sleeps on the topic's futex until `poll()` succeeds or the clock passes `deadline`, each sleep
// at most `max_sleep_ns`. `claim_in_flight()` is ring::claim_in_flight for the first sequence
// this consumer waits for.
template <typename Poll, typename ClaimInFlight>
Status sleep_for_message(layout::TopicHeader& header, Poll&& poll, ClaimInFlight&& claim_in_flight,
                         std::uint64_t deadline,
                         std::uint64_t max_sleep_ns = kMaxSleepNs) noexcept {
  ClaimSlices slices;
  for (;;) {
    const std::uint32_t wake = announce_sleeper(header);
    // seq_cst fence: pairs with the publisher's seq_cst claim (Dekker, see RingWriter::claim):
    // either claim_in_flight() sees the claim, or the publisher's load of `waiters` sees us.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const bool claimed = claim_in_flight();
    const std::uint64_t bound = std::min(max_sleep_ns, slices.next(claimed));
    if (poll() || poll_while_claimed(claimed, poll)) {
      retire_sleeper(header);
      return Status::ok;
    }
    const std::uint64_t now = wait::monotonic_ns();
    if (now >= deadline) {
      retire_sleeper(header);
      return Status::timeout;
    }
    wait::futex_wait(header.wake_word, wake,
                     std::chrono::nanoseconds(std::min(deadline - now, bound)));
    retire_sleeper(header);
  }
}

// Waits up to `timeout` in `mode`: spin, spin for `spin_time` then `sleep(deadline)`, or sleep at
// once. `sleep` is how this consumer sleeps (one topic's futex, or several at once).
template <typename Poll, typename Sleep>
Status wait_in_mode(WaitMode mode, std::chrono::nanoseconds spin_time,
                    std::chrono::nanoseconds timeout, Poll&& poll, Sleep&& sleep) noexcept {
  if (poll()) return Status::ok;
  // One clock read per wait, shared by the spin and the sleep that may follow it.
  const std::uint64_t now = wait::stamp_ns();
  const std::uint64_t deadline =
      now + static_cast<std::uint64_t>(std::max<std::int64_t>(timeout.count(), 0));
  switch (mode) {
    case WaitMode::spin:
      return spin_until(poll, deadline);
    case WaitMode::adaptive:
      if (spin_until(poll, now + static_cast<std::uint64_t>(std::max<std::int64_t>(
                                     std::min(spin_time, timeout).count(), 0))) == Status::ok) {
        return Status::ok;
      }
      break;
    case WaitMode::block:
      break;
  }
  return sleep(deadline);
}

// wait_in_mode for a consumer of one topic, sleeping on that topic's futex.
template <typename Poll, typename ClaimInFlight>
Status wait_for_message(layout::TopicHeader& header, WaitMode mode,
                        std::chrono::nanoseconds spin_time, std::chrono::nanoseconds timeout,
                        Poll&& poll, ClaimInFlight&& claim_in_flight) noexcept {
  return wait_in_mode(mode, spin_time, timeout, poll, [&](std::uint64_t deadline) {
    return sleep_for_message(header, poll, claim_in_flight, deadline);
  });
}

}  // namespace shmbus::detail
