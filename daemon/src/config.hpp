// shmbusd's configuration: bus limits, topic defaults and pre-declared topics with their ACLs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layout/shm_layout.hpp"

namespace shmbus::daemon {

// Who may publish or subscribe. Unrestricted unless the config names uids or gids.
struct Acl {
  bool restricted = false;
  std::vector<std::uint32_t> uids;
  std::vector<std::uint32_t> gids;

  [[nodiscard]] bool allows(std::uint32_t uid, std::uint32_t gid) const;
};

struct TopicShape {
  std::uint32_t slot_size = 1024;
  std::uint32_t slot_count = 1024;
  layout::FullPolicy policy = layout::FullPolicy::block;
  std::uint32_t max_publishers = 64;
  std::uint32_t max_subscribers = 64;
  std::uint32_t max_groups = 4;          // shared subscription groups per topic
  std::uint32_t max_group_members = 16;  // members per group
};

// A group created with the topic and kept while it has no members (its backlog is the
// topic's capacity).
struct GroupConfig {
  std::string name;
  std::uint32_t max_deliveries = 0;  // 0: unlimited
  std::uint32_t ack_timeout_ms = 0;  // 0: no timeout
  bool key_ordered = false;
  std::string dead_letter_topic;  // empty: "<topic>.dlq"
};

struct TopicConfig {
  std::string name;
  TopicShape shape;  // [defaults] overridden by the topic's own keys
  Acl publish;
  Acl subscribe;
  std::vector<GroupConfig> groups;
};

struct Config {
  std::uint32_t max_topics = 256;
  std::uint32_t max_clients = 256;
  std::uint32_t permissions = 0600;
  TopicShape defaults;
  std::vector<TopicConfig> topics;

  [[nodiscard]] const TopicConfig* find_topic(std::string_view name) const;
};

// Throw shmbus::Error(config_error) naming `source` and the line of the offending key.
Config parse_config(std::string_view text, std::string_view source = "<config>");
Config load_config(const std::filesystem::path& file);

std::string_view policy_name(layout::FullPolicy policy);
std::optional<layout::FullPolicy> parse_policy(std::string_view text);

}  // namespace shmbus::daemon
