#include "bus_reader.hpp"

#include "layout/fixed_string.hpp"

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "layout/naming.hpp"
#include "layout/segment_format.hpp"
#include "layout/shm_layout.hpp"
#include "ring/topic_view.hpp"
#include "shm/segment.hpp"
#include "shmbus/error.hpp"

namespace shmbus::cli {
namespace {

bool process_alive(std::int32_t pid) {
  if (pid <= 0) return false;
  // EPERM: the process exists but belongs to another user.
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

std::string terminated(const char* text, std::size_t capacity) {
  return {text, strnlen(text, capacity)};
}

// Reads the counters of a topic segment. The segment is opened by the name the daemon wrote into
// the directory, which is checked against the bus's prefix so that a corrupted entry cannot make
// us open an unrelated segment.
void read_topic_counters(const std::string& bus, TopicSnapshot& topic) {
  if (!topic.segment_name.starts_with(naming::segment_prefix(bus))) {
    topic.error = fmt::format("segment name '{}' is not one of bus '{}'", topic.segment_name, bus);
    return;
  }
  try {
    const auto segment = shm::Segment::open(topic.segment_name, shm::Access::read_only);
    if (auto error = layout::validate_topic(segment.address(), segment.size())) {
      topic.error = error->what();
      return;
    }
    const auto view = ring::TopicView::of(segment.address());
    if (view.header->topic_id != topic.topic_id || view.header->generation != topic.generation) {
      // The topic was removed and its slot reused between reading the entry and opening the
      // segment: report it as gone rather than mixing two topics' figures.
      topic.error = "topic was replaced while being read";
      return;
    }
    topic.published = view.header->next_sequence.load(std::memory_order_relaxed);  // a count only
    for (std::uint32_t i = 0; i < view.max_publishers; ++i) {
      const auto& record = view.publishers[i];
      // acquire: pairs with the daemon's release when it activates the record, so the fields read
      // below belong to the current owner.
      if (record.state.load(std::memory_order_acquire) !=
          static_cast<std::uint32_t>(layout::EntryState::active)) {
        continue;
      }
      topic.publishers.push_back({i, record.publisher_id.load(std::memory_order_relaxed),
                                  record.owner_client_id.load(std::memory_order_relaxed),
                                  record.published.load(std::memory_order_relaxed)});
    }
    for (std::uint32_t i = 0; i < view.max_subscribers; ++i) {
      const auto& record = view.subscribers[i];
      // acquire: pairs with the daemon's release when it activates the record, so the fields read
      // below belong to the current owner.
      if (record.state.load(std::memory_order_acquire) !=
          static_cast<std::uint32_t>(layout::EntryState::active)) {
        continue;
      }
      SubscriberSnapshot subscriber;
      subscriber.index = i;
      subscriber.owner_client_id = record.owner_client_id.load(std::memory_order_relaxed);
      if (subscriber.owner_client_id == layout::kGroupCursorOwner) continue;  // a group's floor
      subscriber.cursor = record.cursor.load(std::memory_order_relaxed);
      subscriber.lost = record.lost.load(std::memory_order_relaxed);
      subscriber.lag =
          topic.published > subscriber.cursor ? topic.published - subscriber.cursor : 0;
      topic.lost_total += subscriber.lost;
      topic.subscribers.push_back(subscriber);
    }
    for (std::uint32_t g = 0; g < view.max_groups; ++g) {
      const auto& record = view.groups[g];
      // acquire: pairs with the daemon's release when it creates the group.
      if (record.state.load(std::memory_order_acquire) !=
          static_cast<std::uint32_t>(layout::EntryState::active)) {
        continue;
      }
      GroupSnapshot group;
      group.name = std::string(layout::terminated_view(record.name));
      const std::uint32_t flags = record.flags.load(std::memory_order_relaxed);
      group.declared = (flags & layout::kGroupDeclared) != 0;
      group.key_ordered = (flags & layout::kGroupKeyOrdered) != 0;
      group.dead_letter_topic = std::string(layout::terminated_view(record.dead_letter_topic));
      group.members = record.member_count.load(std::memory_order_relaxed);
      if (record.cursor_index < view.max_subscribers) {
        const std::uint64_t floor =
            view.subscribers[record.cursor_index].cursor.load(std::memory_order_relaxed);
        group.depth = topic.published > floor ? topic.published - floor : 0;
      }
      for (std::uint32_t m = 0; m < view.max_group_members; ++m) {
        const auto& member = view.members[std::uint64_t{g} * view.max_group_members + m];
        if (member.state.load(std::memory_order_relaxed) ==
            static_cast<std::uint32_t>(layout::EntryState::active)) {
          group.in_flight += member.in_flight.load(std::memory_order_relaxed);
        }
      }
      group.acked = record.acked.load(std::memory_order_relaxed);
      group.redelivered = record.redelivered.load(std::memory_order_relaxed);
      group.dead_lettered = record.dead_lettered.load(std::memory_order_relaxed);
      group.lost = record.lost.load(std::memory_order_relaxed);
      topic.groups.push_back(std::move(group));
    }
  } catch (const Error& e) {
    topic.error = e.what();
  }
}

}  // namespace

std::string no_daemon_message(const std::string& bus) {
  return fmt::format("no daemon serves bus '{}': start shmbusd --bus {}", bus, bus);
}

std::string format_version(std::uint32_t packed) {
  return fmt::format("{}.{}.{}", packed >> 16, (packed >> 8) & 0xffU, packed & 0xffU);
}

BusSnapshot read_bus(const std::string& bus, bool with_topic_counters) {
  if (auto why = naming::check_bus_name(bus)) throw Error(ErrorCode::invalid_name, *why);
  std::optional<shm::Segment> control;
  try {
    control.emplace(shm::Segment::open(naming::control_segment_name(bus), shm::Access::read_only));
  } catch (const Error& e) {
    if (e.code() == ErrorCode::not_found) throw Error(ErrorCode::no_daemon, no_daemon_message(bus));
    throw;
  }
  if (auto error = layout::validate_control(control->address(), control->size())) throw *error;

  auto* base = control->address();
  const auto* header = static_cast<const layout::ControlHeader*>(base);
  BusSnapshot snapshot;
  snapshot.bus = bus;
  // Standalone values shown to the user: nothing read later depends on them, so relaxed.
  snapshot.daemon_pid = header->daemon_pid.load(std::memory_order_relaxed);
  snapshot.daemon_alive = process_alive(snapshot.daemon_pid);
  snapshot.epoch = header->epoch.load(std::memory_order_relaxed);
  snapshot.daemon_version = header->daemon_version;
  snapshot.max_topics = header->max_topics;
  snapshot.max_clients = header->max_clients;

  const auto* entries = layout::topic_entries(base);
  for (std::uint32_t i = 0; i < snapshot.max_topics; ++i) {
    layout::TopicEntry copy{};
    if (!layout::read_topic_entry(entries[i], copy)) continue;
    if (copy.state.load(std::memory_order_relaxed) !=
        static_cast<std::uint32_t>(layout::EntryState::active)) {
      continue;
    }
    TopicSnapshot topic;
    topic.name = terminated(copy.name, sizeof copy.name);
    topic.topic_id = copy.topic_id;
    topic.generation = copy.generation;
    topic.slot_size = copy.slot_size;
    topic.slot_count = copy.slot_count;
    topic.policy = copy.policy == static_cast<std::uint32_t>(layout::FullPolicy::overwrite)
                       ? FullPolicy::overwrite
                       : FullPolicy::block;
    topic.max_publishers = copy.max_publishers;
    topic.max_subscribers = copy.max_subscribers;
    topic.segment_name = terminated(copy.segment_name, sizeof copy.segment_name);
    if (with_topic_counters) read_topic_counters(bus, topic);
    snapshot.topics.push_back(std::move(topic));
  }
  std::sort(snapshot.topics.begin(), snapshot.topics.end(),
            [](const TopicSnapshot& a, const TopicSnapshot& b) { return a.name < b.name; });

  const auto* clients = layout::client_entries(base);
  for (std::uint32_t i = 0; i < snapshot.max_clients; ++i) {
    layout::ClientEntry copy{};
    if (!layout::read_client_entry(clients[i], copy)) continue;
    if (copy.state.load(std::memory_order_relaxed) !=
        static_cast<std::uint32_t>(layout::EntryState::active)) {
      continue;
    }
    snapshot.clients.push_back({copy.client_id, copy.pid, copy.uid, copy.gid, copy.connected != 0,
                                terminated(copy.name, sizeof copy.name)});
  }
  std::sort(
      snapshot.clients.begin(), snapshot.clients.end(),
      [](const ClientSnapshot& a, const ClientSnapshot& b) { return a.client_id < b.client_id; });
  return snapshot;
}

std::uint32_t count_subscribers(const std::string& bus, const std::string& topic) {
  const auto snapshot = read_bus(bus, false);
  for (auto found : snapshot.topics) {
    if (found.name != topic) continue;
    read_topic_counters(bus, found);
    return static_cast<std::uint32_t>(found.subscribers.size());
  }
  return 0;
}

}  // namespace shmbus::cli
