#include "layout/segment_format.hpp"

#include "layout/fixed_string.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace shmbus::layout {
namespace {

Error corrupted(const std::string& what) {
  return {ErrorCode::corrupted_segment, fmt::format("corrupted shared-memory segment: {}", what)};
}

template <std::size_t N>
bool is_terminated(const char (&text)[N]) {
  return std::memchr(text, '\0', N) != nullptr;
}

// Copies a seqlocked entry and retries while the daemon rewrites it. The copy races with the
// daemon's writes by design (the version check discards torn copies), so ThreadSanitizer, which
// would report that race, does not instrument it.
template <typename Entry>
__attribute__((no_sanitize("thread"))) bool read_entry(const Entry& entry, Entry& copy) {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    // acquire: pairs with end_entry_write's release, so the fields read below are at least as new.
    const std::uint32_t before = entry.version.load(std::memory_order_acquire);
    if ((before & 1U) != 0) continue;
    std::memcpy(static_cast<void*>(&copy), static_cast<const void*>(&entry), sizeof(Entry));
    // acquire fence: keeps the copy above from being reordered after the re-check of version.
    std::atomic_thread_fence(std::memory_order_acquire);
    if (entry.version.load(std::memory_order_relaxed) == before) return true;
  }
  return false;
}

}  // namespace

std::optional<Error> check_topic_params(const TopicParams& p) {
  if (p.slot_size == 0 || p.slot_size > kMaxSlotSize) {
    return Error(ErrorCode::invalid_argument,
                 fmt::format("slot size {} is out of range 1..{}", p.slot_size, kMaxSlotSize));
  }
  if (!is_power_of_two(p.slot_count) || p.slot_count < 2 || p.slot_count > kMaxSlotCount) {
    return Error(
        ErrorCode::invalid_argument,
        fmt::format("slot count {} must be a power of two in 2..{}", p.slot_count, kMaxSlotCount));
  }
  if (p.policy != FullPolicy::block && p.policy != FullPolicy::overwrite) {
    return Error(ErrorCode::invalid_argument, "full policy must be 'block' or 'overwrite'");
  }
  if (p.max_publishers == 0 || p.max_publishers > kMaxPublishersLimit || p.max_subscribers == 0 ||
      p.max_subscribers > kMaxSubscribersLimit) {
    return Error(ErrorCode::invalid_argument,
                 fmt::format("publisher/subscriber limits must be in 1..{} and 1..{}",
                             kMaxPublishersLimit, kMaxSubscribersLimit));
  }
  if (p.max_groups > kMaxGroupsLimit || p.max_group_members > kMaxGroupMembersLimit ||
      (p.max_groups != 0 && p.max_group_members == 0)) {
    return Error(ErrorCode::invalid_argument,
                 fmt::format("group limits must be in 0..{} groups of 1..{} members",
                             kMaxGroupsLimit, kMaxGroupMembersLimit));
  }
  if (p.max_groups > p.max_subscribers) {
    return Error(ErrorCode::invalid_argument,
                 fmt::format("{} groups need as many subscriber records; the topic has {}",
                             p.max_groups, p.max_subscribers));
  }
  const auto geometry = topic_geometry(p.slot_size, p.slot_count, p.tables());
  if (geometry.segment_size > kMaxTopicSegmentSize) {
    return Error(
        ErrorCode::invalid_argument,
        fmt::format("a topic of {} slots of {} bytes needs {} bytes; the limit is {}", p.slot_count,
                    p.slot_size, geometry.segment_size, kMaxTopicSegmentSize));
  }
  return std::nullopt;
}

