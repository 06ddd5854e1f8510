// shmbus measured by the shared harness: the Sender/Receiver over a Publisher/Subscriber and the
// runs of `shmbus perf` (both sides; the other side is this executable again, `perf child`).
#pragma once

#include <cstdint>
#include <string>

#include "perf_harness.hpp"

namespace shmbus::cli {

// What `perf child` is told by the measuring process.
struct PerfChildOptions : perf::ChildCase {
  std::string bus;
  std::string role;  // pong, stream, fanout, claim
  int index = 0;     // fan-out subscriber or claim publisher number
  unsigned of = 1;
  bool json = false;
};

int run_shmbus(perf::Mode mode, perf::Options options, const std::string& bus);
int run_shmbus_child(const PerfChildOptions& options);

}  // namespace shmbus::cli
