// Turns "messages wait on this consumer" into a readable eventfd, for epoll and Asio loops.
//
// A thread sleeps as a blocking receive would (on the futexes of what it watches) and signals the
// eventfd when the consumer has something to read; it then waits for the consumer to drain it
// (a receive that finds nothing calls on_empty()) before it watches again.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "layout/shm_layout.hpp"

namespace shmbus::detail {

// What a notifier watches. ready() and sleep() run on the notifier's thread; interrupt() on the
// thread that destroys the notifier.
class WatchedSource {
 public:
  virtual ~WatchedSource() = default;
  // Whether the consumer has something to read (or otherwise needs to be called, e.g. a pattern
  // subscriber whose directory changed).
  virtual bool ready() = 0;
  // Sleeps until the source may have become ready, at most a bounded time. Registers as a sleeper
  // first and returns at once if ready() then holds, so that no wake-up is lost.
  virtual void sleep() = 0;
  // Ends a sleep() in progress, because the notifier is stopping.
  virtual void interrupt() = 0;
};

// One topic's consumer, as its notifier sees it: whether it has something to read, and whether the
// message it waits for is claimed but not yet committed (ring::claim_in_flight).
struct WatchedTopic {
  std::function<bool()> ready;
  std::function<bool()> claim_in_flight;
};

// Bounds each sleep of a source, so that a lost wake-up (e.g. a publisher killed between commit
// and wake) costs at most this much latency rather than a hang.
inline constexpr std::uint64_t kNotifierSleepBoundNs = 100'000'000;

class Notifier {
 public:
  explicit Notifier(std::unique_ptr<WatchedSource> source);
  // One topic: sleeps on its futex.
  Notifier(layout::TopicHeader& header, WatchedTopic watched);
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;
  ~Notifier();

  [[nodiscard]] int fd() const noexcept { return event_fd_; }
  // Called by the consumer when the subscriber had nothing to read: clears the fd, re-arms.
  void on_empty() noexcept;

 private:
  void run() noexcept;

  std::unique_ptr<WatchedSource> source_;
  int event_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> signaled_{false};
  std::atomic<std::uint32_t> rearm_word_{0};  // futex: +1 each time the consumer re-arms
  std::thread thread_;
};

}  // namespace shmbus::detail
