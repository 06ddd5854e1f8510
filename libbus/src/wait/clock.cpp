#include "wait/clock.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "shmbus/clock.hpp"

namespace shmbus {

std::uint64_t now_ns() noexcept {
  wait::init_tsc_clock();
  // The line never steps back, but a read just before a re-anchor and one just after, or one
  // from clock_gettime while the line is rewritten, may differ by a few ns the wrong way; a caller
  // subtracting two reads must never see that.
  thread_local std::uint64_t last = 0;
  last = std::max(wait::clock_ns(), last);
  return last;
}

}  // namespace shmbus

namespace shmbus::wait {

constinit TscClock g_tsc_clock;

namespace {

// How long one anchor serves: the longer, the fewer clock_gettime calls; the shorter, the less a
// rate error or a change of the kernel's rate (NTP) moves the line away from CLOCK_MONOTONIC.
constexpr double kSpanNs = 1'000'000;
// The base rate is measured over this much CLOCK_MONOTONIC time: the first after 10 ms (a
// bracket's tens of ns over 10 ms is a few ppm), then over 100 ms windows that follow NTP.
constexpr std::uint64_t kFirstWindowNs = 10'000'000;
constexpr std::uint64_t kRateWindowNs = 100'000'000;
constexpr int kBracketTries = 3;

bool kernel_clocksource_is_tsc() noexcept {
  const int fd = ::open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                        O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char text[32] = {};
  const ssize_t n = ::read(fd, text, sizeof(text) - 1);
  ::close(fd);
  return n >= 3 && std::strncmp(text, "tsc", 3) == 0 && (n == 3 || text[3] == '\n');
}

#if SHMBUS_HAVE_TSC
// A clock_gettime reading and the TSC value in the middle of the tightest of a few brackets of
// it; the bracket's width says how far off the middle can be (wide: an interrupt hit it).
struct Reading {
  std::uint64_t tsc = 0;
  std::uint64_t ns = 0;
  std::uint64_t width = ~std::uint64_t{0};
};

Reading read_bracketed() noexcept {
  Reading best;
  for (int i = 0; i < kBracketTries; ++i) {
    _mm_lfence();
    const std::uint64_t before = __rdtsc();
    _mm_lfence();
    const std::uint64_t ns = monotonic_ns();
    _mm_lfence();
    const std::uint64_t after = __rdtsc();
    if (after >= before && after - before < best.width) {
      best = Reading{before + (after - before) / 2, ns, after - before};
    }
  }
  return best;
}
#endif

}  // namespace

void TscClock::init() noexcept {
  if (mode_.load(std::memory_order_relaxed) != kUnknown) return;
#if SHMBUS_HAVE_TSC
  const Mode mode = kernel_clocksource_is_tsc() ? kTsc : kSystem;
  // acquire: pairs with the release store that ends a re-anchor (or another init's base).
  if (mode == kTsc && !updating_.exchange(true, std::memory_order_acquire)) {
    if (base_tsc_.load(std::memory_order_relaxed) == 0) {
      // The first rate window starts now, so that it has closed by the first publishes.
      const Reading reading = read_bracketed();
      base_tsc_.store(reading.tsc, std::memory_order_relaxed);
      base_ns_.store(reading.ns, std::memory_order_relaxed);
    }
    // release: pairs with the acquire exchange of the next thread that re-anchors.
    updating_.store(false, std::memory_order_release);
  }
  mode_.store(mode, std::memory_order_relaxed);
#else
  mode_.store(kSystem, std::memory_order_relaxed);
#endif
}

bool TscClock::read_line(Line& line) const noexcept {
  // acquire: pairs with the release store of version_ in write_line (see now()).
  const std::uint32_t version = version_.load(std::memory_order_acquire);
  line.anchor_tsc = anchor_tsc_.load(std::memory_order_relaxed);
  line.anchor_ns = anchor_ns_.load(std::memory_order_relaxed);
  line.slope = slope_.load(std::memory_order_relaxed);
  line.span = span_ticks_.load(std::memory_order_relaxed);
  // acquire fence: the fields are read before the version is checked again.
  std::atomic_thread_fence(std::memory_order_acquire);
  return (version & 1) == 0 && version_.load(std::memory_order_relaxed) == version &&
         line.span != 0;
}

void TscClock::write_line(const Line& line) noexcept {
  const std::uint32_t version = version_.load(std::memory_order_relaxed);
  version_.store(version + 1, std::memory_order_relaxed);
  // release fence: a reader that sees any new field also sees the odd version (pairs with the
  // acquire fence before its re-check), so it never mixes two lines.
  std::atomic_thread_fence(std::memory_order_release);
  anchor_tsc_.store(line.anchor_tsc, std::memory_order_relaxed);
  anchor_ns_.store(line.anchor_ns, std::memory_order_relaxed);
  slope_.store(line.slope, std::memory_order_relaxed);
  span_ticks_.store(line.span, std::memory_order_relaxed);
  // release: pairs with the readers' acquire load of version_: the fields come with it.
  version_.store(version + 2, std::memory_order_release);
}

std::uint64_t TscClock::slow_now() noexcept {
#if SHMBUS_HAVE_TSC
  if (mode_.load(std::memory_order_relaxed) != kTsc) return monotonic_ns();
  Line line{};
  const bool have_line = read_line(line);
  if (!have_line) {
    // Still measuring the first rate: nothing to re-anchor until its window has closed.
    const std::uint64_t ns = monotonic_ns();
    if (ns - base_ns_.load(std::memory_order_relaxed) < kFirstWindowNs) return ns;
  }
  // acquire: pairs with the release store that ended the previous re-anchor, whose state
  // (base, rate) this one continues from.
  if (updating_.load(std::memory_order_relaxed) ||
      updating_.exchange(true, std::memory_order_acquire)) {
    // Another thread re-anchors: extend the current line a little rather than wait for it (the
    // next line starts about where this one ends; now_ns() and publishers keep their own reads
    // in order across the few ns that may differ).
    if (have_line) {
      const std::uint64_t ticks = __rdtsc() - line.anchor_tsc;
      if (ticks < 4 * line.span) return line.anchor_ns + ((ticks * line.slope) >> kShift);
    }
    return monotonic_ns();
  }
  const std::uint64_t ns = reanchor();
  // release: pairs with the acquire exchange of the next thread that re-anchors.
  updating_.store(false, std::memory_order_release);
  return ns;
#else
  return monotonic_ns();
#endif
}

// Called holding updating_: takes a reading, updates the rate when its window has closed and
// draws the next line from the reading. Returns the time now.
std::uint64_t TscClock::reanchor() noexcept {
#if SHMBUS_HAVE_TSC
  const Reading reading = read_bracketed();
  if (reading.width == ~std::uint64_t{0}) return monotonic_ns();  // the TSC went back each time
  const std::uint64_t base_tsc = base_tsc_.load(std::memory_order_relaxed);
  const std::uint64_t base_ns = base_ns_.load(std::memory_order_relaxed);
  const std::uint64_t window_ns = reading.ns - base_ns;
  if (base_tsc == 0 || reading.tsc <= base_tsc || reading.ns <= base_ns) {
    base_tsc_.store(reading.tsc, std::memory_order_relaxed);
    base_ns_.store(reading.ns, std::memory_order_relaxed);
    return reading.ns;
  }
  if (window_ns >= (rate_ == 0 ? kFirstWindowNs : kRateWindowNs)) {
    rate_ = static_cast<double>(window_ns) / static_cast<double>(reading.tsc - base_tsc);
    base_tsc_.store(reading.tsc, std::memory_order_relaxed);
    base_ns_.store(reading.ns, std::memory_order_relaxed);
  }
  if (rate_ <= 0) return reading.ns;

  Line next{reading.tsc, reading.ns, 0, static_cast<std::uint64_t>(kSpanNs / rate_)};
  double offset = 0;  // ns the new line must gain on the old one within a span
  Line old{};
  if (read_line(old)) {
    // Where the old line is now: its bent slope up to the end of its span (readers left it
    // there), the base rate beyond (a bent slope followed past its span would carry the bend
    // into the next offset, and a bigger one into the one after). The new line starts there
    // unless that is far behind, and bends its slope to meet the reading one span later.
    const std::uint64_t since = reading.tsc > old.anchor_tsc ? reading.tsc - old.anchor_tsc : 0;
    const std::uint64_t bent = std::min(since, old.span);
    const std::uint64_t predicted =
        old.anchor_ns + ((bent * old.slope) >> kShift) +
        static_cast<std::uint64_t>(static_cast<double>(since - bent) * rate_);
    offset = static_cast<double>(reading.ns) - static_cast<double>(predicted);
    if (offset > kSpanNs / 2) {
      offset = 0;  // far behind (the line went unread for a while): jump forward
    } else {
      next.anchor_ns = predicted;
      offset = std::max(offset, -kSpanNs / 2);  // far ahead: slow down by half, never go back
    }
  }
  next.slope = static_cast<std::uint64_t>(rate_ * (1 + offset / kSpanNs) *
                                          static_cast<double>(std::uint64_t{1} << kShift));
  write_line(next);
  const std::uint64_t ticks = __rdtsc() - next.anchor_tsc;
  return next.anchor_ns + ((ticks * next.slope) >> kShift);
#else
  return monotonic_ns();
#endif
}

}  // namespace shmbus::wait
