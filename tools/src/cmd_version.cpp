// `shmbus version`: this library's versions and, when a daemon serves the bus, the daemon's.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>

#include "bus_reader.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "layout/shm_layout.hpp"
#include "protocol/control_protocol.hpp"
#include "shmbus/version.hpp"

namespace shmbus::cli {
namespace {

int run_version(const std::string& bus) {
  std::string out = fmt::format("shmbus {} (layout {}, protocol {})\n", kVersionString,
                                layout::kLayoutVersion, protocol::kProtocolVersion);
  // The daemon's version is read from the control segment: no attach, so this works with any
  // daemon, even one whose protocol this library does not speak.
  try {
    const auto snapshot = read_bus(bus, false);
    if (snapshot.daemon_alive) {
      out += fmt::format("shmbusd {} serves bus '{}' (pid {})\n",
                         format_version(snapshot.daemon_version), bus, snapshot.daemon_pid);
    }
  } catch (const Error&) {
    // No bus or an unreadable one: the library version alone is still the answer.
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

}  // namespace

Command add_version(CLI::App& app) {
  auto bus = std::make_shared<std::string>();
  auto* command = app.add_subcommand("version", "Print the library's (and daemon's) version");
  add_bus_option(*command, *bus);
  return [bus] { return run_version(*bus); };
}

}  // namespace shmbus::cli
