// Shared subscription groups as the daemon sees them: joining (creating the group on first use),
// declaring durable groups (from the config or a client), members leaving or dying, and the ack
// timeout sweep.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "client_registry.hpp"
#include "config.hpp"
#include "protocol/control_protocol.hpp"
#include "topic_registry.hpp"

namespace shmbus::daemon {

// Requeues what member `member` of `group` held and frees it; deletes the group if it is not
// declared and has no member left.
void leave_group(const Topic& topic, std::uint32_t group, std::uint32_t member);

class GroupRegistry {
 public:
  explicit GroupRegistry(TopicRegistry& topics) : topics_(topics) {}

  // Throws invalid_name, invalid_argument, limit_reached.
  protocol::GroupReply join(Client& client, Topic& topic, const protocol::JoinGroup& request);
  protocol::GroupReply declare(Topic& topic, const protocol::DeclareGroup& request);
  // Creates the groups the config declares on its topics (kept if they exist).
  void declare_configured(const Config& config);

  // Requeues messages whose ack deadline passed. Returns how soon to sweep again, or nullopt when
  // no group has an ack timeout.
  std::optional<std::chrono::nanoseconds> sweep_ack_timeouts();

 private:
  std::uint32_t find_or_create(Topic& topic, std::string_view name,
                               const protocol::GroupSettings& settings);

  TopicRegistry& topics_;
};

}  // namespace shmbus::daemon
