// Helpers shared by the subcommands: the --bus option, topic options and error reporting.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "shmbus/error.hpp"
#include "shmbus/topic_options.hpp"
#include "wait/futex.hpp"

namespace shmbus::cli {

// Exit codes: 0 success, 1 a runtime failure (no daemon, timeout, ...), 2 a bad command line.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Adds `--bus NAME` defaulting to $SHMBUS_BUS, else "default".
void add_bus_option(CLI::App& command, std::string& bus);

// The options that shape a topic when this command creates it.
struct TopicShape {
  std::uint32_t slot_size = 0;
  std::uint32_t slot_count = 0;
  std::string policy;  // empty: the daemon's default
};
void add_topic_shape_options(CLI::App& command, TopicShape& shape);
TopicOptions to_topic_options(const TopicShape& shape);

// Throws shmbus::Error(invalid_name) with the naming rules' explanation.
void check_bus(std::string_view bus);
void check_topic(std::string_view topic);

// The message printed for a hot-path status that ended a command.
std::string describe_status(Status status, std::string_view topic, std::uint32_t slot_size,
                            double block_timeout_s = 1.0);

// Prints "shmbus: <message>" on stderr.
void print_error(std::string_view message);

// CLOCK_MONOTONIC in ns. The library stamps publish_time_ns on the same clock (read from the TSC,
// shmbus/clock.hpp), so a message's age is monotonic_ns() - publish_time_ns().
using wait::monotonic_ns;

}  // namespace shmbus::cli
