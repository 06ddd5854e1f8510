// shmbusd: the supervisor daemon of one bus.
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <optional>
#include <string>

#include "config.hpp"
#include "daemonize.hpp"
#include "layout/naming.hpp"
#include "shmbus/error.hpp"
#include "shmbus/version.hpp"
#include "supervisor.hpp"

int main(int argc, char** argv) {
  CLI::App app{"shmbusd: supervisor of a shmbus shared-memory message bus"};
  std::string bus = shmbus::naming::default_bus();
  std::string config_file;
  std::string log_level = "info";
  bool foreground = false;
  bool reset = false;
  app.add_option("-b,--bus", bus, "bus to serve ($SHMBUS_BUS, else \"default\")")
      ->capture_default_str();
  // Not checked by CLI11: load_config reports a missing file as a config_error like any other.
  app.add_option("-c,--config", config_file, "TOML configuration file");
  std::string log_file;
  app.add_flag("-f,--foreground", foreground,
               "stay in the foreground and log to stderr (otherwise detach once the bus is ready)");
  app.add_option("--log-file", log_file, "when detached, append logs to this file");
  app.add_option("-l,--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_flag("--reset", reset,
               "remove the bus's existing segments (e.g. corrupted ones) and start afresh");
  app.set_version_flag("--version", std::string(shmbus::kVersionString));
  CLI11_PARSE(app, argc, argv);

  // Detaching happens before anything else runs, so that the daemon's pid is the one it records;
  // the parent waits until the bus is ready (or failed) and exits with that outcome.
  std::optional<shmbus::daemon::Detached> detached;
  if (!foreground) detached.emplace(shmbus::daemon::detach(bus, log_file));
  // Logs go to stderr (the log file when detached) so that stdout stays free.
  spdlog::set_default_logger(spdlog::stderr_color_mt("shmbusd"));
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e [%^%l%$] %v");
  // A client that vanishes mid-reply must not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);

  try {
    shmbus::daemon::SupervisorOptions options;
    options.bus = bus;
    if (!config_file.empty()) options.config = shmbus::daemon::load_config(config_file);
    options.reset = reset;
    options.handle_signals = true;
    shmbus::daemon::Supervisor supervisor(std::move(options));
    if (detached) detached->ready();
    supervisor.run();
  } catch (const shmbus::Error& e) {
    if (detached) detached->failed(e.what());
    fmt::print(stderr, "shmbusd: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    if (detached) detached->failed(e.what());
    fmt::print(stderr, "shmbusd: unexpected error: {}\n", e.what());
    return 2;
  }
  return 0;
}
