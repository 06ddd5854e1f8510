#include "daemonize.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace shmbus::daemon {
namespace {

void write_all(int fd, std::string_view text) noexcept {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

[[noreturn]] void report_in_parent(int report_fd, pid_t child, std::string_view bus) {
  std::string report;
  char chunk[512];
  for (;;) {
    const ssize_t n = ::read(report_fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    report.append(chunk, static_cast<std::size_t>(n));
  }
  if (report == "ok") {
    fmt::print("shmbusd: serving bus '{}' (pid {})\n", bus, child);
    std::fflush(stdout);
    std::_Exit(0);
  }
  fmt::print(stderr, "shmbusd: {}\n",
             report.empty() ? std::string("the daemon exited during start-up") : report);
  std::_Exit(1);
}

void redirect(int target, const char* path, int flags) {
  const int fd = ::open(path, flags | O_CLOEXEC, 0640);
  if (fd < 0) return;
  ::dup2(fd, target);  // dup2 clears O_CLOEXEC on the target
  ::close(fd);
}

}  // namespace

Detached::~Detached() {
  if (report_fd_ >= 0) ::close(report_fd_);
}

void Detached::ready() noexcept {
  if (report_fd_ < 0) return;
  write_all(report_fd_, "ok");
  ::close(report_fd_);
  report_fd_ = -1;
}

void Detached::failed(std::string_view why) noexcept {
  if (report_fd_ < 0) return;
  write_all(report_fd_, why);
  ::close(report_fd_);
  report_fd_ = -1;
}

Detached detach(std::string_view bus, const std::string& log_file) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    fmt::print(stderr, "shmbusd: pipe: {}\n", std::strerror(errno));
    std::_Exit(1);
  }
  const pid_t child = ::fork();
  if (child < 0) {
    fmt::print(stderr, "shmbusd: fork: {}\n", std::strerror(errno));
    std::_Exit(1);
  }
  if (child > 0) {
    ::close(fds[1]);
    report_in_parent(fds[0], child, bus);
  }
  ::close(fds[0]);
  ::setsid();
  redirect(STDIN_FILENO, "/dev/null", O_RDONLY);
  redirect(STDOUT_FILENO, "/dev/null", O_WRONLY);
  if (log_file.empty()) {
    redirect(STDERR_FILENO, "/dev/null", O_WRONLY);
  } else {
    redirect(STDERR_FILENO, log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND);
  }
  return Detached(fds[1]);
}

}  // namespace shmbus::daemon
