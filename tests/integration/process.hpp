// Child processes for multi-process tests: spawn with a stdout pipe, read lines with a deadline,
// kill, and reap with a deadline. Nothing here sleeps to synchronise: every wait is on an event
// (a line, an exit) bounded by a deadline so that a broken test fails instead of hanging.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace shmbus::testing {

class ChildProcess {
 public:
  // Starts `argv[0]` with `argv`; its stdout is captured, stderr is inherited.
  explicit ChildProcess(const std::vector<std::string>& argv);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();  // SIGKILLs and reaps a child still running

  // The next stdout line, or nullopt at EOF or when `timeout` passes.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  // Reads lines until one starts with `prefix`; returns it, or nullopt.
  std::optional<std::string> wait_for_line(const std::string& prefix,
                                           std::chrono::milliseconds timeout);
  void kill(int signal);
  // The exit status (as from waitpid), or nullopt if it did not exit within `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  bool reaped_ = false;
};

// Polls `condition` every millisecond until it holds or `timeout` passes.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    struct timespec pause {
      0, 1'000'000
    };
    nanosleep(&pause, nullptr);
  }
  return true;
}

// "key=value" from a RESULT line.
std::optional<std::uint64_t> field(const std::string& line, const std::string& key);

std::string unique_bus(const std::string& stem);

}  // namespace shmbus::testing
