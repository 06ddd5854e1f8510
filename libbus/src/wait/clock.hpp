// The clock of publish times: CLOCK_MONOTONIC in nanoseconds, read from the CPU's time-stamp
// counter (TSC) where the kernel's own clocksource is the TSC.
//
// Why not clock_gettime: through the vDSO it fences its TSC read, and on the KVM guests measured it
// cost as much as all the rest of a 64-byte publish (BM_PartClockRead against BM_ClaimCommit);
// the fence also keeps the publisher from overlapping the read with the line transfers of the slot
// it writes. A plain rdtsc (BM_PartTscStamp) orders nothing.
//
// How the TSC becomes CLOCK_MONOTONIC: one process-wide line, ns = anchor_ns + (tsc - anchor_tsc)
// * slope, re-anchored on clock_gettime every millisecond by whichever thread first reads the clock
// after the line expires. The base rate is measured between clock_gettime readings 10-100 ms apart;
// at each re-anchor the slope is bent by the offset found, so that the line meets CLOCK_MONOTONIC
// again one millisecond later (NTP-style slewing) instead of stepping. It stays within the
// uncertainty of one clock_gettime call, plus what the kernel's own rate (NTP) changes within a
// millisecond, of CLOCK_MONOTONIC (tests/unit/clock_test.cpp). Until the first rate is known (10 ms
// after init_tsc_clock), and where the clocksource is not the TSC, now() is clock_gettime.
#pragma once

#include <atomic>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define SHMBUS_HAVE_TSC 1
#else
#define SHMBUS_HAVE_TSC 0
#endif

#include "wait/futex.hpp"

namespace shmbus::wait {

// Cache-line aligned: every publish reads the line's first fields, which change once a millisecond,
// and no unrelated variable written more often should share their line.
class alignas(64) TscClock {
 public:
  // The fixed-point position of slope_: ns per tick << kShift.
  static constexpr unsigned kShift = 32;

  constexpr TscClock() = default;

  // Decides once per process whether the TSC may be used: reads the kernel's clocksource (system
  // calls: call it where a process sets up, not on a hot path). Until then now() is clock_gettime.
  void init() noexcept;

  // CLOCK_MONOTONIC ns. `ordered`: the TSC is read only after every earlier instruction has
  // completed (lfence), as clock_gettime does; a receiver timing what it has just read needs that.
  // Unordered, the read may run a few ns ahead of the instructions before it: a publisher stamping
  // a message it is writing does not mind and saves the fence.
  template <bool ordered>
  std::uint64_t now() noexcept {
#if SHMBUS_HAVE_TSC
    // acquire: pairs with the release store of version_ that ends a re-anchor, so that the line's
    // fields read below belong to this version or the re-check fails.
    const std::uint32_t version = version_.load(std::memory_order_acquire);
    const std::uint64_t anchor_tsc = anchor_tsc_.load(std::memory_order_relaxed);
    const std::uint64_t anchor_ns = anchor_ns_.load(std::memory_order_relaxed);
    const std::uint64_t slope = slope_.load(std::memory_order_relaxed);
    const std::uint64_t span = span_ticks_.load(std::memory_order_relaxed);
    if constexpr (ordered) _mm_lfence();
    // Wraps to a huge value if this TSC read is behind the anchor: that re-anchors too.
    const std::uint64_t ticks = __rdtsc() - anchor_tsc;
    // acquire fence: the fields above are read before the version is checked again.
    std::atomic_thread_fence(std::memory_order_acquire);
    if (ticks < span && version_.load(std::memory_order_relaxed) == version && (version & 1) == 0) {
      return anchor_ns + ((ticks * slope) >> kShift);
    }
#endif
    return slow_now();
  }

 private:
  struct Line {
    std::uint64_t anchor_tsc;
    std::uint64_t anchor_ns;
    std::uint64_t slope;
    std::uint64_t span;
  };
  std::uint64_t slow_now() noexcept;
  bool read_line(Line& line) const noexcept;
  void write_line(const Line& line) noexcept;
  std::uint64_t reanchor() noexcept;

  enum Mode : std::uint32_t { kUnknown = 0, kTsc = 1, kSystem = 2 };

  // The line, under a seqlock: version_ is odd while one thread rewrites it. span_ticks_ == 0
  // (no line yet) sends every reader to slow_now().
  std::atomic<std::uint32_t> version_{0};
  std::atomic<std::uint64_t> anchor_tsc_{0};
  std::atomic<std::uint64_t> anchor_ns_{0};
  std::atomic<std::uint64_t> slope_{0};
  std::atomic<std::uint64_t> span_ticks_{0};

  std::atomic<std::uint32_t> mode_{kUnknown};
  // Taken with a test-and-set by the thread that re-anchors; the others do not wait for it.
  std::atomic<bool> updating_{false};
  // The last clock_gettime reading the base rate is measured from. Written under updating_;
  // atomic because slow_now() peeks at base_ns_ without it.
  std::atomic<std::uint64_t> base_tsc_{0};
  std::atomic<std::uint64_t> base_ns_{0};
  // ns per tick as a double, from the last base window; 0 until the first window closed.
  double rate_ = 0;
};

// The process's clock (one line for every thread and publisher).
extern TscClock g_tsc_clock;

inline void init_tsc_clock() noexcept {
  g_tsc_clock.init();
}

// For stamping what this thread is writing: see TscClock::now<false>.
inline std::uint64_t stamp_ns() noexcept {
  return g_tsc_clock.now<false>();
}

// For timing what this thread has read: see TscClock::now<true>.
inline std::uint64_t clock_ns() noexcept {
  return g_tsc_clock.now<true>();
}

}  // namespace shmbus::wait
