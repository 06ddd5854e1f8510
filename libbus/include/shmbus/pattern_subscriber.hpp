// Receiving from every topic whose name matches a wildcard pattern, including topics created later.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shmbus/error.hpp"
#include "shmbus/message.hpp"

namespace shmbus {

namespace detail {
class PatternSubscriberCore;
}

// Made by Client::pattern_subscriber("md.*.AAPL" / "md.#"): '*' matches exactly one level, '#'
// zero or more. Attaches a subscriber to each matching topic, and to each matching topic created
// later (noticed on the next receive). Topics matched at subscription start at the options' start
// position; topics that appear later start at `earliest`, so nothing published to a new topic
// before the subscriber attached to it is missed (unless the ring wrapped meanwhile: then
// lost_before() says how much). Receives take the topics in turn (one message each, round robin);
// each topic's messages arrive in order, and Message::topic() names the topic. The same
// SubscribeOptions (wait mode, filter) apply to every topic.
class PatternSubscriber {
 public:
  PatternSubscriber() = default;
  PatternSubscriber(PatternSubscriber&&) noexcept;
  PatternSubscriber& operator=(PatternSubscriber&&) noexcept;
  ~PatternSubscriber();

  // As Subscriber: the next message from any matching topic, or Status::empty at once.
  Status try_receive(Message& out) noexcept;
  // Waits up to `timeout` in the options' WaitMode (block and adaptive sleep on all the topics'
  // futexes at once).
  Status receive(Message& out, std::chrono::nanoseconds timeout) noexcept;
  Status receive_spin(Message& out, std::chrono::nanoseconds timeout) noexcept;

  // True when a receive may find a message now, or topics were created or removed (a receive then
  // attaches or drops them).
  [[nodiscard]] bool ready();
  // For epoll and Asio loops: readable while a message may wait on a matching topic, or when
  // topics were created or removed (a receive then attaches or drops them); drain with try_receive
  // until Status::empty to re-arm it.
  [[nodiscard]] int fd();

  [[nodiscard]] const std::string& pattern() const noexcept;
  // The topics attached now, sorted.
  [[nodiscard]] std::vector<std::string> topics() const;
  [[nodiscard]] std::uint64_t lost() const noexcept;      // total lost to overwrite, all topics
  [[nodiscard]] std::uint64_t filtered() const noexcept;  // skipped by the filter, all topics
  [[nodiscard]] explicit operator bool() const noexcept { return core_ != nullptr; }

 private:
  friend class Client;
  explicit PatternSubscriber(std::unique_ptr<detail::PatternSubscriberCore> core);
  std::unique_ptr<detail::PatternSubscriberCore> core_;
};

}  // namespace shmbus
