// The one definition of shmbus's shared-memory layout, used by libshmbus, shmbusd and the tools.
//
// Two kinds of segment make a bus:
//   control segment  "/shmbus.<bus>.ctl"       ControlHeader, then TopicEntry[max_topics],
//                                               then ClientEntry[max_clients]. Only the daemon
//                                               writes it; clients and tools read it.
//   topic segment    "/shmbus.<bus>.<id>.<gen>" TopicHeader, PublisherRecord[max_publishers],
//                                               SubscriberRecord[max_subscribers], slots.
//                                               Publishers write slots and their record,
//                                               subscribers write their cursor, the daemon
//                                               allocates and frees records.
//
// Every field a reader takes from shared memory is validated (validate_* below) before it is used
// as an index or a length: a corrupted or hostile segment yields an error, never an out-of-bounds
// access. Everything here is trivially copyable apart from the atomics, which are lock-free and
// address-free, so one mapping may sit at different addresses in different processes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace shmbus::layout {

inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::uint32_t kLayoutVersion = 2;

inline constexpr std::uint64_t kControlMagic = 0x4c54434253424d53ULL;  // "SMBSBCTL"
inline constexpr std::uint64_t kTopicMagic = 0x43505442534d4253ULL;    // "SBMSBTPC"

inline constexpr std::size_t kNameCapacity = 256;  // topic names: at most 255 bytes + NUL
inline constexpr std::size_t kMaxTopicNameLength = kNameCapacity - 1;
inline constexpr std::size_t kBusNameCapacity = 64;  // bus names: at most 63 bytes + NUL
inline constexpr std::size_t kMaxBusNameLength = kBusNameCapacity - 1;
inline constexpr std::size_t kSegmentNameCapacity = 128;
inline constexpr std::size_t kClientNameCapacity = 32;

// Hard limits that bound every index taken from shared memory, whatever a header claims.
inline constexpr std::uint32_t kMaxTopicsLimit = 4096;
inline constexpr std::uint32_t kMaxClientsLimit = 4096;
inline constexpr std::uint32_t kMaxPublishersLimit = 256;
inline constexpr std::uint32_t kMaxSubscribersLimit = 256;
inline constexpr std::uint32_t kMaxSlotSize = 64U << 20;  // 64 MiB payload per slot
inline constexpr std::uint32_t kMaxSlotCount = 1U << 24;
inline constexpr std::uint64_t kMaxTopicSegmentSize = 1ULL << 36;  // 64 GiB

enum class FullPolicy : std::uint32_t { block = 0, overwrite = 1 };

// --- Slot state word --------------------------------------------------------------------------
// word = ((sequence + 1) << 2) | state. Zero means "never written". A reader waiting for sequence
// s compares the word against committed_word(s); anything else means not yet, aborted or lapped.
enum class SlotState : std::uint64_t { committed = 0, writing = 1, aborted = 2 };

constexpr std::uint64_t slot_word(std::uint64_t sequence, SlotState state) {
  return ((sequence + 1) << 2) | static_cast<std::uint64_t>(state);
}
constexpr std::uint64_t committed_word(std::uint64_t sequence) {
  return slot_word(sequence, SlotState::committed);
}
// The sequence a word belongs to, or UINT64_MAX for a never-written slot.
constexpr std::uint64_t word_sequence(std::uint64_t word) {
  return (word >> 2) - 1;
}
constexpr SlotState word_state(std::uint64_t word) {
  return static_cast<SlotState>(word & 3U);
}

// Message flags carried in SlotHeader::flags.
inline constexpr std::uint32_t kFlagNone = 0;

// --- Control segment ----------------------------------------------------------------------------

// Directory entries are written only by the daemon, under a seqlock: `version` is odd while the
// daemon rewrites the entry, so a reader copies the entry and retries if version changed or is odd.
// `reclaiming`: a publisher record whose owner died, being cleaned up by the daemon.
enum class EntryState : std::uint32_t { free = 0, active = 1, reclaiming = 2 };

