// A read-only look, from outside, at a topic's segment: a group's counters and floor, and which
// member process holds messages right now (to aim a SIGKILL at it).
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <optional>
#include <string>

#include "group/group_admin.hpp"
#include "layout/fixed_string.hpp"
#include "layout/naming.hpp"
#include "layout/segment_format.hpp"
#include "ring/topic_view.hpp"
#include "shm/segment.hpp"

namespace shmbus::testing {

// Read-only view of a topic's segment, to watch a group's counters from outside.
class TopicWatch {
 public:
  TopicWatch(const std::string& bus, const std::string& topic)
      : control_(shm::Segment::open(naming::control_segment_name(bus), shm::Access::read_only)) {
    auto* base = const_cast<void*>(control_.address());
    const auto& header = *static_cast<const layout::ControlHeader*>(base);
    const layout::TopicEntry* entries = layout::topic_entries(base);
    for (std::uint32_t i = 0; i < header.max_topics; ++i) {
      layout::TopicEntry copy{};
      if (!layout::read_topic_entry(entries[i], copy)) continue;
      if (copy.state.load() != 1 || layout::terminated_view(copy.name) != topic) continue;
      segment_.emplace(shm::Segment::open(std::string(layout::terminated_view(copy.segment_name)),
                                          shm::Access::read_only));
      view_ = ring::TopicView::of(const_cast<void*>(segment_->address()));
      return;
    }
    ADD_FAILURE() << "topic " << topic << " is not in the directory";
  }

  [[nodiscard]] const layout::GroupRecord* group(const std::string& name) const {
    const auto index = group::find_group(view_, name);
    return index ? &view_.groups[*index] : nullptr;
  }
  [[nodiscard]] std::uint64_t floor(const std::string& name) const {
    const auto* record = group(name);
    return record ? view_.subscribers[record->cursor_index].cursor.load() : 0;
  }
  [[nodiscard]] std::uint64_t head() const { return view_.header->next_sequence.load(); }

  // The group's state, for failure messages.
  [[nodiscard]] std::string describe(const std::string& name) const {
    const auto index = group::find_group(view_, name);
    if (!index) return "no group " + name;
    const auto& g = view_.groups[*index];
    const std::uint64_t floor = view_.subscribers[g.cursor_index].cursor.load();
    std::string text = "acked=" + std::to_string(g.acked.load()) +
                       " ready=" + std::to_string(g.ready.load()) +
                       " redelivered=" + std::to_string(g.redelivered.load()) +
                       " lost=" + std::to_string(g.lost.load()) +
                       " dispatch=" + std::to_string(g.dispatch.load()) +
                       " floor=" + std::to_string(floor) + " head=" + std::to_string(head()) +
                       " members=" + std::to_string(g.member_count.load()) + "\n";
    const auto* entries = &view_.deliveries[std::uint64_t{*index} * view_.slot_count];
    for (std::uint64_t s = floor; s < floor + 6; ++s) {
      const std::uint64_t w = entries[s & view_.mask].word.load();
      text += "  seq " + std::to_string(s) +
              ": for=" + std::to_string(layout::delivery_is_for(w, s)) +
              " state=" + std::to_string(static_cast<int>(layout::delivery_state(w))) +
              " owner=" + std::to_string(layout::delivery_owner(w)) +
              " count=" + std::to_string(layout::delivery_count(w)) +
              " slot=" + std::to_string(view_.slot(s).word.load()) + "\n";
    }
    for (std::uint32_t m = 0; m < view_.max_group_members; ++m) {
      const auto& member = view_.members[*index * view_.max_group_members + m];
      if (member.state.load() == 0) continue;
      text += "  member " + std::to_string(m) + " state=" + std::to_string(member.state.load()) +
              " in_flight=" + std::to_string(member.in_flight.load()) + "\n";
    }
    return text;
  }

  // The pid of a member of `name` that holds messages in flight right now, if any.
  [[nodiscard]] std::optional<pid_t> member_holding_messages(const std::string& name) const {
    const auto index = group::find_group(view_, name);
    if (!index) return std::nullopt;
    for (std::uint32_t m = 0; m < view_.max_group_members; ++m) {
      const auto& member = view_.members[*index * view_.max_group_members + m];
      if (member.state.load() != 1 || member.in_flight.load() == 0) continue;
      if (const auto pid = pid_of(member.owner_client_id.load())) return pid;
    }
    return std::nullopt;
  }

 private:
  [[nodiscard]] std::optional<pid_t> pid_of(std::uint64_t client_id) const {
    auto* base = const_cast<void*>(control_.address());
    const auto& header = *static_cast<const layout::ControlHeader*>(base);
    const layout::ClientEntry* clients = layout::client_entries(base);
    for (std::uint32_t i = 0; i < header.max_clients; ++i) {
      layout::ClientEntry copy{};
      if (layout::read_client_entry(clients[i], copy) && copy.state.load() == 1 &&
          copy.client_id == client_id) {
        return copy.pid;
      }
    }
    return std::nullopt;
  }

  shm::Segment control_;
  std::optional<shm::Segment> segment_;
  ring::TopicView view_{};
};

}  // namespace shmbus::testing
