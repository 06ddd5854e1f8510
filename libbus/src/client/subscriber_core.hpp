// What a Subscriber holds: its record in the topic segment, the ring reader over it, and the
// optional notifier thread behind fd().
#pragma once

#include <chrono>
#include <memory>

#include "client/mapped_topic.hpp"
#include "client/notifier.hpp"
#include "ring/ring_reader.hpp"
#include "shmbus/subscriber.hpp"

namespace shmbus::detail {

class ClientCore;

class SubscriberCore {
 public:
  // `options.filter` must have passed check_filter.
  SubscriberCore(std::shared_ptr<ClientCore> client, std::shared_ptr<MappedTopic> topic,
                 const SubscribeOptions& options);
  SubscriberCore(const SubscriberCore&) = delete;
  SubscriberCore& operator=(const SubscriberCore&) = delete;
  ~SubscriberCore();

  Status try_receive(Message& out) noexcept;
  Status receive(Message& out, std::chrono::nanoseconds timeout) noexcept;
  Status receive_spin(Message& out, std::chrono::nanoseconds timeout) noexcept;
  int fd();

  [[nodiscard]] const ring::RingReader& reader() const noexcept { return reader_; }
  // Messages skipped because they did not pass the options' filter.
  [[nodiscard]] std::uint64_t filtered() const noexcept { return filtered_; }
  [[nodiscard]] const MappedTopic& topic() const noexcept { return *topic_; }
  [[nodiscard]] std::shared_ptr<const MappedTopic> mapped_topic() const noexcept { return topic_; }
  [[nodiscard]] const SubscribeOptions& options() const noexcept { return options_; }

 private:
  SubscriberCore(std::shared_ptr<ClientCore> client, std::shared_ptr<MappedTopic> topic,
                 const SubscribeOptions& options, const protocol::SubscriberReply& reply);

  std::shared_ptr<ClientCore> client_;
  std::shared_ptr<MappedTopic> topic_;
  SubscribeOptions options_;
  std::uint32_t index_ = 0;
  bool filtering_ = false;
  std::uint64_t filtered_ = 0;
  ring::RingReader reader_;
  std::unique_ptr<Notifier> notifier_;
};

}  // namespace shmbus::detail
