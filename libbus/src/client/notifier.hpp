// Turns "messages wait on this subscriber" into a readable eventfd, for epoll and Asio loops.
//
// A thread sleeps on the topic's futex (as a blocking receive does) and signals the eventfd when
// the subscriber has something to read; it then waits for the consumer to drain the subscriber
// (try_receive returning empty calls on_empty()) before it watches the topic again.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

#include "layout/shm_layout.hpp"

namespace shmbus::detail {

class Notifier {
 public:
  // `ready` says whether the consumer has something to read; it runs on the notifier's thread.
  Notifier(layout::TopicHeader& header, std::function<bool()> ready);
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;
  ~Notifier();

  [[nodiscard]] int fd() const noexcept { return event_fd_; }
  // Called by the consumer when the subscriber had nothing to read: clears the fd, re-arms.
  void on_empty() noexcept;

 private:
  void run() noexcept;

  layout::TopicHeader& header_;
  std::function<bool()> ready_;
  int event_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> signaled_{false};
  std::atomic<std::uint32_t> rearm_word_{0};  // futex: +1 each time the consumer re-arms
  std::thread thread_;
};

}  // namespace shmbus::detail
