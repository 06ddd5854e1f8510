// The one definition of shmbus's shared-memory layout, used by libshmbus, shmbusd and the tools.
//
// Two kinds of segment make a bus:
//   control segment  "/shmbus.<bus>.ctl"       ControlHeader, then TopicEntry[max_topics],
//                                               then ClientEntry[max_clients]. Only the daemon
//                                               writes it; clients and tools read it.
//   topic segment    "/shmbus.<bus>.<id>.<gen>" TopicHeader, PublisherRecord[max_publishers],
//                                               SubscriberRecord[max_subscribers],
//                                               GroupRecord[max_groups],
//                                               GroupMemberRecord[max_groups * max_group_members],
//                                               DeliveryEntry[max_groups * slot_count], slots.
//                                               Publishers write slots and their record,
//                                               subscribers write their cursor, group members
//                                               write delivery entries, the daemon allocates
//                                               and frees records.
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
inline constexpr std::uint32_t kLayoutVersion = 3;

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
inline constexpr std::uint32_t kMaxGroupsLimit = 64;
inline constexpr std::uint32_t kMaxGroupMembersLimit = 254;  // member indexes fit the owner byte
inline constexpr std::size_t kGroupNameCapacity = 64;        // group names: at most 63 bytes
inline constexpr std::size_t kMaxGroupNameLength = kGroupNameCapacity - 1;
inline constexpr std::uint32_t kKeyBuckets = 256;  // key-ordered groups route key_hash % this
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
inline constexpr std::uint32_t kFlagDeadLetter = 1;  // a copy put on a dead-letter topic

// --- Delivery word (shared subscription groups) -------------------------------------------------
// One DeliveryEntry per slot and group says what the group did with the message in that slot:
//   bits 0-1   DeliveryState
//   bits 2-9   owner: the member index holding it, kNoOwner when none
//   bits 10-17 deliveries so far (saturates at 255)
//   bits 18-63 tag: (sequence + 1) mod 2^46; an entry whose tag is not the slot's current
//              sequence's has not been delivered yet (a fresh message)
// The word changes only by CAS, so exactly one member wins each delivery.
enum class DeliveryState : std::uint64_t {
  released = 0,  // acked, dead-lettered, or skipped (aborted or lost): frees the slot
  ready = 1,     // requeued: waiting to be delivered again
  in_flight = 2  // delivered to `owner`, not yet acked
};
inline constexpr std::uint32_t kNoOwner = 0xff;
inline constexpr std::uint32_t kMaxDeliveryCount = 0xff;
inline constexpr std::uint64_t kDeliveryTagMask = (std::uint64_t{1} << 46) - 1;

constexpr std::uint64_t delivery_tag(std::uint64_t sequence) {
  return (sequence + 1) & kDeliveryTagMask;
}
constexpr std::uint64_t delivery_word(std::uint64_t sequence, DeliveryState state,
                                      std::uint32_t owner, std::uint32_t deliveries) {
  return (delivery_tag(sequence) << 18) | (std::uint64_t{deliveries & 0xffU} << 10) |
         (std::uint64_t{owner & 0xffU} << 2) | static_cast<std::uint64_t>(state);
}
constexpr bool delivery_is_for(std::uint64_t word, std::uint64_t sequence) {
  return (word >> 18) == delivery_tag(sequence);
}
// True if `word` belongs to a sequence before `sequence` (or to none): the entry may be taken for
// `sequence`. Tags compare modulo 2^46, so any two sequences in one ring window compare right.
constexpr bool delivery_is_older(std::uint64_t word, std::uint64_t sequence) {
  if (word == 0) return true;
  const std::uint64_t distance = (delivery_tag(sequence) - (word >> 18)) & kDeliveryTagMask;
  return distance != 0 && distance < (kDeliveryTagMask >> 1);
}
constexpr DeliveryState delivery_state(std::uint64_t word) {
  return static_cast<DeliveryState>(word & 3U);
}
constexpr std::uint32_t delivery_owner(std::uint64_t word) {
  return static_cast<std::uint32_t>((word >> 2) & 0xffU);
}
constexpr std::uint32_t delivery_count(std::uint64_t word) {
  return static_cast<std::uint32_t>((word >> 10) & 0xffU);
}

// Key-ordered groups: one word per key bucket, (owner + 1) << 24 | messages of the bucket the owner
// holds in flight. 0 = free: any member may take the bucket with its next message of that key.
constexpr std::uint32_t bucket_word(std::uint32_t owner, std::uint32_t in_flight) {
  return ((owner + 1) << 24) | (in_flight & 0xffffffU);
}
constexpr bool bucket_free(std::uint32_t word) {
  return (word >> 24) == 0;
}
constexpr std::uint32_t bucket_owner(std::uint32_t word) {
  return (word >> 24) - 1;
}
constexpr std::uint32_t bucket_in_flight(std::uint32_t word) {
  return word & 0xffffffU;
}

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
  // A temporary topic's creator, whose detaching deletes the topic; 0 for a lasting topic.
  std::uint64_t owner_client_id;
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
  std::uint32_t max_groups;
  std::uint32_t max_group_members;  // per group
  std::uint64_t groups_offset;
  std::uint64_t members_offset;
  std::uint64_t deliveries_offset;
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

// Marks the SubscriberRecord that carries a group's ack floor: no client owns it, and daemon
// adoption must not reclaim it.
inline constexpr std::uint64_t kGroupCursorOwner = ~std::uint64_t{0};

