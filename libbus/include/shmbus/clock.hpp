// The clock of MessageHeader::publish_time_ns.
#pragma once

#include <cstdint>

namespace shmbus {

// CLOCK_MONOTONIC in nanoseconds, read the way publishers stamp publish_time_ns: from the CPU's
// time-stamp counter where the kernel's clocksource is the TSC, otherwise clock_gettime itself.
// It stays within the uncertainty of one clock_gettime call of clock_gettime(CLOCK_MONOTONIC), so
// `now_ns() - message.publish_time_ns()` is a message's age whichever of the two clocks the
// receiver reads, and it never goes back in a thread (nor do one publisher's stamps). The first
// call in a process without a Client reads the kernel's clocksource once (system calls); the first
// 10 ms after that are clock_gettime while the TSC rate is measured.
std::uint64_t now_ns() noexcept;

}  // namespace shmbus
