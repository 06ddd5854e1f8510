// What a GroupConsumer holds: its member record, the group reader over it, the publisher that puts
// dead letters on the group's dead-letter topic, and the optional notifier behind fd().
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "client/mapped_topic.hpp"
#include "client/notifier.hpp"
#include "group/group_reader.hpp"
#include "protocol/control_protocol.hpp"
#include "shmbus/group.hpp"

namespace shmbus::detail {

class ClientCore;
class PublisherCore;

class GroupCore {
 public:
  GroupCore(std::shared_ptr<ClientCore> client, std::shared_ptr<MappedTopic> topic,
            std::string group, const GroupOptions& options);
  GroupCore(const GroupCore&) = delete;
  GroupCore& operator=(const GroupCore&) = delete;
  ~GroupCore();

  Status try_receive(Message& out) noexcept;
  Status receive(Message& out, std::chrono::nanoseconds timeout) noexcept;
  Status receive_spin(Message& out, std::chrono::nanoseconds timeout) noexcept;
  Status settle(const Message& message, group::Outcome outcome) noexcept;
  Status dead_letter(const Message& message) noexcept;
  int fd();

  [[nodiscard]] const group::GroupReader& reader() const noexcept { return reader_; }
  [[nodiscard]] const MappedTopic& topic() const noexcept { return *topic_; }
  [[nodiscard]] const std::string& group() const noexcept { return group_; }
  [[nodiscard]] const std::string& dead_letter_topic() const noexcept { return dead_letter_; }

 private:
  // Puts a copy of the message, with its properties and the reason, on the dead-letter topic.
  Status publish_dead_letter(const Message& message, std::string_view reason) noexcept;

  std::shared_ptr<ClientCore> client_;
  std::shared_ptr<MappedTopic> topic_;
  std::string group_;
  GroupOptions options_;
  protocol::GroupReply member_{};
  group::GroupReader reader_;
  std::string dead_letter_;
  std::unique_ptr<PublisherCore> dead_letter_publisher_;
  std::unique_ptr<Notifier> notifier_;
};

}  // namespace shmbus::detail
