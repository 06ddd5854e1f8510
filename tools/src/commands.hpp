// The subcommands of `shmbus`. Each add_* registers its options on `app` and returns the function
// that runs it once the command line is parsed; that function returns the process's exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace shmbus::cli {

using Command = std::function<int()>;

Command add_group(CLI::App& app);
Command add_ls(CLI::App& app);
Command add_perf(CLI::App& app);
Command add_pub(CLI::App& app);
Command add_sub(CLI::App& app);
Command add_version(CLI::App& app);

}  // namespace shmbus::cli
