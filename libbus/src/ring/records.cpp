#include "ring/records.hpp"

#include <algorithm>

#include "wait/futex.hpp"

namespace shmbus::ring {
namespace {

using layout::EntryState;
constexpr auto kActive = static_cast<std::uint32_t>(EntryState::active);
constexpr auto kFree = static_cast<std::uint32_t>(EntryState::free);
constexpr auto kReclaiming = static_cast<std::uint32_t>(EntryState::reclaiming);

}  // namespace

std::optional<std::uint32_t> allocate_publisher(const TopicView& topic,
                                                std::uint64_t owner_client_id,
                                                std::uint64_t publisher_id) {
  for (std::uint32_t i = 0; i < topic.max_publishers; ++i) {
    auto& record = topic.publishers[i];
    if (record.state.load(std::memory_order_relaxed) != kFree) continue;
    record.owner_client_id.store(owner_client_id, std::memory_order_relaxed);
    record.publisher_id.store(publisher_id, std::memory_order_relaxed);
    record.pending.store(0, std::memory_order_relaxed);
    record.published.store(0, std::memory_order_relaxed);
    // release: the fields above are visible to whoever sees the record active (tools, adoption).
    record.state.store(kActive, std::memory_order_release);
    return i;
  }
  return std::nullopt;
}

std::uint64_t start_sequence(const TopicView& topic, protocol::StartFrom start,
                             std::uint64_t last_n) {
  // acquire: pairs with the publishers' claim CAS (release), so the slots below head were claimed.
  const std::uint64_t head = topic.header->next_sequence.load(std::memory_order_acquire);
  const std::uint64_t oldest = head > topic.slot_count ? head - topic.slot_count : 0;
  switch (start) {
    case protocol::StartFrom::latest:
      return head;
    case protocol::StartFrom::earliest:
      return oldest;
    case protocol::StartFrom::last_n:
      return std::max(oldest, head - std::min(last_n, head));
  }
  return head;
}

std::optional<std::uint32_t> allocate_subscriber(const TopicView& topic,
                                                 std::uint64_t owner_client_id,
                                                 std::uint64_t start) {
  for (std::uint32_t i = 0; i < topic.max_subscribers; ++i) {
    auto& record = topic.subscribers[i];
    if (record.state.load(std::memory_order_relaxed) != kFree) continue;
    record.cursor.store(start, std::memory_order_relaxed);
    record.lost.store(0, std::memory_order_relaxed);
    record.owner_client_id.store(owner_client_id, std::memory_order_relaxed);
    // release: pairs with the publishers' acquire load of state when they refresh their gate, so
    // they read this record's start cursor, not an old one.
    record.state.store(kActive, std::memory_order_release);
    // release: publishers that see the new epoch also see the record active.
    topic.header->subscription_epoch.fetch_add(1, std::memory_order_release);
    return i;
  }
  return std::nullopt;
}

void release_subscriber(const TopicView& topic, std::uint32_t index) {
  if (index >= topic.max_subscribers) return;
  auto& record = topic.subscribers[index];
  record.state.store(kFree, std::memory_order_relaxed);
  // release: pairs with the publishers' acquire of the epoch; they stop gating on this cursor.
  topic.header->subscription_epoch.fetch_add(1, std::memory_order_release);
}

ReclaimResult reclaim_publisher(const TopicView& topic, std::uint32_t index) {
  if (index >= topic.max_publishers) return ReclaimResult::done;
  auto& record = topic.publishers[index];
  // Dead records no longer count as possible owners of a pending sequence (see the scan below), so
  // two dead publishers that announced the same sequence cannot wait on each other.
  record.state.store(kReclaiming, std::memory_order_relaxed);
  const std::uint64_t head = topic.header->next_sequence.load(std::memory_order_acquire);
  const std::uint64_t pending = record.pending.load(std::memory_order_relaxed);
  const auto finish = [&] {
    record.pending.store(0, std::memory_order_relaxed);
    record.state.store(kFree, std::memory_order_release);  // pairs with allocate's relaxed scan
    return ReclaimResult::done;
  };
  // pending == 0: no claim in progress. pending - 1 >= head: the claim CAS never succeeded.
  if (pending == 0 || pending - 1 >= head) return finish();
  const std::uint64_t sequence = pending - 1;
  auto& slot = topic.slot(sequence);
  // acquire: pairs with the publisher's commit store, so a committed word means a whole message.
  std::uint64_t word = slot.word.load(std::memory_order_acquire);
  for (;;) {
    const bool newer_lap = word != 0 && layout::word_sequence(word) > sequence;
    const bool finished = word != 0 && layout::word_sequence(word) == sequence &&
                          layout::word_state(word) != layout::SlotState::writing;
    if (newer_lap || finished) return finish();
    // Another live publisher that announced the same sequence may be the one that claimed it.
    for (std::uint32_t i = 0; i < topic.max_publishers; ++i) {
      if (i == index) continue;
      const auto& other = topic.publishers[i];
      // acquire: pairs with allocate_publisher's release, so `pending` is the current owner's.
      if (other.state.load(std::memory_order_acquire) == kActive &&
          other.pending.load(std::memory_order_relaxed) == pending) {
        return ReclaimResult::retry_later;
      }
    }
    // release: subscribers that see the aborted word (acquire) skip the slot; acquire on failure
    // pairs with a commit that won the race, as for the first load.
    if (slot.word.compare_exchange_weak(word,
                                        layout::slot_word(sequence, layout::SlotState::aborted),
                                        std::memory_order_release, std::memory_order_acquire)) {
      wake_subscribers(topic);
      return finish();
    }
  }
}

void wake_subscribers(const TopicView& topic) {
  topic.header->wake_word.fetch_add(1, std::memory_order_release);  // pairs with sleepers' reload
  wait::futex_wake_all(topic.header->wake_word);
}

}  // namespace shmbus::ring
