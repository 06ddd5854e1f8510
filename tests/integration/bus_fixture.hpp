// A real shmbusd process serving a bus unique to the test, and spawning of test peers.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "process.hpp"

namespace shmbus::testing {

inline constexpr auto kStartTimeout = std::chrono::milliseconds(10'000);
inline constexpr auto kRunTimeout = std::chrono::milliseconds(240'000);

class BusTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  void start_daemon(const std::vector<std::string>& extra_args = {});
  // SIGTERM, then expects a clean exit and no segment of the bus left behind.
  void stop_daemon();
  ChildProcess& daemon() { return *daemon_; }

  // A `test_peer` process that has printed READY (attached to the bus). With `keys`, message i
  // carries the ordering key key_name(i % keys).
  ChildProcess spawn_publisher(const std::string& topic, std::uint32_t tag, std::uint64_t count,
                               std::size_t size = 32, std::uint32_t keys = 0);
  ChildProcess spawn_subscriber(const std::string& topic, std::uint32_t publishers,
                                const std::string& wait_mode = "adaptive");
  // Publishes the end marker for each tag from this process.
  void publish_end_markers(const std::string& topic, std::uint32_t publishers);

  std::string bus_;
  std::unique_ptr<ChildProcess> daemon_;
};

// Every shared-memory name of `bus` still in /dev/shm.
std::vector<std::string> segments_of(const std::string& bus);

}  // namespace shmbus::testing
