// The one place that fills a Message from a ring read. Every consumer core (broadcast subscribers,
// pattern subscribers, group consumers) hands out Messages through it, so that the payload, the
// properties and the topic name are set alike and bounds-checked once.
#pragma once

#include "client/mapped_topic.hpp"
#include "message/property_filter.hpp"
#include "ring/ring_reader.hpp"
#include "shmbus/message.hpp"

namespace shmbus::detail {

struct MessageAccess {
  // `read` came from a RingReader over `topic`, whose properties_size is already checked against
  // the slot size.
  static void fill(Message& out, const ring::ReadResult& read, const MappedTopic& topic) noexcept {
    out.header_ = read.header;
    out.data_ = read.data;
    out.slot_ = read.slot;
    out.lost_before_ = read.lost_before;
    out.topic_ = topic.name();
    out.properties_ = message::properties_in_slot(read.data, topic.view().slot_size,
                                                  read.header.size, read.properties_size);
    out.delivered_by_ = nullptr;
    out.deliveries_ = 1;
  }

  // A group member's delivery: `member` is the only one that may settle it.
  static void fill_delivery(Message& out, const ring::ReadResult& read, const MappedTopic& topic,
                            const void* member, std::uint32_t deliveries) noexcept {
    fill(out, read, topic);
    out.delivered_by_ = member;
    out.deliveries_ = deliveries;
  }
  static const void* delivered_by(const Message& message) noexcept { return message.delivered_by_; }

  // The encoded properties of a ring read, for filters evaluated before a Message is filled.
  static std::span<const std::byte> properties(const ring::ReadResult& read,
                                               const MappedTopic& topic) noexcept {
    return message::properties_in_slot(read.data, topic.view().slot_size, read.header.size,
                                       read.properties_size);
  }

  static const layout::SlotHeader* slot(const Message& message) noexcept { return message.slot_; }
};

}  // namespace shmbus::detail
