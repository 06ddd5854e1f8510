// The payload the integration tests publish, the markers that end a run, and how a peer talks
// back to its test.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace shmbus::testing {

// One line to the test that spawned the peer, flushed at once: the test waits for it.
inline void say(std::string_view line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

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

// Keyed streams: message `index` of a publisher carries the ordering key "k<index % keys>".
inline constexpr std::uint32_t kNoKey = ~0U;

inline std::uint32_t key_of(std::uint64_t index, std::uint32_t keys) {
  return static_cast<std::uint32_t>(index % keys);
}
inline std::string key_name(std::uint32_t key) {
  // Appended, not `"k" + std::to_string(key)`: GCC 12 at -O3 takes that for an overlapping
  // memcpy (-Wrestrict, a false positive) and fails the release preset's build.
  std::string name = "k";
  name += std::to_string(key);
  return name;
}
// The key number of a "k<n>" ordering key; nullopt for anything else.
inline std::optional<std::uint32_t> parse_key_name(std::string_view name) {
  std::uint32_t key = 0;
  if (name.size() < 2 || name[0] != 'k') return std::nullopt;
  const auto [end, error] = std::from_chars(name.data() + 1, name.data() + name.size(), key);
  if (error != std::errc{} || end != name.data() + name.size()) return std::nullopt;
  return key;
}

// What a group member received, in a file it maps shared: a record written before the message is
// acked survives the member's SIGKILL, so the test sees every delivery that was acked.
struct DeliveryRecord {
  std::uint32_t tag;
  std::uint32_t deliveries;
  std::uint64_t index;
  std::uint64_t sequence;  // in the topic
  // Members that share a DeliveryStamps file take one stamp per record, in one order across all
  // of them (0: not stamped).
  std::uint64_t stamp;
  std::uint32_t key;  // the ordering key's number, or kNoKey
  std::uint32_t reserved;
};

// A counter in a file every member of a run maps shared: each member takes the next stamp for each
// record it logs, so that the test can merge the logs of all members in one delivery order.
struct alignas(64) DeliveryStamps {
  std::uint64_t next;  // updated with atomic_ref; the first stamp handed out is 1
};

struct DeliveryLogHeader {
  std::uint64_t count;  // records written; updated with an atomic_ref release store
  std::uint64_t capacity;
};

}  // namespace shmbus::testing
