// The main() the in-tree examples share: the bus named on the command line (else a fresh one),
// served by an embedded supervisor when no shmbusd does and the example links shmbus::embedded,
// and "NAME: ok" / "NAME: FAILED" as the last line so that ctest and readers see the outcome.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "shmbus/shmbus.hpp"

#ifdef SHMBUS_EXAMPLE_EMBEDDED
#include "shmbus/embedded_supervisor.hpp"
#endif

namespace shmbus_example {

// `run(bus)` returns the exit code: 0 when the example saw what it expects.
template <typename Run>
int example_main(int argc, char** argv, const char* name, Run&& run) {
  const std::string bus = argc > 1 ? argv[1] : "example-" + std::to_string(getpid());
  try {
#ifdef SHMBUS_EXAMPLE_EMBEDDED
    std::unique_ptr<shmbus::EmbeddedSupervisor> supervisor;
    if (!shmbus::daemon_serves(bus)) supervisor = std::make_unique<shmbus::EmbeddedSupervisor>(bus);
#endif
    const int code = run(bus);
    std::printf("%s: %s\n", name, code == 0 ? "ok" : "FAILED");
    return code;
  } catch (const shmbus::Error& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace shmbus_example
