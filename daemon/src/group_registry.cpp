#include "group_registry.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "group/group_admin.hpp"
#include "layout/fixed_string.hpp"
#include "layout/naming.hpp"
#include "shmbus/error.hpp"
#include "wait/futex.hpp"

namespace shmbus::daemon {
namespace {

constexpr auto kActive = static_cast<std::uint32_t>(layout::EntryState::active);
constexpr std::uint32_t kMaxPrefetch = 65'535;
constexpr std::uint32_t kMaxAckTimeoutMs = 86'400'000;
constexpr std::uint32_t kKnownFlags = layout::kGroupDeclared | layout::kGroupKeyOrdered;
// The sweep runs at a quarter of the shortest ack timeout, within these bounds.
constexpr auto kMinSweep = std::chrono::milliseconds(1);
constexpr auto kMaxSweep = std::chrono::milliseconds(100);

group::GroupSettings to_settings(const protocol::GroupSettings& s) {
  if ((s.flags & ~kKnownFlags) != 0) {
    throw Error(ErrorCode::invalid_argument, fmt::format("unknown group flags {:#x}", s.flags));
  }
  if (s.max_deliveries >= layout::kMaxDeliveryCount) {
    throw Error(ErrorCode::invalid_argument,
                fmt::format("max deliveries {} is out of range 0..{}", s.max_deliveries,
                            layout::kMaxDeliveryCount - 1));
  }
  if (s.ack_timeout_ms > kMaxAckTimeoutMs) {
    throw Error(ErrorCode::invalid_argument, fmt::format("ack timeout {} ms is out of range 0..{}",
                                                         s.ack_timeout_ms, kMaxAckTimeoutMs));
  }
  const std::string_view dead_letter = protocol::view_string(s.dead_letter_topic);
  if (!dead_letter.empty()) {
    if (auto why = naming::check_topic_name(dead_letter)) {
      throw Error(ErrorCode::invalid_name, fmt::format("dead-letter topic: {}", *why));
    }
  }
  group::GroupSettings settings;
  settings.flags = s.flags;
  settings.max_deliveries = s.max_deliveries;
  settings.ack_timeout_ns = std::uint64_t{s.ack_timeout_ms} * 1'000'000;
  settings.dead_letter_topic = std::string(dead_letter);
  return settings;
}

void check_name(std::string_view name) {
  if (auto why = naming::check_group_name(name)) throw Error(ErrorCode::invalid_name, *why);
}

}  // namespace

void leave_group(const Topic& topic, std::uint32_t group, std::uint32_t member) {
  if (group >= topic.view.max_groups) return;
  const std::uint64_t requeued = group::remove_member(topic.view, group, member);
  const auto& record = topic.view.groups[group];
  const std::string_view name = layout::terminated_view(record.name);
  spdlog::debug("member {} left group '{}' of '{}' ({} message(s) requeued)", member, name,
                topic.name, requeued);
  if (!group::GroupView::of(topic.view, group).declared() &&
      record.member_count.load(std::memory_order_relaxed) == 0) {
    spdlog::info("group '{}' of topic '{}' has no member left and is not declared: deleted", name,
                 topic.name);
    group::delete_group(topic.view, group);
  }
}

std::uint32_t GroupRegistry::find_or_create(Topic& topic, std::string_view name,
                                            const protocol::GroupSettings& requested) {
  check_name(name);
  const group::GroupSettings settings = to_settings(requested);
  if (auto existing = group::find_group(topic.view, name)) {
    auto& record = topic.view.groups[*existing];
    if ((settings.flags & layout::kGroupDeclared) != 0 &&
        (record.flags.load(std::memory_order_relaxed) & layout::kGroupDeclared) == 0) {
      record.flags.fetch_or(layout::kGroupDeclared, std::memory_order_relaxed);
      spdlog::info("group '{}' of topic '{}' is now declared", name, topic.name);
    }
    return *existing;
  }
  const auto index = group::create_group(topic.view, name, topic.name, settings);
  if (!index) {
    throw Error(ErrorCode::limit_reached,
                fmt::format("topic '{}' cannot take another group: it has {} group and {} "
                            "subscriber records",
                            topic.name, topic.view.max_groups, topic.view.max_subscribers));
  }
  spdlog::info("created group '{}' on topic '{}' ({}{}max deliveries {}, ack timeout {} ms)", name,
               topic.name, (settings.flags & layout::kGroupDeclared) != 0 ? "declared, " : "",
               (settings.flags & layout::kGroupKeyOrdered) != 0 ? "key-ordered, " : "",
               settings.max_deliveries, settings.ack_timeout_ns / 1'000'000);
  return *index;
}

protocol::GroupReply GroupRegistry::join(Client& client, Topic& topic,
                                         const protocol::JoinGroup& request) {
  if (request.prefetch == 0 || request.prefetch > kMaxPrefetch) {
    throw Error(ErrorCode::invalid_argument,
                fmt::format("prefetch {} is out of range 1..{}", request.prefetch, kMaxPrefetch));
  }
  const std::string_view name = protocol::view_string(request.group);
  const std::uint32_t group = find_or_create(topic, name, request.settings);
  const auto member = group::add_member(topic.view, group, client.id, request.prefetch);
  if (!member) {
    if (topic.view.groups[group].member_count.load(std::memory_order_relaxed) == 0) {
      group::delete_group(topic.view, group);
    }
    throw Error(ErrorCode::limit_reached,
                fmt::format("group '{}' of topic '{}' has {} members, its limit", name, topic.name,
                            topic.view.max_group_members));
  }
  client.members.push_back(
      {topic.id, topic.generation, group * topic.view.max_group_members + *member});
  spdlog::debug("client {} joined group '{}' of '{}' as member {}", client.id, name, topic.name,
                *member);
  return {group, *member};
}

protocol::GroupReply GroupRegistry::declare(Topic& topic, const protocol::DeclareGroup& request) {
  protocol::GroupSettings settings = request.settings;
  settings.flags |= layout::kGroupDeclared;
  const std::uint32_t group = find_or_create(topic, protocol::view_string(request.group), settings);
  return {group, 0};
}

void GroupRegistry::declare_configured(const Config& config) {
  for (const TopicConfig& topic_config : config.topics) {
    Topic* topic = topics_.find(topic_config.name);
    if (topic == nullptr) continue;
    for (const GroupConfig& g : topic_config.groups) {
      protocol::GroupSettings settings{};
      settings.flags = layout::kGroupDeclared | (g.key_ordered ? layout::kGroupKeyOrdered : 0U);
      settings.max_deliveries = g.max_deliveries;
      settings.ack_timeout_ms = g.ack_timeout_ms;
      protocol::copy_string(settings.dead_letter_topic, g.dead_letter_topic);
      find_or_create(*topic, g.name, settings);
    }
  }
}

std::optional<std::chrono::nanoseconds> GroupRegistry::sweep_ack_timeouts() {
  std::optional<std::chrono::nanoseconds> next;
  const std::uint64_t now = wait::monotonic_ns();
  for (const auto& topic : topics_.topics()) {
    const ring::TopicView& view = topic->view;
    for (std::uint32_t g = 0; g < view.max_groups; ++g) {
      const auto& record = view.groups[g];
      if (record.state.load(std::memory_order_relaxed) != kActive || record.ack_timeout_ns == 0) {
        continue;
      }
      if (const std::uint64_t n = group::requeue_expired(view, g, now)) {
        spdlog::debug("group '{}' of '{}': {} message(s) passed their ack deadline, requeued",
                      layout::terminated_view(record.name), topic->name, n);
      }
      const std::chrono::nanoseconds interval = std::clamp<std::chrono::nanoseconds>(
          std::chrono::nanoseconds(record.ack_timeout_ns / 4), kMinSweep, kMaxSweep);
      next = next ? std::min(*next, interval) : interval;
    }
  }
  return next;
}

}  // namespace shmbus::daemon
