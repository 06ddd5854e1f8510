// Receiving from a topic: non-blocking, blocking with timeout, or busy polling.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "shmbus/error.hpp"
#include "shmbus/message.hpp"
#include "shmbus/properties.hpp"
#include "shmbus/topic_options.hpp"

namespace shmbus {

namespace detail {
class SubscriberCore;
}

// Where a new subscriber starts reading.
struct StartPosition {
  enum class From : std::uint8_t { latest, earliest, last_n };
  From from = From::latest;
  std::uint64_t count = 0;  // for last_n

  static StartPosition latest() { return {From::latest, 0}; }
  static StartPosition earliest() { return {From::earliest, 0}; }
  static StartPosition last(std::uint64_t n) { return {From::last_n, n}; }
};

enum class WaitMode : std::uint8_t {
  adaptive,  // spin for spin_time, then sleep on a futex until woken
  spin,      // busy poll: no system call, burns a core
  block,     // sleep on the futex at once
};

struct SubscribeOptions {
  StartPosition start = StartPosition::latest();
  WaitMode wait = WaitMode::adaptive;
  std::chrono::nanoseconds spin_time = std::chrono::microseconds(20);
  // Only messages whose properties pass the filter are handed out; the others are skipped in
  // shared memory (counted by filtered()). Empty: every message.
  PropertyFilter filter{};
};

class Subscriber {
 public:
  Subscriber() = default;
  Subscriber(Subscriber&&) noexcept;
  Subscriber& operator=(Subscriber&&) noexcept;
  ~Subscriber();

  // The next message, or Status::empty at once. Releases the previous message's slot.
  Status try_receive(Message& out) noexcept;
  // Waits up to `timeout` in the subscriber's WaitMode; Status::timeout when none came.
  Status receive(Message& out, std::chrono::nanoseconds timeout) noexcept;
  // Busy polls (no system call) until a message comes or `timeout` passes.
  Status receive_spin(Message& out, std::chrono::nanoseconds timeout) noexcept;

  // True when a try_receive would return a message now (with a filter: when a message waits, which
  // the filter may still skip).
  [[nodiscard]] bool ready() const noexcept;

  // A file descriptor that is readable while messages wait (for epoll, poll, Boost.Asio).
  // Drain with try_receive until Status::empty: that re-arms it.
  [[nodiscard]] int fd();

  [[nodiscard]] std::uint64_t lost() const noexcept;      // total lost to overwrite
  [[nodiscard]] std::uint64_t filtered() const noexcept;  // skipped by SubscribeOptions::filter
  [[nodiscard]] std::uint64_t lag() const noexcept;       // messages published but not yet taken
  [[nodiscard]] const std::string& topic() const noexcept;
  [[nodiscard]] TopicInfo info() const noexcept;
  [[nodiscard]] explicit operator bool() const noexcept { return core_ != nullptr; }

 private:
  friend class Client;
  friend class WaitSet;
  explicit Subscriber(std::unique_ptr<detail::SubscriberCore> core);
  std::unique_ptr<detail::SubscriberCore> core_;
};

}  // namespace shmbus
