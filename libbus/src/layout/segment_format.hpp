// Formatting (by the daemon) and validation (by everyone) of the two segment kinds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "layout/shm_layout.hpp"
#include "shmbus/error.hpp"

namespace shmbus::layout {

struct ControlParams {
  std::uint32_t max_topics;
  std::uint32_t max_clients;
  std::uint32_t daemon_version;
  std::uint32_t permissions;
};

struct TopicParams {
  std::uint32_t topic_id;
  std::uint32_t generation;
  std::uint32_t slot_size;
  std::uint32_t slot_count;
  FullPolicy policy;
  std::uint32_t max_publishers;
  std::uint32_t max_subscribers;
  std::uint32_t max_groups;
  std::uint32_t max_group_members;

  [[nodiscard]] TopicTables tables() const {
    return {max_publishers, max_subscribers, max_groups, max_group_members};
  }
};

// Why the parameters cannot make a topic, or nullopt.
std::optional<Error> check_topic_params(const TopicParams& params);

// Writes a fresh header into zero-filled memory of at least control_geometry(...).segment_size.
void format_control(void* base, std::string_view bus, const ControlParams& params);
// Writes a fresh header into zero-filled memory of at least topic_geometry(...).segment_size.
void format_topic(void* base, std::string_view name, const TopicParams& params);

// Validate a mapped segment before any other field is used. The returned error says what is wrong:
// version_mismatch for another layout version, corrupted_segment for anything else.
std::optional<Error> validate_control(const void* base, std::size_t mapped_size);
std::optional<Error> validate_topic(const void* base, std::size_t mapped_size);

// Typed access to the tables of validated segments.
inline TopicEntry* topic_entries(void* control_base) {
  auto* header = static_cast<ControlHeader*>(control_base);
  return reinterpret_cast<TopicEntry*>(static_cast<std::byte*>(control_base) +  // NOLINT
                                       header->topics_offset);
}
inline ClientEntry* client_entries(void* control_base) {
  auto* header = static_cast<ControlHeader*>(control_base);
  return reinterpret_cast<ClientEntry*>(static_cast<std::byte*>(control_base) +  // NOLINT
                                        header->clients_offset);
}
inline PublisherRecord* publisher_records(void* topic_base) {
  auto* header = static_cast<TopicHeader*>(topic_base);
  return reinterpret_cast<PublisherRecord*>(static_cast<std::byte*>(topic_base) +  // NOLINT
                                            header->publishers_offset);
}
inline SubscriberRecord* subscriber_records(void* topic_base) {
  auto* header = static_cast<TopicHeader*>(topic_base);
  return reinterpret_cast<SubscriberRecord*>(static_cast<std::byte*>(topic_base) +  // NOLINT
                                             header->subscribers_offset);
}
inline GroupRecord* group_records(void* topic_base) {
  auto* header = static_cast<TopicHeader*>(topic_base);
  return reinterpret_cast<GroupRecord*>(static_cast<std::byte*>(topic_base) +  // NOLINT
                                        header->groups_offset);
}
inline GroupMemberRecord* group_member_records(void* topic_base) {
  auto* header = static_cast<TopicHeader*>(topic_base);
  return reinterpret_cast<GroupMemberRecord*>(static_cast<std::byte*>(topic_base) +  // NOLINT
                                              header->members_offset);
}
inline DeliveryEntry* delivery_entries(void* topic_base) {
  auto* header = static_cast<TopicHeader*>(topic_base);
  return reinterpret_cast<DeliveryEntry*>(static_cast<std::byte*>(topic_base) +  // NOLINT
                                          header->deliveries_offset);
}
inline std::byte* slots_base(void* topic_base) {
  auto* header = static_cast<TopicHeader*>(topic_base);
  return static_cast<std::byte*>(topic_base) + header->slots_offset;
}

// A consistent copy of a seqlocked directory entry (daemon writes, others read). False if the
// daemon kept rewriting it through every attempt.
bool read_topic_entry(const TopicEntry& entry, TopicEntry& copy);
bool read_client_entry(const ClientEntry& entry, ClientEntry& copy);

// Daemon side of the seqlock.
void begin_entry_write(std::atomic<std::uint32_t>& version);
void end_entry_write(std::atomic<std::uint32_t>& version);

}  // namespace shmbus::layout
