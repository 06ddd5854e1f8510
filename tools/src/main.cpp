// `shmbus`: inspect a bus and publish or receive messages from the shell.
#include <CLI/CLI.hpp>

#include <exception>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "shmbus/error.hpp"

int main(int argc, char** argv) {
  using namespace shmbus::cli;
  CLI::App app{"shmbus: inspect a shared-memory message bus, publish and receive messages",
               "shmbus"};
  app.require_subcommand(1);
  const std::vector<std::pair<const char*, Command>> commands{
      {"group", add_group(app)}, {"ls", add_ls(app)},   {"perf", add_perf(app)},
      {"pub", add_pub(app)},     {"sub", add_sub(app)}, {"version", add_version(app)}};

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    for (const auto& [name, run] : commands) {
      if (app.got_subcommand(name)) return run();
    }
  } catch (const shmbus::Error& e) {
    print_error(e.what());
    return e.code() == shmbus::ErrorCode::invalid_name ||
                   e.code() == shmbus::ErrorCode::invalid_argument
               ? kExitUsage
               : kExitFailure;
  } catch (const std::exception& e) {
    print_error(e.what());
    return kExitFailure;
  }
  return kExitUsage;
}
