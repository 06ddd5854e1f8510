// SIGINT and SIGTERM as events of the supervisor's io_context, read from a signalfd.
//
// Why not an asynchronous handler (asio::signal_set): under ThreadSanitizer a signal that lands
// while the daemon runs between two intercepted calls is deferred to the next one, and an idle
// daemon's next call can be an epoll_wait without a timeout: it never stopped (2 runs in 150 of
// SupervisorTest.CorruptedControlSegmentIsRefusedUnlessReset under load; /proc showed it in
// epoll_wait with nothing pending). A signalfd makes the signal a readable fd like any other, with
// no handler to run, under a sanitizer or not.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>

namespace shmbus::daemon {

class StopSignals {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread, which must be the process's only thread so
  // far (threads started later inherit the mask): a thread that had them unblocked would take them
  // with the default action and end the process without its clean shutdown. They stay blocked
  // after this object is gone, so a second signal cannot kill a daemon that is shutting down.
  StopSignals(boost::asio::io_context& io, std::function<void(int)> on_signal);
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  ~StopSignals() = default;

  // Stops waiting for signals (the supervisor is stopping).
  void cancel() noexcept;

 private:
  void wait();

  boost::asio::posix::stream_descriptor descriptor_;
  std::function<void(int)> on_signal_;
};

}  // namespace shmbus::daemon
