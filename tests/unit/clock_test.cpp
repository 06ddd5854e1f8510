// The TSC clock publishers stamp messages with: it must read as CLOCK_MONOTONIC.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

#include "shmbus/clock.hpp"
#include "wait/clock.hpp"
#include "wait/futex.hpp"

namespace shmbus::testing {
namespace {

// Reads the clock for `ns` of CLOCK_MONOTONIC time (past the first rate window, the line is in
// use).
void run_for(std::uint64_t ns) {
  const std::uint64_t end = wait::monotonic_ns() + ns;
  while (wait::monotonic_ns() < end) {
    (void)wait::stamp_ns();
  }
}

TEST(Clock, ReadsAsClockMonotonic) {
  wait::init_tsc_clock();
  run_for(30'000'000);
  // Each reading lies between two clock_gettime calls around it, give or take the line's error.
  // The bound is loose for a shared machine; the median error says how close the line runs.
  constexpr std::int64_t kTolerance = 20'000;
  std::vector<std::int64_t> errors;
  const std::uint64_t end = wait::monotonic_ns() + 50'000'000;
  for (std::uint64_t before = 0; before < end;) {
    before = wait::monotonic_ns();
    const std::uint64_t stamp = wait::clock_ns();
    const std::uint64_t after = wait::monotonic_ns();
    if (after - before > 2'000) continue;  // preempted in between: says nothing about the clock
    const auto middle = static_cast<std::int64_t>(before + (after - before) / 2);
    const std::int64_t error = static_cast<std::int64_t>(stamp) - middle;
    ASSERT_LT(std::abs(error), kTolerance)
        << "stamp " << stamp << " outside [" << before << ", " << after << "]";
    errors.push_back(std::abs(error));
  }
  ASSERT_FALSE(errors.empty());
  std::nth_element(errors.begin(), errors.begin() + errors.size() / 2, errors.end());
  RecordProperty("median_abs_error_ns", static_cast<int>(errors[errors.size() / 2]));
  EXPECT_LT(errors[errors.size() / 2], 1'000);
}

TEST(Clock, NeverGoesBackInAThreadWhileOthersReanchor) {
  wait::init_tsc_clock();
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&failed] {
      std::uint64_t last = 0;
      const std::uint64_t end = wait::monotonic_ns() + 40'000'000;
      while (wait::monotonic_ns() < end) {
        const std::uint64_t now = shmbus::now_ns();
        if (now < last) failed = true;
        last = now;
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_FALSE(failed);
}

}  // namespace
}  // namespace shmbus::testing