struct alignas(kCacheLine) ControlHeader {
  std::uint64_t magic;
  std::uint32_t layout_version;
  std::uint32_t header_size;  // sizeof(ControlHeader) of the writer, checked by readers
  std::uint64_t segment_size;
  std::uint32_t max_topics;
  std::uint32_t max_clients;
  std::uint64_t topics_offset;
  std::uint64_t clients_offset;
  std::uint32_t daemon_version;  // (major << 16) | (minor << 8) | patch
  std::uint32_t permissions;     // mode bits of the segments the daemon creates
  char bus_name[kBusNameCapacity];
  alignas(kCacheLine) std::atomic<std::int32_t> daemon_pid;  // 0 while no daemon serves the bus
  std::atomic<std::uint64_t> epoch;                          // +1 per daemon start or adoption
  std::atomic<std::uint64_t> next_client_id;
  std::atomic<std::uint64_t> directory_generation;  // +1 whenever a topic entry changes
};

struct alignas(kCacheLine) TopicEntry {
  std::atomic<std::uint32_t> version;  // seqlock, see EntryState
  std::atomic<std::uint32_t> state;    // EntryState
  std::uint32_t topic_id;              // == index in the table
  std::uint32_t generation;            // +1 each time the index is reused
  std::uint32_t slot_size;
  std::uint32_t slot_count;
  std::uint32_t policy;  // FullPolicy
  std::uint32_t max_publishers;
  std::uint32_t max_subscribers;
  std::uint32_t reserved;
  std::uint64_t segment_size;
  char name[kNameCapacity];
  char segment_name[kSegmentNameCapacity];
};

struct alignas(kCacheLine) ClientEntry {
  std::atomic<std::uint32_t> version;  // seqlock, see EntryState
  std::atomic<std::uint32_t> state;    // EntryState
  std::uint64_t client_id;
  std::int32_t pid;
  std::uint32_t uid;
  std::uint32_t gid;
  std::uint32_t connected;  // 1 while the daemon holds the client's control socket
  char name[kClientNameCapacity];
};

// --- Topic segment ------------------------------------------------------------------------------

struct alignas(kCacheLine) TopicHeader {
  // Written once by the daemon before any client maps the segment.
  std::uint64_t magic;
  std::uint32_t layout_version;
  std::uint32_t header_size;
  std::uint64_t segment_size;
  std::uint32_t slot_size;    // payload capacity of one slot
  std::uint32_t slot_count;   // power of two
  std::uint32_t slot_stride;  // sizeof(SlotHeader) + slot_size rounded up to kCacheLine
  std::uint32_t policy;       // FullPolicy
  std::uint32_t max_publishers;
  std::uint32_t max_subscribers;
  std::uint64_t publishers_offset;
  std::uint64_t subscribers_offset;
  std::uint64_t slots_offset;
  std::uint32_t topic_id;
  std::uint32_t generation;
  char name[kNameCapacity];

  // The claim counter: the next sequence a publisher will take. Written by every publisher.
  alignas(kCacheLine) std::atomic<std::uint64_t> next_sequence;

  // Subscriber wake-up: read by every publish (to see whether anyone sleeps), written only when a
  // subscriber goes to sleep or a publisher wakes sleepers.
  alignas(kCacheLine) std::atomic<std::uint32_t> waiters;
  std::atomic<std::uint32_t> wake_word;  // futex word: +1 per wake-up

  // Bumped by the daemon each time the subscriber set changes (publishers refresh their gate).
  alignas(kCacheLine) std::atomic<std::uint32_t> subscription_epoch;
};

struct alignas(kCacheLine) PublisherRecord {
  std::atomic<std::uint32_t> state;  // EntryState; the daemon allocates and frees
  std::uint32_t reserved;
  std::atomic<std::uint64_t> owner_client_id;
  std::atomic<std::uint64_t> publisher_id;
  // committed_word-style intent: sequence + 1 this publisher is claiming or holds unpublished,
  // 0 when none. Written before the claim CAS so that a publisher killed at any instruction leaves
  // enough behind for the daemon to abort the sequence it took.
  std::atomic<std::uint64_t> pending;
  std::atomic<std::uint64_t> published;  // messages committed by this publisher
};