void format_control(void* base, std::string_view bus, const ControlParams& params) {
  const auto geometry = control_geometry(params.max_topics, params.max_clients);
  auto* header = new (base) ControlHeader{};
  header->magic = kControlMagic;
  header->layout_version = kLayoutVersion;
  header->header_size = sizeof(ControlHeader);
  header->segment_size = geometry.segment_size;
  header->max_topics = params.max_topics;
  header->max_clients = params.max_clients;
  header->topics_offset = geometry.topics_offset;
  header->clients_offset = geometry.clients_offset;
  header->daemon_version = params.daemon_version;
  header->permissions = params.permissions;
  copy_name(header->bus_name, bus);
  auto* topics = topic_entries(base);
  for (std::uint32_t i = 0; i < params.max_topics; ++i) {
    new (&topics[i]) TopicEntry{};
    topics[i].topic_id = i;
  }
  auto* clients = client_entries(base);
  for (std::uint32_t i = 0; i < params.max_clients; ++i)
    new (&clients[i]) ClientEntry{};
  header->next_client_id.store(1, std::memory_order_relaxed);
}

void format_topic(void* base, std::string_view name, const TopicParams& p) {
  const auto geometry = topic_geometry(p.slot_size, p.slot_count, p.tables());
  auto* header = new (base) TopicHeader{};
  header->magic = kTopicMagic;
  header->layout_version = kLayoutVersion;
  header->header_size = sizeof(TopicHeader);
  header->segment_size = geometry.segment_size;
  header->slot_size = p.slot_size;
  header->slot_count = p.slot_count;
  header->slot_stride = geometry.slot_stride;
  header->policy = static_cast<std::uint32_t>(p.policy);
  header->max_publishers = p.max_publishers;
  header->max_subscribers = p.max_subscribers;
  header->publishers_offset = geometry.publishers_offset;
  header->subscribers_offset = geometry.subscribers_offset;
  header->groups_offset = geometry.groups_offset;
  header->members_offset = geometry.members_offset;
  header->deliveries_offset = geometry.deliveries_offset;
  header->slots_offset = geometry.slots_offset;
  header->topic_id = p.topic_id;
  header->generation = p.generation;
  header->max_groups = p.max_groups;
  header->max_group_members = p.max_group_members;
  copy_name(header->name, name);
  auto* publishers = publisher_records(base);
  for (std::uint32_t i = 0; i < p.max_publishers; ++i)
    new (&publishers[i]) PublisherRecord{};
  auto* subscribers = subscriber_records(base);
  for (std::uint32_t i = 0; i < p.max_subscribers; ++i)
    new (&subscribers[i]) SubscriberRecord{};
  auto* groups = group_records(base);
  for (std::uint32_t i = 0; i < p.max_groups; ++i)
    new (&groups[i]) GroupRecord{};
  auto* members = group_member_records(base);
  for (std::uint32_t i = 0; i < p.max_groups * p.max_group_members; ++i)
    new (&members[i]) GroupMemberRecord{};
  auto* deliveries = delivery_entries(base);
  for (std::uint64_t i = 0; i < std::uint64_t{p.max_groups} * p.slot_count; ++i)
    new (&deliveries[i]) DeliveryEntry{};
  std::byte* slots = slots_base(base);
  for (std::uint32_t i = 0; i < p.slot_count; ++i) {
    new (slots + std::uint64_t{i} * geometry.slot_stride) SlotHeader{};
  }
}

