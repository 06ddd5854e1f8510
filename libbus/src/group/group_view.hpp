// Typed pointers to one shared subscription group of a mapped topic: its record, its members and
// its delivery entries (one per slot).
#pragma once

#include <atomic>
#include <cstdint>

#include "layout/shm_layout.hpp"
#include "ring/topic_view.hpp"

namespace shmbus::group {

struct GroupView {
  layout::GroupRecord* record = nullptr;
  layout::GroupMemberRecord* members = nullptr;
  layout::DeliveryEntry* entries = nullptr;
  layout::SubscriberRecord* floor = nullptr;  // cursor = the first sequence not yet acked
  std::uint32_t index = 0;
  std::uint32_t max_members = 0;

  // `index` < topic.max_groups; the record's cursor_index is checked against the topic's table
  // before use, so a corrupted record cannot send us outside it.
  static GroupView of(const ring::TopicView& topic, std::uint32_t index) {
    GroupView view;
    view.index = index;
    view.record = &topic.groups[index];
    view.members = &topic.members[std::uint64_t{index} * topic.max_group_members];
    view.entries = &topic.deliveries[std::uint64_t{index} * topic.slot_count];
    view.max_members = topic.max_group_members;
    const std::uint32_t cursor = view.record->cursor_index;
    view.floor = &topic.subscribers[cursor < topic.max_subscribers ? cursor : 0];
    return view;
  }

  [[nodiscard]] layout::DeliveryEntry& entry(const ring::TopicView& topic,
                                             std::uint64_t sequence) const noexcept {
    return entries[sequence & topic.mask];
  }
  [[nodiscard]] bool key_ordered() const noexcept {
    return (record->flags.load(std::memory_order_relaxed) & layout::kGroupKeyOrdered) != 0;
  }
  [[nodiscard]] bool declared() const noexcept {
    return (record->flags.load(std::memory_order_relaxed) & layout::kGroupDeclared) != 0;
  }
};

// The key bucket a message of `key_hash` belongs to in key-ordered groups; none for hash 0.
inline constexpr std::uint32_t kNoBucket = ~0U;
constexpr std::uint32_t key_bucket(std::uint32_t key_hash) {
  return key_hash == 0 ? kNoBucket : key_hash % layout::kKeyBuckets;
}

// One message fewer in flight in `bucket` for `owner`; frees the bucket at zero. Returns true when
// it freed the bucket (members blocked on it should be woken).
inline bool release_bucket(const GroupView& group, std::uint32_t bucket, std::uint32_t owner) {
  if (bucket == kNoBucket) return false;
  auto& word = group.record->buckets[bucket];
  std::uint32_t current = word.load(std::memory_order_relaxed);
  for (;;) {
    if (layout::bucket_free(current) || layout::bucket_owner(current) != owner) return false;
    const std::uint32_t count = layout::bucket_in_flight(current);
    const std::uint32_t next = count <= 1 ? 0 : layout::bucket_word(owner, count - 1);
    // seq_cst: pairs with take_bucket's acquire (the next holder sees the messages of the bucket
    // we requeued before freeing it as waiting: per-key order), and, with the seq_cst load of
    // `waiters` in wake_waiters, with a sleeping member's seq_cst fence before its re-poll.
    if (word.compare_exchange_weak(current, next, std::memory_order_seq_cst,
                                   std::memory_order_relaxed)) {
      return next == 0;
    }
  }
}

}  // namespace shmbus::group
