// How a topic is shaped: slot size, slot count and what a publisher does when the ring is full.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace shmbus {

enum class FullPolicy : std::uint8_t {
  block,      // lossless: a publisher waits for the slowest live subscriber (with a timeout)
  overwrite,  // publishers never wait; a lapped subscriber is told how many messages it lost
};

std::string_view to_string(FullPolicy policy) noexcept;
std::optional<FullPolicy> parse_full_policy(std::string_view text) noexcept;

// Used when a topic is created on first use. Zero / nullopt: the existing topic's value if the
// topic exists, else the daemon's default. A non-zero value that differs from an existing topic's
// is an ErrorCode::topic_mismatch.
struct TopicOptions {
  std::uint32_t slot_size = 0;   // payload bytes per slot (the largest message)
  std::uint32_t slot_count = 0;  // slots in the ring, a power of two
  std::optional<FullPolicy> policy;
  // A topic created by this call belongs to this client alone: the daemon deletes it when the
  // client detaches (or dies), or removes its last publisher, subscriber or group member on it;
  // as AMQP's exclusive auto-delete queues. Ignored when the topic exists already.
  bool temporary = false;
};

// The shape of an opened topic.
struct TopicInfo {
  std::uint32_t slot_size = 0;
  std::uint32_t slot_count = 0;
  FullPolicy policy = FullPolicy::block;
};

}  // namespace shmbus