struct alignas(kCacheLine) SubscriberRecord {
  // Written by the owning subscriber: the first sequence it still needs (it holds the slot of
  // cursor - 1 no longer). Read by block-mode publishers to gate the ring.
  std::atomic<std::uint64_t> cursor;
  std::atomic<std::uint64_t> lost;  // messages this subscriber lost to overwrite, written by it
  // Written by the daemon.
  std::atomic<std::uint32_t> state;  // EntryState
  std::uint32_t reserved;
  std::atomic<std::uint64_t> owner_client_id;
};

struct alignas(kCacheLine) SlotHeader {
  std::atomic<std::uint64_t> word;  // see slot_word()
  std::uint32_t size;
  std::uint32_t flags;
  std::uint64_t publish_time_ns;  // CLOCK_REALTIME-free monotonic time (CLOCK_MONOTONIC), ns
  std::uint64_t publisher_id;
  std::uint64_t sequence;
  // Bytes of encoded message properties stored at the end of the slot's payload area (0: none).
  std::uint32_t properties_size;
  // Hash of the message's ordering key (0: no key); key-ordered groups route on it without
  // decoding the properties.
  std::uint32_t key_hash;
};

static_assert(sizeof(ControlHeader) % kCacheLine == 0);
static_assert(sizeof(TopicEntry) % kCacheLine == 0);
static_assert(sizeof(ClientEntry) == kCacheLine);
static_assert(sizeof(TopicHeader) % kCacheLine == 0);
static_assert(sizeof(PublisherRecord) == kCacheLine);
static_assert(sizeof(SubscriberRecord) == kCacheLine);
static_assert(sizeof(SlotHeader) == kCacheLine);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::int32_t>::is_always_lock_free);

// --- Geometry -----------------------------------------------------------------------------------

constexpr std::uint64_t round_up(std::uint64_t value, std::uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}
constexpr bool is_power_of_two(std::uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

constexpr std::uint32_t slot_stride_for(std::uint32_t slot_size) {
  return static_cast<std::uint32_t>(round_up(sizeof(SlotHeader) + slot_size, kCacheLine));
}

struct ControlGeometry {
  std::uint64_t topics_offset;
  std::uint64_t clients_offset;
  std::uint64_t segment_size;
};

constexpr ControlGeometry control_geometry(std::uint32_t max_topics, std::uint32_t max_clients) {
  const std::uint64_t topics = round_up(sizeof(ControlHeader), kCacheLine);
  const std::uint64_t clients = topics + std::uint64_t{max_topics} * sizeof(TopicEntry);
  const std::uint64_t end = clients + std::uint64_t{max_clients} * sizeof(ClientEntry);
  return {topics, clients, round_up(end, 4096)};
}

struct TopicGeometry {
  std::uint32_t slot_stride;
  std::uint64_t publishers_offset;
  std::uint64_t subscribers_offset;
  std::uint64_t slots_offset;
  std::uint64_t segment_size;
};

// Slots start on a page boundary: payloads then sit at a fixed offset mod 4096 in every slot, which
// keeps glibc's memcpy on its fast path (see DESIGN: a 1-31 mod 4096 offset costs 16x).
constexpr TopicGeometry topic_geometry(std::uint32_t slot_size, std::uint32_t slot_count,
                                       std::uint32_t max_publishers,
                                       std::uint32_t max_subscribers) {
  const std::uint32_t stride = slot_stride_for(slot_size);
  const std::uint64_t pubs = round_up(sizeof(TopicHeader), kCacheLine);
  const std::uint64_t subs = pubs + std::uint64_t{max_publishers} * sizeof(PublisherRecord);
  const std::uint64_t slots =
      round_up(subs + std::uint64_t{max_subscribers} * sizeof(SubscriberRecord), 4096);
  const std::uint64_t end = slots + std::uint64_t{slot_count} * stride;
  return {stride, pubs, subs, slots, round_up(end, 4096)};
}

}  // namespace shmbus::layout
