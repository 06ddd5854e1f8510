// Shared subscription groups (work queues, competing consumers): each message of the topic goes to
// exactly one live member of each group, which acknowledges it.
//
// Guarantees (docs/messaging.md has the whole story):
//   - at-least-once per group: a message is released for reuse only when acked (or dead-lettered);
//     a member that dies, nacks or lets its ack timeout pass has its messages redelivered, flagged
//     redelivered() with a delivery count;
//   - a message that was acked is never delivered again;
//   - first deliveries follow publish order per publisher; key-ordered groups keep per-key order.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "shmbus/error.hpp"
#include "shmbus/message.hpp"
#include "shmbus/subscriber.hpp"

namespace shmbus {

namespace detail {
class GroupCore;
}

// Properties a dead letter carries besides the original message's own.
inline constexpr std::string_view kDeathReasonProperty = "x-death-reason";  // max-deliveries, nack
inline constexpr std::string_view kOriginalTopicProperty = "x-original-topic";
inline constexpr std::string_view kDeliveriesProperty = "x-deliveries";

// How a group behaves. Applied by whoever creates the group (its first member, a declare_group
// call, or the daemon's config); an existing group keeps its settings.
struct GroupSettings {
  // Keep the group, and its backlog up to the topic's capacity, while it has no members. An
  // undeclared group is deleted when its last member leaves.
  bool declare = false;
  // Messages with the same ordering key (Properties / `pub --key`) go to the same live member.
  bool key_ordered = false;
  // Deliveries after which a message goes to the dead-letter topic instead; 0: unlimited.
  std::uint32_t max_deliveries = 0;
  // A message not acked within this is taken back and redelivered; 0: never.
  std::chrono::milliseconds ack_timeout{0};
  // Where dead letters go; empty: "<topic>.dlq".
  std::string dead_letter_topic;
};

struct GroupOptions {
  GroupSettings group;
  // Most messages this member holds unacked at once (1..65535).
  std::uint32_t prefetch = 64;
  WaitMode wait = WaitMode::adaptive;
  std::chrono::nanoseconds spin_time = std::chrono::microseconds(20);
  // How long putting a message on the dead-letter topic may wait for room there.
  std::chrono::nanoseconds dead_letter_timeout = std::chrono::milliseconds(100);
};

enum class Nack : std::uint8_t {
  requeue,      // deliver it again (to any member), counting one more delivery
  dead_letter,  // put a copy on the dead-letter topic and drop it from the group
};

class GroupConsumer {
 public:
  GroupConsumer();
  GroupConsumer(GroupConsumer&&) noexcept;
  GroupConsumer& operator=(GroupConsumer&&) noexcept;
  ~GroupConsumer();  // leaves the group: messages still held are requeued

  // The next message for this member, or Status::empty at once. A received message stays valid
  // until it is acked or nacked (unlike a Subscriber's, which the next receive releases).
  Status try_receive(Message& out) noexcept;
  Status receive(Message& out, std::chrono::nanoseconds timeout) noexcept;
  Status receive_spin(Message& out, std::chrono::nanoseconds timeout) noexcept;

  // Settles a message this member received. Status::not_held: it was not received by this member,
  // was settled already, or was taken back after the ack timeout (and will be redelivered).
  Status ack(const Message& message) noexcept;
  Status nack(const Message& message, Nack action = Nack::requeue) noexcept;

  [[nodiscard]] bool ready() const noexcept;
  // Readable while messages wait; drain with try_receive until Status::empty to re-arm.
  [[nodiscard]] int fd();

  [[nodiscard]] std::size_t in_flight() const noexcept;  // received, not yet settled
  [[nodiscard]] const std::string& topic() const noexcept;
  [[nodiscard]] const std::string& group() const noexcept;
  [[nodiscard]] const std::string& dead_letter_topic() const noexcept;
  [[nodiscard]] explicit operator bool() const noexcept { return core_ != nullptr; }

 private:
  friend class Client;
  explicit GroupConsumer(std::unique_ptr<detail::GroupCore> core);
  std::unique_ptr<detail::GroupCore> core_;
};

}  // namespace shmbus
