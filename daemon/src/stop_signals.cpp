#include "stop_signals.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "shmbus/error.hpp"

namespace shmbus::daemon {
namespace {

int open_stop_signal_fd() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (const int error = ::pthread_sigmask(SIG_BLOCK, &signals, nullptr); error != 0) {
    throw Error(ErrorCode::io_error, fmt::format("pthread_sigmask: {}", std::strerror(error)));
  }
  const int fd = ::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::io_error, fmt::format("signalfd: {}", std::strerror(errno)));
  return fd;
}

}  // namespace

StopSignals::StopSignals(boost::asio::io_context& io, std::function<void(int)> on_signal)
    : descriptor_(io, open_stop_signal_fd()), on_signal_(std::move(on_signal)) {
  wait();
}

void StopSignals::cancel() noexcept {
  boost::system::error_code ignored;
  descriptor_.cancel(ignored);
}

void StopSignals::wait() {
  descriptor_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                         [this](const boost::system::error_code& ec) {
                           if (ec) return;
                           signalfd_siginfo info{};
                           const ssize_t n =
                               ::read(descriptor_.native_handle(), &info, sizeof(info));
                           if (n == static_cast<ssize_t>(sizeof(info))) {
                             on_signal_(static_cast<int>(info.ssi_signo));
                           }
                           wait();
                         });
}

}  // namespace shmbus::daemon
