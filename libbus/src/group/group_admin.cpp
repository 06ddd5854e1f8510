#include "group/group_admin.hpp"

#include <algorithm>
#include <cstring>

#include "layout/fixed_string.hpp"
#include "ring/records.hpp"

namespace shmbus::group {
namespace {

using layout::EntryState;
constexpr auto kActive = static_cast<std::uint32_t>(EntryState::active);
constexpr auto kFree = static_cast<std::uint32_t>(EntryState::free);

bool active(const layout::GroupRecord& record) {
  // acquire: pairs with create_group's release, so name and settings belong to this state.
  return record.state.load(std::memory_order_acquire) == kActive;
}

// Takes an in-flight entry back: `ready` for another delivery, or released as lost if the
// publishers overwrote its slot meanwhile (overwrite topics). True if it became ready.
bool take_back(const ring::TopicView& topic, const GroupView& group, layout::DeliveryEntry& entry,
               std::uint64_t word, std::uint64_t sequence) {
  const bool intact =
      topic.slot(sequence).word.load(std::memory_order_relaxed) == layout::committed_word(sequence);
  const auto state = intact ? layout::DeliveryState::ready : layout::DeliveryState::released;
  const std::uint32_t owner = layout::delivery_owner(word);
  // relaxed: the entry carries no data of its own; the release increment of `ready` below
  // publishes the new state to the next claimant.
  if (!entry.word.compare_exchange_strong(
          word,
          layout::delivery_word(sequence, state, layout::kNoOwner, layout::delivery_count(word)),
          std::memory_order_relaxed)) {
    return false;  // settled or overtaken meanwhile
  }
  if (!intact) {
    group.record->lost.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  group.record->redelivered.fetch_add(1, std::memory_order_relaxed);
  // release: pairs with the members' acquire of `ready` before they look for ready entries.
  group.record->ready.fetch_add(1, std::memory_order_release);
  // Only now that it is counted as waiting: a member that takes the freed bucket must not hand
  // out a later message of the key before this one.
  const std::uint32_t bucket =
      group.key_ordered() ? key_bucket(topic.slot(sequence).key_hash) : kNoBucket;
  release_bucket(group, bucket, owner);
  return true;
}

}  // namespace

std::uint64_t sequence_of_tag(std::uint64_t tag, std::uint64_t near) {
  const std::uint64_t low = (tag - 1) & layout::kDeliveryTagMask;
  std::uint64_t candidate = (near & ~layout::kDeliveryTagMask) | low;
  if (candidate > near && candidate >= layout::kDeliveryTagMask + 1) {
    candidate -= layout::kDeliveryTagMask + 1;
  }
  return candidate;
}

std::optional<std::uint32_t> find_group(const ring::TopicView& topic, std::string_view name) {
  for (std::uint32_t i = 0; i < topic.max_groups; ++i) {
    const auto& record = topic.groups[i];
    if (active(record) && layout::terminated_view(record.name) == name) return i;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> create_group(const ring::TopicView& topic, std::string_view name,
                                          std::string_view topic_name,
                                          const GroupSettings& settings) {
  std::uint32_t index = topic.max_groups;
  for (std::uint32_t i = 0; i < topic.max_groups; ++i) {
    if (topic.groups[i].state.load(std::memory_order_relaxed) == kFree) {
      index = i;
      break;
    }
  }
  if (index == topic.max_groups) return std::nullopt;
  const std::uint64_t start = ring::start_sequence(topic, protocol::StartFrom::latest, 0);
  const auto cursor = ring::allocate_subscriber(topic, layout::kGroupCursorOwner, start);
  if (!cursor) return std::nullopt;
  auto& record = topic.groups[index];
  record.flags.store(settings.flags, std::memory_order_relaxed);
  record.max_deliveries = settings.max_deliveries;
  record.cursor_index = *cursor;
  record.ack_timeout_ns = settings.ack_timeout_ns;
  record.member_count.store(0, std::memory_order_relaxed);
  layout::copy_name(record.name, name);
  const std::string dead_letter = settings.dead_letter_topic.empty()
                                      ? std::string(topic_name) + ".dlq"
                                      : settings.dead_letter_topic;
  layout::copy_name(record.dead_letter_topic, dead_letter);
  record.dispatch.store(start, std::memory_order_relaxed);
  record.ready.store(0, std::memory_order_relaxed);
  record.acked.store(0, std::memory_order_relaxed);
  record.redelivered.store(0, std::memory_order_relaxed);
  record.dead_lettered.store(0, std::memory_order_relaxed);
  record.lost.store(0, std::memory_order_relaxed);
  for (auto& bucket : record.buckets)
    bucket.store(0, std::memory_order_relaxed);
  const GroupView view = GroupView::of(topic, index);
  for (std::uint32_t i = 0; i < topic.slot_count; ++i) {
    view.entries[i].word.store(0, std::memory_order_relaxed);
    view.entries[i].stamp.store(0, std::memory_order_relaxed);
    view.entries[i].deadline_ns.store(0, std::memory_order_relaxed);
  }
  for (std::uint32_t i = 0; i < view.max_members; ++i) {
    view.members[i].state.store(kFree, std::memory_order_relaxed);
  }
  // release: members and tools that see the group active see all of the above.
  record.state.store(kActive, std::memory_order_release);
  return index;
}

void delete_group(const ring::TopicView& topic, std::uint32_t group) {
  if (group >= topic.max_groups) return;
  auto& record = topic.groups[group];
  if (record.cursor_index < topic.max_subscribers) {
    ring::release_subscriber(topic, record.cursor_index);
  }
  record.state.store(kFree, std::memory_order_relaxed);
}

std::optional<std::uint32_t> add_member(const ring::TopicView& topic, std::uint32_t group,
                                        std::uint64_t owner_client_id, std::uint32_t prefetch) {
  if (group >= topic.max_groups) return std::nullopt;
  const GroupView view = GroupView::of(topic, group);
  for (std::uint32_t i = 0; i < view.max_members; ++i) {
    auto& member = view.members[i];
    if (member.state.load(std::memory_order_relaxed) != kFree) continue;
    member.prefetch = prefetch;
    member.owner_client_id.store(owner_client_id, std::memory_order_relaxed);
    member.in_flight.store(0, std::memory_order_relaxed);
    member.delivered.store(0, std::memory_order_relaxed);
    // release: whoever sees the member active (tools, adoption) sees its owner.
    member.state.store(kActive, std::memory_order_release);
    view.record->member_count.fetch_add(1, std::memory_order_relaxed);
    return i;
  }
  return std::nullopt;
}

std::uint64_t remove_member(const ring::TopicView& topic, std::uint32_t group,
                            std::uint32_t member) {
  if (group >= topic.max_groups || member >= topic.max_group_members) return 0;
  const GroupView view = GroupView::of(topic, group);
  const std::uint64_t head = topic.header->next_sequence.load(std::memory_order_relaxed);
  std::uint64_t requeued = 0;
  // The whole table: a member may have claimed an entry just past the dispatch cursor.
  for (std::uint32_t i = 0; i < topic.slot_count; ++i) {
    auto& entry = view.entries[i];
    const std::uint64_t word = entry.word.load(std::memory_order_relaxed);  // take_back CASes it
    if (word == 0 || layout::delivery_state(word) != layout::DeliveryState::in_flight ||
        layout::delivery_owner(word) != member) {
      continue;
    }
    const std::uint64_t sequence = sequence_of_tag(word >> 18, head);
    if (take_back(topic, view, entry, word, sequence)) ++requeued;
  }
  // A member killed between taking a bucket and claiming its message leaves a count behind.
  for (auto& bucket : view.record->buckets) {
    std::uint32_t current = bucket.load(std::memory_order_relaxed);
    // release: pairs with take_bucket's acquire, as in release_bucket.
    while (!layout::bucket_free(current) && layout::bucket_owner(current) == member &&
           !bucket.compare_exchange_weak(current, 0, std::memory_order_release,
                                         std::memory_order_relaxed)) {
    }
  }
  auto& record = view.members[member];
  if (record.state.load(std::memory_order_relaxed) == kActive) {
    record.in_flight.store(0, std::memory_order_relaxed);
    record.state.store(kFree, std::memory_order_relaxed);
    view.record->member_count.fetch_sub(1, std::memory_order_relaxed);
  }
  ring::wake_subscribers(topic);
  return requeued;
}

std::uint64_t requeue_expired(const ring::TopicView& topic, std::uint32_t group,
                              std::uint64_t now_ns) {
  if (group >= topic.max_groups) return 0;
  const GroupView view = GroupView::of(topic, group);
  if (view.record->ack_timeout_ns == 0) return 0;
  const std::uint64_t end = view.record->dispatch.load(std::memory_order_relaxed);
  const std::uint64_t oldest = end > topic.slot_count ? end - topic.slot_count : 0;
  const std::uint64_t begin = std::max(oldest, view.floor->cursor.load(std::memory_order_relaxed));
  std::uint64_t requeued = 0;
  for (std::uint64_t s = begin; s <= end; ++s) {
    auto& entry = view.entry(topic, s);
    const std::uint64_t word = entry.word.load(std::memory_order_relaxed);  // take_back CASes it
    if (!layout::delivery_is_for(word, s) ||
        layout::delivery_state(word) != layout::DeliveryState::in_flight) {
      continue;
    }
    // acquire: pairs with the member's release store of the stamp, so the deadline is its own.
    if (entry.stamp.load(std::memory_order_acquire) != word) continue;
    const std::uint64_t deadline = entry.deadline_ns.load(std::memory_order_relaxed);
    if (deadline == 0 || deadline > now_ns) continue;
    if (take_back(topic, view, entry, word, s)) ++requeued;
  }
  if (requeued != 0) ring::wake_subscribers(topic);
  return requeued;
}

}  // namespace shmbus::group
