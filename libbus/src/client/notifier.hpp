// Turns "messages wait on this consumer" into a readable eventfd, for epoll and Asio loops.
//
// A thread sleeps as a blocking receive would (on the futexes of what it watches) and signals the
// eventfd when the consumer has something to read; it then waits for the consumer to drain it
// (a receive that finds nothing calls on_empty()) before it watches again.
//
// When on_empty() returns, the fd is clear unless a message came after the consumer's empty poll:
// an event loop that drained a consumer must not wake again for nothing. The notifier's check of
// ready() and its write of the eventfd therefore happen under a mutex that on_empty() takes too,
// and a Dekker pair of fences tells on_empty() when it can skip that mutex (no check in progress
// or signal pending), which it can nearly always do.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
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
  // Called by the consumer when its poll found nothing to read: clears the fd, re-arms. Costs a
  // fence and, with nothing signalled, no system call.
  void on_empty() noexcept;

 private:
  // armed: watching; checking: the notifier is deciding, under signal_mutex_, whether to signal;
  // signaled: the eventfd is readable and the notifier waits for on_empty().
  enum class State : std::uint8_t { armed, checking, signaled };

  void run() noexcept;
  // Under signal_mutex_: signals if the source is ready. False: it was not, go to sleep.
  bool check_and_signal() noexcept;

  std::unique_ptr<WatchedSource> source_;
  int event_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<State> state_{State::armed};
  std::mutex signal_mutex_;  // held while checking and signalling, and while clearing
  std::atomic<std::uint32_t> rearm_word_{0};  // futex: +1 each time the consumer re-arms
  std::thread thread_;
};

}  // namespace shmbus::detail
