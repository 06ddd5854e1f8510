// A read-only snapshot of a bus's directory and counters, taken straight from shared memory.
// Reading never attaches as a client, so `shmbus ls` does not show up in what it lists and works
// while the control socket is busy.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shmbus/topic_options.hpp"

namespace shmbus::cli {

struct PublisherSnapshot {
  std::uint32_t index = 0;
  std::uint64_t publisher_id = 0;
  std::uint64_t owner_client_id = 0;
  std::uint64_t published = 0;
};

struct SubscriberSnapshot {
  std::uint32_t index = 0;
  std::uint64_t owner_client_id = 0;
  std::uint64_t cursor = 0;
  std::uint64_t lag = 0;  // published (claimed) but not yet taken by this subscriber
  std::uint64_t lost = 0;
};

struct GroupSnapshot {
  std::string name;
  bool declared = false;
  bool key_ordered = false;
  std::string dead_letter_topic;
  std::uint32_t members = 0;
  std::uint64_t depth = 0;      // published but not yet acked (the unacked backlog)
  std::uint64_t in_flight = 0;  // delivered to members, not yet settled
  std::uint64_t acked = 0;
  std::uint64_t redelivered = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t lost = 0;
};

struct TopicSnapshot {
  std::string name;
  std::uint32_t topic_id = 0;
  std::uint32_t generation = 0;
  std::uint32_t slot_size = 0;
  std::uint32_t slot_count = 0;
  FullPolicy policy = FullPolicy::block;
  std::uint32_t max_publishers = 0;
  std::uint32_t max_subscribers = 0;
  std::string segment_name;
  std::uint64_t published = 0;   // the topic's next sequence
  std::uint64_t lost_total = 0;  // sum over the active subscribers
  std::vector<PublisherSnapshot> publishers;
  std::vector<SubscriberSnapshot> subscribers;
  std::vector<GroupSnapshot> groups;
  // Set when the topic's segment could not be opened or failed validation; the counters are then 0.
  std::optional<std::string> error;
};

struct ClientSnapshot {
  std::uint64_t client_id = 0;
  std::int32_t pid = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  bool connected = false;
  std::string name;
};

struct BusSnapshot {
  std::string bus;
  std::int32_t daemon_pid = 0;
  bool daemon_alive = false;  // daemon_pid names a live process
  std::uint64_t epoch = 0;
  std::uint32_t daemon_version = 0;
  std::uint32_t max_topics = 0;
  std::uint32_t max_clients = 0;
  std::vector<TopicSnapshot> topics;
  std::vector<ClientSnapshot> clients;
};

// Throws shmbus::Error: no_daemon when the bus has no control segment, or what opening or
// validating it reported (permission_denied, corrupted_segment, version_mismatch).
BusSnapshot read_bus(const std::string& bus, bool with_topic_counters = true);

// The number of active subscribers of `topic`, 0 if the topic does not exist (yet).
std::uint32_t count_subscribers(const std::string& bus, const std::string& topic);

std::string no_daemon_message(const std::string& bus);
std::string format_version(std::uint32_t packed);

}  // namespace shmbus::cli
