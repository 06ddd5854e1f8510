// Property filters evaluated on a slot in shared memory, so that a message a consumer skips is
// never copied. Shared by broadcast subscribers and group consumers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "layout/shm_layout.hpp"
#include "shmbus/properties.hpp"

namespace shmbus::message {

// The encoded properties of a slot whose payload size and properties size were read as `size` and
// `properties_size`: empty when there are none or when the sizes do not fit the slot (a corrupted
// header is never followed out of the slot).
inline std::span<const std::byte> properties_in_slot(const std::byte* payload_area,
                                                     std::uint32_t slot_size, std::uint32_t size,
                                                     std::uint32_t properties_size) noexcept {
  if (properties_size == 0 || properties_size > slot_size || size > slot_size - properties_size) {
    return {};
  }
  return {payload_area + (slot_size - properties_size), properties_size};
}

// Whether the encoded properties pass `filter` (an empty filter passes everything).
bool matches(const PropertyFilter& filter, std::span<const std::byte> encoded) noexcept;

// The same over a slot: reads the slot's sizes once and bounds-checks them against `slot_size`.
// For a slot that may be rewritten meanwhile (overwrite topics) the caller re-checks the slot word
// afterwards, as for any read of the slot.
inline bool matches(const PropertyFilter& filter, const layout::SlotHeader& slot,
                    const std::byte* payload_area, std::uint32_t slot_size) noexcept {
  const std::uint32_t size = slot.size;
  const std::uint32_t properties_size = slot.properties_size;
  return matches(filter, properties_in_slot(payload_area, slot_size, size, properties_size));
}

}  // namespace shmbus::message
