// Typed pointers into one mapped, validated topic segment.
#pragma once

#include <cstddef>
#include <cstdint>

#include "layout/segment_format.hpp"
#include "layout/shm_layout.hpp"

namespace shmbus::ring {

struct TopicView {
  layout::TopicHeader* header = nullptr;
  layout::PublisherRecord* publishers = nullptr;
  layout::SubscriberRecord* subscribers = nullptr;
  layout::GroupRecord* groups = nullptr;
  layout::GroupMemberRecord* members = nullptr;  // [group * max_group_members + member]
  layout::DeliveryEntry* deliveries = nullptr;   // [group * slot_count + sequence % N]
  std::byte* slots = nullptr;
  std::uint64_t mask = 0;  // slot_count - 1
  std::uint32_t slot_count = 0;
  std::uint32_t slot_stride = 0;
  std::uint32_t slot_size = 0;
  std::uint32_t max_publishers = 0;
  std::uint32_t max_subscribers = 0;
  std::uint32_t max_groups = 0;
  std::uint32_t max_group_members = 0;
  layout::FullPolicy policy = layout::FullPolicy::block;

  // `base` must have passed layout::validate_topic.
  static TopicView of(void* base) {
    TopicView view;
    view.header = static_cast<layout::TopicHeader*>(base);
    view.publishers = layout::publisher_records(base);
    view.subscribers = layout::subscriber_records(base);
    view.groups = layout::group_records(base);
    view.members = layout::group_member_records(base);
    view.deliveries = layout::delivery_entries(base);
    view.slots = layout::slots_base(base);
    view.slot_count = view.header->slot_count;
    view.mask = view.slot_count - 1;
    view.slot_stride = view.header->slot_stride;
    view.slot_size = view.header->slot_size;
    view.max_publishers = view.header->max_publishers;
    view.max_subscribers = view.header->max_subscribers;
    view.max_groups = view.header->max_groups;
    view.max_group_members = view.header->max_group_members;
    view.policy = static_cast<layout::FullPolicy>(view.header->policy);
    return view;
  }

  [[nodiscard]] layout::SlotHeader& slot(std::uint64_t sequence) const noexcept {
    return *reinterpret_cast<layout::SlotHeader*>(  // NOLINT: the slot array is typed memory
        slots + (sequence & mask) * slot_stride);
  }
  [[nodiscard]] std::byte* payload(std::uint64_t sequence) const noexcept {
    return slots + (sequence & mask) * slot_stride + sizeof(layout::SlotHeader);
  }
};

}  // namespace shmbus::ring
