// Detaching shmbusd from its terminal, with the outcome of start-up reported to the parent.
#pragma once

#include <string>
#include <string_view>

namespace shmbus::daemon {

// The detached child's end of the start-up report.
class Detached {
 public:
  explicit Detached(int report_fd) : report_fd_(report_fd) {}
  Detached(Detached&& other) noexcept : report_fd_(other.report_fd_) { other.report_fd_ = -1; }
  Detached(const Detached&) = delete;
  Detached& operator=(const Detached&) = delete;
  Detached& operator=(Detached&&) = delete;
  ~Detached();

  void ready() noexcept;                       // the bus is served: the parent exits 0
  void failed(std::string_view why) noexcept;  // start-up failed: the parent prints why, exits 1

 private:
  int report_fd_;
};

// Forks. The parent waits for the child's report, prints it and exits; it never returns. The child
// starts a new session, puts stdin/stdout on /dev/null and stderr on `log_file` (or /dev/null), and
// returns its end of the report.
Detached detach(std::string_view bus, const std::string& log_file);

}  // namespace shmbus::daemon