std::optional<Error> validate_control(const void* base, std::size_t mapped_size) {
  if (mapped_size < sizeof(ControlHeader)) {
    return corrupted(fmt::format("control segment is {} bytes, smaller than its header ({})",
                                 mapped_size, sizeof(ControlHeader)));
  }
  const auto* h = static_cast<const ControlHeader*>(base);
  if (h->magic != kControlMagic) return corrupted("control segment has a wrong magic number");
  if (h->layout_version != kLayoutVersion) {
    return Error(ErrorCode::version_mismatch,
                 fmt::format("the bus uses shared-memory layout version {}, this library speaks "
                             "version {}: use a libshmbus and shmbusd of the same release",
                             h->layout_version, kLayoutVersion));
  }
  if (h->header_size != sizeof(ControlHeader)) {
    return corrupted(
        fmt::format("control header size {} != {}", h->header_size, sizeof(ControlHeader)));
  }
  if (h->max_topics == 0 || h->max_topics > kMaxTopicsLimit || h->max_clients == 0 ||
      h->max_clients > kMaxClientsLimit) {
    return corrupted(fmt::format("control segment table sizes out of range ({} topics, {} clients)",
                                 h->max_topics, h->max_clients));
  }
  const auto geometry = control_geometry(h->max_topics, h->max_clients);
  if (h->topics_offset != geometry.topics_offset || h->clients_offset != geometry.clients_offset ||
      h->segment_size != geometry.segment_size) {
    return corrupted("control segment table offsets do not match its table sizes");
  }
  if (h->segment_size > mapped_size) {
    return corrupted(fmt::format("control segment is truncated: {} bytes mapped, {} expected",
                                 mapped_size, h->segment_size));
  }
  if (!is_terminated(h->bus_name)) return corrupted("control segment bus name is not terminated");
  return std::nullopt;
}

std::optional<Error> validate_topic(const void* base, std::size_t mapped_size) {
  if (mapped_size < sizeof(TopicHeader)) {
    return corrupted(fmt::format("topic segment is {} bytes, smaller than its header ({})",
                                 mapped_size, sizeof(TopicHeader)));
  }
  const auto* h = static_cast<const TopicHeader*>(base);
  if (h->magic != kTopicMagic) return corrupted("topic segment has a wrong magic number");
  if (h->layout_version != kLayoutVersion) {
    return Error(ErrorCode::version_mismatch,
                 fmt::format("topic segment uses layout version {}, this library speaks {}",
                             h->layout_version, kLayoutVersion));
  }
  if (h->header_size != sizeof(TopicHeader)) return corrupted("topic header size differs");
  const TopicParams params{h->topic_id,
                           h->generation,
                           h->slot_size,
                           h->slot_count,
                           static_cast<FullPolicy>(h->policy),
                           h->max_publishers,
                           h->max_subscribers,
                           h->max_groups,
                           h->max_group_members};
  if (auto error = check_topic_params(params)) {
    return corrupted(fmt::format("topic header parameters invalid: {}", error->what()));
  }
  const auto geometry = topic_geometry(h->slot_size, h->slot_count, params.tables());
  if (h->slot_stride != geometry.slot_stride ||
      h->publishers_offset != geometry.publishers_offset ||
      h->subscribers_offset != geometry.subscribers_offset ||
      h->groups_offset != geometry.groups_offset || h->members_offset != geometry.members_offset ||
      h->deliveries_offset != geometry.deliveries_offset ||
      h->slots_offset != geometry.slots_offset || h->segment_size != geometry.segment_size) {
    return corrupted("topic segment offsets do not match its geometry");
  }
  if (h->segment_size > mapped_size) {
    return corrupted(fmt::format("topic segment is truncated: {} bytes mapped, {} expected",
                                 mapped_size, h->segment_size));
  }
  if (!is_terminated(h->name)) return corrupted("topic segment name is not terminated");
  return std::nullopt;
}

bool read_topic_entry(const TopicEntry& entry, TopicEntry& copy) {
  if (!read_entry(entry, copy)) return false;
  return is_terminated(copy.name) && is_terminated(copy.segment_name);
}

bool read_client_entry(const ClientEntry& entry, ClientEntry& copy) {
  if (!read_entry(entry, copy)) return false;
  return is_terminated(copy.name);
}

void begin_entry_write(std::atomic<std::uint32_t>& version) {
  version.fetch_add(1, std::memory_order_relaxed);
  // release fence: orders the odd version before the field writes that follow (pairs with the
  // reader's acquire fence before its re-check).
  std::atomic_thread_fence(std::memory_order_release);
}

void end_entry_write(std::atomic<std::uint32_t>& version) {
  // release: publishes the field writes with the even version (pairs with read_entry's acquire).
  version.fetch_add(1, std::memory_order_release);
}

}  // namespace shmbus::layout
