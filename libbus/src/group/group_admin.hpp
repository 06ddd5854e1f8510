// The daemon's side of shared subscription groups: creating and deleting groups, adding and
// removing members, and taking messages back from members that died or let their ack deadline
// pass. Only the daemon calls these; members only use group_reader.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "group/group_view.hpp"
#include "ring/topic_view.hpp"

namespace shmbus::group {

struct GroupSettings {
  std::uint32_t flags = 0;           // layout::GroupFlags
  std::uint32_t max_deliveries = 0;  // 0: unlimited
  std::uint64_t ack_timeout_ns = 0;  // 0: none
  std::string dead_letter_topic;     // empty: "<topic>.dlq"
};

// The index of the active group called `name`, or nullopt.
std::optional<std::uint32_t> find_group(const ring::TopicView& topic, std::string_view name);

// Creates group `name`, taking the topic's next sequence as its first message. Its ack floor gates
// block-mode publishers from now on. nullopt when the group or subscriber table is full.
std::optional<std::uint32_t> create_group(const ring::TopicView& topic, std::string_view name,
                                          std::string_view topic_name,
                                          const GroupSettings& settings);

// Frees a group that has no members: its floor stops gating publishers, its backlog is dropped.
void delete_group(const ring::TopicView& topic, std::uint32_t group);

// A free member record of `group` set up for `owner_client_id`, or nullopt when the group is full.
std::optional<std::uint32_t> add_member(const ring::TopicView& topic, std::uint32_t group,
                                        std::uint64_t owner_client_id, std::uint32_t prefetch);

// Requeues every message `member` holds in flight, frees its key buckets and its record, and wakes
// the other members. Returns how many messages were requeued.
std::uint64_t remove_member(const ring::TopicView& topic, std::uint32_t group,
                            std::uint32_t member);

// Requeues in-flight messages whose ack deadline passed before `now_ns`; returns how many.
std::uint64_t requeue_expired(const ring::TopicView& topic, std::uint32_t group,
                              std::uint64_t now_ns);

// The sequence with delivery tag `tag` that is nearest below or at `near`.
std::uint64_t sequence_of_tag(std::uint64_t tag, std::uint64_t near);

}  // namespace shmbus::group
