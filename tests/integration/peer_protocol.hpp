// The payload the integration tests publish, and the markers that end a run.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

namespace shmbus::testing {

inline constexpr std::uint64_t kEndMarker = ~0ULL;  // "publisher `tag` will send no more"

struct TestPayloadHeader {
  std::uint32_t tag;  // which test publisher
  std::uint32_t size;
  std::uint64_t index;  // per-publisher count, from 0
};

inline std::uint8_t fill_byte(std::uint64_t index, std::size_t offset) {
  return static_cast<std::uint8_t>((index * 31U + offset) & 0xffU);
}

// Writes a payload of `size` bytes (>= sizeof header): header, then a pattern the reader checks.
inline void write_payload(std::span<std::byte> out, std::uint32_t tag, std::uint64_t index) {
  TestPayloadHeader header{tag, static_cast<std::uint32_t>(out.size()), index};
  std::memcpy(out.data(), &header, sizeof(header));
  for (std::size_t i = sizeof(header); i < out.size(); ++i) {
    out[i] = std::byte{fill_byte(index, i)};
  }
}

// False if the payload is torn or corrupted.
inline bool read_payload(std::span<const std::byte> in, TestPayloadHeader& header) {
  if (in.size() < sizeof(header)) return false;
  std::memcpy(&header, in.data(), sizeof(header));
  if (header.size != in.size()) return false;
  for (std::size_t i = sizeof(header); i < in.size(); ++i) {
    if (in[i] != std::byte{fill_byte(header.index, i)}) return false;
  }
  return true;
}

// What a group member received, in a file it maps shared: a record written before the message is
// acked survives the member's SIGKILL, so the test sees every delivery that was acked.
struct DeliveryRecord {
  std::uint32_t tag;
  std::uint32_t deliveries;
  std::uint64_t index;
};

struct DeliveryLogHeader {
  std::uint64_t count;  // records written; updated with an atomic_ref release store
  std::uint64_t capacity;
};

}  // namespace shmbus::testing
