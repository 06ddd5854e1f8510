// A received message: a zero-copy view into the topic's ring plus its header fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

#include "shmbus/properties.hpp"

namespace shmbus {

namespace layout {
struct SlotHeader;
}
namespace detail {
struct MessageAccess;
}  // namespace detail

struct MessageHeader {
  std::uint64_t sequence = 0;         // position in the topic, one order for all subscribers
  std::uint64_t publish_time_ns = 0;  // CLOCK_MONOTONIC at publish, see shmbus/clock.hpp
  std::uint64_t publisher_id = 0;     // unique per publisher on the bus
  std::uint32_t size = 0;             // payload bytes
  std::uint32_t flags = 0;
};

// Valid until the next receive on the same Subscriber. In `overwrite` topics (and for history
// taken at join time) a publisher may reuse the slot while it is read: still_valid() tells, after
// reading, whether what was read is intact.
class Message {
 public:
  Message() = default;

  [[nodiscard]] std::span<const std::byte> payload() const noexcept {
    return {data_, header_.size};
  }
  [[nodiscard]] const MessageHeader& header() const noexcept { return header_; }
  [[nodiscard]] std::uint64_t sequence() const noexcept { return header_.sequence; }
  [[nodiscard]] std::uint64_t publish_time_ns() const noexcept { return header_.publish_time_ns; }
  [[nodiscard]] std::uint64_t publisher_id() const noexcept { return header_.publisher_id; }
  [[nodiscard]] std::uint32_t size() const noexcept { return header_.size; }
  // Messages this subscriber lost to overwrite just before this one.
  [[nodiscard]] std::uint64_t lost_before() const noexcept { return lost_before_; }
  // Group members: how often this message has been delivered (1 the first time), and whether it
  // was delivered before (to a member that died, nacked it or let its ack timeout pass).
  [[nodiscard]] std::uint32_t deliveries() const noexcept { return deliveries_; }
  [[nodiscard]] bool redelivered() const noexcept { return deliveries_ > 1; }
  // A copy put on a dead-letter topic (see GroupOptions::max_deliveries and Nack::dead_letter).
  [[nodiscard]] bool dead_letter() const noexcept;
  [[nodiscard]] bool still_valid() const noexcept;

  // The topic the message came from (for a PatternSubscriber, which of its topics). Valid as long
  // as the subscriber that received it.
  [[nodiscard]] std::string_view topic() const noexcept { return topic_; }
  // The publisher's properties: a view into the slot, valid as long as the payload.
  [[nodiscard]] MessageProperties properties() const noexcept {
    return MessageProperties(properties_);
  }

  // A copy of the payload as T if the sizes match.
  template <typename T>
  requires std::is_trivially_copyable_v<T>
  [[nodiscard]] std::optional<T> as() const noexcept {
    if (header_.size != sizeof(T)) return std::nullopt;
    T value;
    std::memcpy(&value, data_, sizeof(T));
    return value;
  }

 private:
  friend struct detail::MessageAccess;
  MessageHeader header_{};
  const std::byte* data_ = nullptr;
  const layout::SlotHeader* slot_ = nullptr;
  std::uint64_t lost_before_ = 0;
  const void* delivered_by_ = nullptr;  // the group member that must settle it
  std::uint32_t deliveries_ = 1;
  std::string_view topic_;
  std::span<const std::byte> properties_;
};

}  // namespace shmbus
