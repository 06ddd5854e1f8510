// The daemon's side of a topic segment: allocating and freeing publisher and subscriber records,
// choosing a new subscriber's start, and reclaiming what a dead client held.
// Only the daemon calls these (clients only use the records they were given).
#pragma once

#include <cstdint>
#include <optional>

#include "protocol/control_protocol.hpp"
#include "ring/topic_view.hpp"

namespace shmbus::ring {

// A free publisher record set up for `owner_client_id`, or nullopt when the table is full.
std::optional<std::uint32_t> allocate_publisher(const TopicView& topic,
                                                std::uint64_t owner_client_id,
                                                std::uint64_t publisher_id);

// The first sequence a subscriber starting at `start` reads: latest = the next one published;
// earliest = the oldest still held; last_n = n before the next one, but no earlier than earliest.
std::uint64_t start_sequence(const TopicView& topic, protocol::StartFrom start,
                             std::uint64_t last_n);

// A free subscriber record whose cursor is `start`, now gating block-mode publishers; nullopt
// when the table is full.
std::optional<std::uint32_t> allocate_subscriber(const TopicView& topic,
                                                 std::uint64_t owner_client_id,
                                                 std::uint64_t start);

// Frees a subscriber record: its cursor stops gating publishers at once.
void release_subscriber(const TopicView& topic, std::uint32_t index);

enum class ReclaimResult : std::uint8_t {
  done,         // nothing is left pending; the record is free again
  retry_later,  // a live publisher may own the pending sequence: call again soon (e.g. 1 ms)
};

// Frees a publisher record of a client that is gone (or closed it). If the publisher had claimed a
// sequence but not committed it, marks that slot aborted, so that subscribers skip it, and wakes
// sleeping subscribers.
ReclaimResult reclaim_publisher(const TopicView& topic, std::uint32_t index);

// Wakes every subscriber sleeping on the topic (after the daemon changed something they wait on).
void wake_subscribers(const TopicView& topic);

}  // namespace shmbus::ring