enum GroupFlags : std::uint32_t {
  kGroupDeclared = 1,    // kept, with its backlog, while it has no members
  kGroupKeyOrdered = 2,  // messages with the same ordering key go to the same live member
};

// A shared subscription group on a topic. Each message goes to exactly one member; its ack floor
// (the first sequence not yet acked) is the cursor of SubscriberRecord `cursor_index`, so
// block-mode publishers are gated by unacked messages exactly as by a slow subscriber.
struct alignas(kCacheLine) GroupRecord {
  // Written by the daemon; fixed while the group is active (the state store releases them).
  std::atomic<std::uint32_t> state;  // EntryState
  std::atomic<std::uint32_t> flags;  // GroupFlags; kGroupDeclared may be added later
  std::uint32_t max_deliveries;      // deliveries before dead-lettering; 0: unlimited
  std::uint32_t cursor_index;        // into SubscriberRecord[]
  std::uint64_t ack_timeout_ns;      // redeliver a message not acked within this; 0: never
  std::atomic<std::uint32_t> member_count;
  std::uint32_t reserved;
  char name[kGroupNameCapacity];
  char dead_letter_topic[kNameCapacity];

  // The next sequence no member has taken yet. Advanced by members (CAS), a hint: the delivery
  // entry's CAS decides who gets a message.
  alignas(kCacheLine) std::atomic<std::uint64_t> dispatch;
  // Entries in state `ready` (requeued): while non-zero, members look for them first.
  alignas(kCacheLine) std::atomic<std::uint64_t> ready;
  // Statistics, relaxed: shown by `shmbus ls`. Counted after the entry is settled, so a member
  // killed in between leaves its count one short; the floor (cursor_index's cursor) is exact.
  alignas(kCacheLine) std::atomic<std::uint64_t> acked;
  std::atomic<std::uint64_t> redelivered;
  std::atomic<std::uint64_t> dead_lettered;
  std::atomic<std::uint64_t> lost;  // overwritten before it was acked (overwrite topics)
  // Key-ordered groups only: see bucket_word().
  alignas(kCacheLine) std::atomic<std::uint32_t> buckets[kKeyBuckets];
};

struct alignas(kCacheLine) GroupMemberRecord {
  std::atomic<std::uint32_t> state;  // EntryState, written by the daemon
  std::uint32_t prefetch;            // most messages it holds unacked at once
  std::atomic<std::uint64_t> owner_client_id;
  // Written by the member, relaxed: statistics for `shmbus ls`.
  std::atomic<std::uint64_t> in_flight;
  std::atomic<std::uint64_t> delivered;
};

struct alignas(32) DeliveryEntry {
  std::atomic<std::uint64_t> word;  // see delivery_word()
  // Ack deadline of the current delivery: valid while `stamp` equals `word`, so that a deadline
  // left by an earlier delivery of the same slot is never taken for the current one.
  std::atomic<std::uint64_t> stamp;
  std::atomic<std::uint64_t> deadline_ns;
  std::uint64_t reserved;
};

struct alignas(kCacheLine) SlotHeader {
  std::atomic<std::uint64_t> word;  // see slot_word()
  std::uint32_t size;
  std::uint32_t flags;
  std::uint64_t publish_time_ns;  // CLOCK_MONOTONIC ns, from the TSC clock (wait/clock.hpp)
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
static_assert(sizeof(GroupRecord) % kCacheLine == 0);
static_assert(sizeof(GroupMemberRecord) == kCacheLine);
static_assert(sizeof(DeliveryEntry) == 32);
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
  std::uint64_t groups_offset;
  std::uint64_t members_offset;
  std::uint64_t deliveries_offset;
  std::uint64_t slots_offset;
  std::uint64_t segment_size;
};

// The table sizes that, with the slot shape, fix a topic segment's geometry.
struct TopicTables {
  std::uint32_t max_publishers;
  std::uint32_t max_subscribers;
  std::uint32_t max_groups;
  std::uint32_t max_group_members;
};

// Slots start on a page boundary: payloads then sit at a fixed offset mod 4096 in every slot, which
// keeps glibc's memcpy on its fast path (see DESIGN: a 1-31 mod 4096 offset costs 16x).
constexpr TopicGeometry topic_geometry(std::uint32_t slot_size, std::uint32_t slot_count,
                                       const TopicTables& tables) {
  const std::uint32_t stride = slot_stride_for(slot_size);
  const std::uint64_t pubs = round_up(sizeof(TopicHeader), kCacheLine);
  const std::uint64_t subs = pubs + std::uint64_t{tables.max_publishers} * sizeof(PublisherRecord);
  const std::uint64_t groups =
      subs + std::uint64_t{tables.max_subscribers} * sizeof(SubscriberRecord);
  const std::uint64_t members = groups + std::uint64_t{tables.max_groups} * sizeof(GroupRecord);
  const std::uint64_t deliveries = members + std::uint64_t{tables.max_groups} *
                                                 tables.max_group_members *
                                                 sizeof(GroupMemberRecord);
  const std::uint64_t slots = round_up(
      deliveries + std::uint64_t{tables.max_groups} * slot_count * sizeof(DeliveryEntry), 4096);
  const std::uint64_t end = slots + std::uint64_t{slot_count} * stride;
  return {stride, pubs, subs, groups, members, deliveries, slots, round_up(end, 4096)};
}

}  // namespace shmbus::layout
