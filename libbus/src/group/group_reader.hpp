// A member's side of a shared subscription group: take messages no other member took, hold them
// until acked, and give them back (requeue) or up (dead letter).
//
// The delivery entry of a slot decides who gets its message: a member takes sequence s by one CAS
// of the entry from "not yet s" (or "s ready") to "s in flight, owned by me". Nothing else about
// the claim needs to reach shared memory for the daemon to undo it, so a member killed at any
// instruction holds exactly the entries that name it, and the daemon requeues those.
//
// Order of preference: requeued messages (oldest first), then fresh ones at the dispatch cursor.
// In key-ordered groups a message of key bucket b goes only to the member holding b; a bucket is
// taken with its first message and freed when its holder has none of its messages in flight, and
// no fresh message is handed out while requeued ones wait, so per-key order survives churn. For
// that, whoever requeues a message counts it in `ready` before it frees the bucket, and whoever
// takes a freed bucket then sees the count (and the waiting entries): a fresh message is not taken
// while the count says something waits, and a requeued one only if none older of its bucket waits.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "group/group_view.hpp"
#include "layout/shm_layout.hpp"
#include "ring/claim_in_flight.hpp"
#include "ring/records.hpp"
#include "ring/ring_reader.hpp"
#include "ring/topic_view.hpp"
#include "shmbus/error.hpp"
#include "wait/futex.hpp"

namespace shmbus::group {

struct Delivery {
  ring::ReadResult read;
  std::uint32_t deliveries = 0;  // 1 on the first delivery
  // Delivered more often than the group's max_deliveries allows: the caller must put a copy on the
  // dead-letter topic and then call dead_lettered() (or requeue() if it could not).
  bool dead_letter = false;
};

enum class Outcome : std::uint8_t { acked, requeued, dead_lettered };

class GroupReader {
 public:
  GroupReader() = default;
  GroupReader(const ring::TopicView& topic, const GroupView& group, std::uint32_t member,
              std::uint32_t prefetch)
      : topic_(topic), group_(group), member_(member), prefetch_(std::max(prefetch, 1U)) {
    held_.reserve(prefetch_);  // the only allocation: poll() and finish() never allocate
  }

  // The next message for this member, or false when there is none it may take now.
  bool poll(Delivery& out) noexcept {
    if (held_.size() >= prefetch_ && !prune_held()) return false;
    // acquire: pairs with the requeuer's seq_cst increment, so the ready entry is visible.
    if (group_.record->ready.load(std::memory_order_acquire) != 0) {
      if (take_ready(out)) return true;
      // Per-key order: a key's requeued message must go out before its later ones.
      if (group_.key_ordered()) return false;
    }
    return take_fresh(out);
  }

  // Settles a message this member holds. Status::not_held if it holds no such message (never
  // delivered to it, already settled, or taken back after its ack timeout).
  Status finish(std::uint64_t sequence, Outcome outcome) noexcept {
    const auto it = std::find_if(held_.begin(), held_.end(),
                                 [&](const Held& h) { return h.sequence == sequence; });
    if (it == held_.end()) return Status::not_held;
    const Held held = *it;
    *it = held_.back();
    held_.pop_back();
    const std::uint32_t count = layout::delivery_count(held.word);
    const auto state = outcome == Outcome::requeued ? layout::DeliveryState::ready
                                                    : layout::DeliveryState::released;
    std::uint64_t expected = held.word;
    // release: our reads of the message happen before whoever sees the entry settled (acquire)
    // lets the slot be reused or hands the message to another member.
    if (!group_.entry(topic_, sequence)
             .word.compare_exchange_strong(
                 expected, layout::delivery_word(sequence, state, layout::kNoOwner, count),
                 std::memory_order_release, std::memory_order_relaxed)) {
      return Status::not_held;
    }
    publish_in_flight();
    auto& record = *group_.record;
    if (outcome == Outcome::requeued) {
      record.redelivered.fetch_add(1, std::memory_order_relaxed);
      // seq_cst: with the load of `waiters` in wake_waiters, pairs with a sleeping member's
      // seq_cst fence after its increment of `waiters` (Dekker): it sees the entry or is woken.
      // Counted before the bucket is freed: per-key order (see the top of this file).
      record.ready.fetch_add(1, std::memory_order_seq_cst);
      release_bucket(group_, held.bucket, member_);
      wake_waiters();
      return Status::ok;
    }
    const bool bucket_freed = release_bucket(group_, held.bucket, member_);
    if (outcome == Outcome::acked) {
      record.acked.fetch_add(1, std::memory_order_relaxed);
    } else {
      record.dead_lettered.fetch_add(1, std::memory_order_relaxed);
    }
    advance_floor();
    if (bucket_freed) wake_waiters();
    return Status::ok;
  }

  // True when poll() may find a message now (approximate: another member may take it first).
  [[nodiscard]] bool ready() const noexcept {
    if (group_.record->ready.load(std::memory_order_relaxed) != 0) return true;
    const std::uint64_t d = group_.record->dispatch.load(std::memory_order_relaxed);
    // acquire: pairs with the publisher's commit store (see take_fresh).
    const std::uint64_t word = topic_.slot(d).word.load(std::memory_order_acquire);
    return word != 0 && layout::word_sequence(word) >= d &&
           layout::word_state(word) != layout::SlotState::writing;
  }

  [[nodiscard]] std::size_t in_flight() const noexcept { return held_.size(); }

  // Whether a fresh message this member could take is claimed but not yet committed (see
  // ring::claim_in_flight). Call after a seq_cst fence.
  [[nodiscard]] bool claim_in_flight() const noexcept {
    return ring::claim_in_flight(topic_, group_.record->dispatch.load(std::memory_order_relaxed));
  }

 private:
  struct Held {
    std::uint64_t sequence;
    std::uint64_t word;  // the entry as we claimed it
    std::uint32_t bucket;
  };

  bool take_fresh(Delivery& out) noexcept {
    auto& dispatch = group_.record->dispatch;
    std::uint64_t d = dispatch.load(std::memory_order_relaxed);
    for (;;) {
      const auto& slot = topic_.slot(d);
      // acquire: pairs with the publisher's commit store, so header and payload are complete.
      const std::uint64_t word = slot.word.load(std::memory_order_acquire);
      auto& entry = group_.entry(topic_, d);
      if (word == layout::committed_word(d)) {
        std::uint64_t current = entry.word.load(std::memory_order_relaxed);
        if (!layout::delivery_is_older(current, d)) {
          // Another member took d, or we were preempted so long that d is long gone (its entry
          // belongs to a later lap): either way d is not ours to take.
          d = advance_dispatch(d);
          continue;
        }
        const std::uint32_t bucket = group_.key_ordered() ? key_bucket(slot.key_hash) : kNoBucket;
        if (!take_bucket(bucket)) return false;  // its key belongs to another member
        // A message of this key may have been requeued since poll() found nothing waiting; it
        // goes first. relaxed: take_bucket's acquire made the requeuer's count visible.
        if (bucket != kNoBucket && group_.record->ready.load(std::memory_order_relaxed) != 0) {
          if (release_bucket(group_, bucket, member_)) wake_waiters();
          return false;
        }
        const std::uint64_t claimed =
            layout::delivery_word(d, layout::DeliveryState::in_flight, member_, 1);
        // relaxed: the slot's contents were ordered by the acquire above; the entry only decides
        // who delivers.
        if (!entry.word.compare_exchange_strong(current, claimed, std::memory_order_relaxed)) {
          if (release_bucket(group_, bucket, member_)) wake_waiters();
          continue;
        }
        // seq_cst (key-ordered): members blocked behind d may go on, and the wake_waiters below
        // pairs with their seq_cst fence before they re-poll (Dekker), as for the bucket release.
        const std::uint64_t next = advance_dispatch(
            d, group_.key_ordered() ? std::memory_order_seq_cst : std::memory_order_relaxed);
        if (group_.key_ordered()) wake_waiters();
        if (deliver(d, claimed, bucket, out)) return true;
        d = next;
        continue;
      }
      if (word == layout::slot_word(d, layout::SlotState::aborted)) {
        settle_skipped(entry, d);
        d = advance_dispatch(d);
        advance_floor();
        continue;
      }
      if (word != 0 && layout::word_sequence(word) > d) {
        d = skip_lapped(d);
        continue;
      }
      return false;  // not published yet
    }
  }

  bool take_ready(Delivery& out) noexcept {
    auto& record = *group_.record;
    const std::uint64_t end = record.dispatch.load(std::memory_order_relaxed);
    // Block topics: nothing below the ack floor is unsettled. Overwrite topics: the floor may have
    // passed a message that was in flight when it was lapped, so look at the whole ring.
    const std::uint64_t begin = topic_.policy == layout::FullPolicy::block
                                    ? group_.floor->cursor.load(std::memory_order_relaxed)
                                    : (end > topic_.slot_count ? end - topic_.slot_count : 0);
    for (std::uint64_t s = begin; s < end; ++s) {
      std::uint64_t current = 0;
      if (!waiting(s, current)) continue;
      const std::uint32_t bucket = bucket_of(s);
      if (!take_bucket(bucket)) continue;
      // An older message of the bucket may have been requeued after this scan passed it. Its
      // bucket was freed only once it waited, and now that we hold the bucket no one else takes it.
      std::uint64_t taken = s;
      for (std::uint64_t older = begin; bucket != kNoBucket && older < s; ++older) {
        std::uint64_t word = 0;
        if (waiting(older, word) && bucket_of(older) == bucket) {
          taken = older;
          current = word;
          break;
        }
      }
      auto& entry = group_.entry(topic_, taken);
      const std::uint32_t previous = layout::delivery_count(current);
      const bool dead = record.max_deliveries != 0 && previous >= record.max_deliveries;
      const std::uint32_t count =
          dead ? previous : std::min(previous + 1, layout::kMaxDeliveryCount);
      const std::uint64_t claimed =
          layout::delivery_word(taken, layout::DeliveryState::in_flight, member_, count);
      // relaxed: as in take_fresh; the requeuer's release CAS was read through `ready` (acquire).
      if (!entry.word.compare_exchange_strong(current, claimed, std::memory_order_relaxed)) {
        if (release_bucket(group_, bucket, member_)) wake_waiters();
        continue;
      }
      record.ready.fetch_sub(1, std::memory_order_relaxed);
      if (!deliver(taken, claimed, bucket, out)) continue;
      out.dead_letter = dead;
      return true;
    }
    return false;
  }

  // True if the message at `s` was requeued and waits; `word` is then its entry. One whose slot
  // was reused meanwhile (overwrite topics) is settled as lost.
  bool waiting(std::uint64_t s, std::uint64_t& word) noexcept {
    auto& entry = group_.entry(topic_, s);
    word = entry.word.load(std::memory_order_relaxed);
    if (!layout::delivery_is_for(word, s) ||
        layout::delivery_state(word) != layout::DeliveryState::ready) {
      return false;
    }
    // acquire: pairs with the publisher's commit store, as in take_fresh.
    if (topic_.slot(s).word.load(std::memory_order_acquire) != layout::committed_word(s)) {
      settle_lost_ready(entry, s, word);
      return false;
    }
    return true;
  }

  [[nodiscard]] std::uint32_t bucket_of(std::uint64_t s) const noexcept {
    return group_.key_ordered() ? key_bucket(topic_.slot(s).key_hash) : kNoBucket;
  }

  // Hands out the claimed message at `sequence`, or gives it up if it is no longer intact.
  bool deliver(std::uint64_t sequence, std::uint64_t claimed, std::uint32_t bucket,
               Delivery& out) noexcept {
    const auto& slot = topic_.slot(sequence);
    out.read.header =
        MessageHeader{sequence, slot.publish_time_ns, slot.publisher_id, slot.size, slot.flags};
    out.read.properties_size = slot.properties_size;
    out.read.key_hash = slot.key_hash;
    // acquire fence: the header fields above are read before the word is checked again.
    std::atomic_thread_fence(std::memory_order_acquire);
    const bool intact =
        slot.word.load(std::memory_order_relaxed) == layout::committed_word(sequence);
    auto& entry = group_.entry(topic_, sequence);
    if (!intact || out.read.header.size > topic_.slot_size) {
      // Overwritten under us (overwrite topics) or a corrupted header: the message is gone.
      std::uint64_t expected = claimed;
      if (entry.word.compare_exchange_strong(
              expected,
              layout::delivery_word(sequence, layout::DeliveryState::released, layout::kNoOwner,
                                    layout::delivery_count(claimed)),
              std::memory_order_relaxed)) {
        group_.record->lost.fetch_add(1, std::memory_order_relaxed);
      }
      if (release_bucket(group_, bucket, member_)) wake_waiters();
      advance_floor();
      return false;
    }
    if (out.read.properties_size > topic_.slot_size - out.read.header.size) {
      out.read.properties_size = 0;  // would overlap the payload or leave the slot: drop them
    }
    out.read.data = topic_.payload(sequence);
    out.read.slot = &slot;
    out.read.lost_before = 0;
    out.deliveries = layout::delivery_count(claimed);
    out.dead_letter = false;
    if (group_.record->ack_timeout_ns != 0) {
      entry.deadline_ns.store(wait::monotonic_ns() + group_.record->ack_timeout_ns,
                              std::memory_order_relaxed);
      // release: pairs with the daemon's acquire of `stamp`, so it reads this deadline.
      entry.stamp.store(claimed, std::memory_order_release);
    }
    held_.push_back({sequence, claimed, bucket});
    publish_in_flight();
    group_.members[member_].delivered.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  // Moves the dispatch cursor past `d` (if nobody did yet); returns where it is now. relaxed by
  // default: the cursor is a hint; delivery entries decide ownership.
  std::uint64_t advance_dispatch(std::uint64_t d,
                                 std::memory_order order = std::memory_order_relaxed) noexcept {
    std::uint64_t expected = d;
    group_.record->dispatch.compare_exchange_strong(expected, d + 1, order,
                                                    std::memory_order_relaxed);
    return std::max(expected, d + 1);
  }

  // Overwrite topics: publishers lapped the dispatch cursor; everything below the oldest slot that
  // can still hold a message is lost to the group.
  std::uint64_t skip_lapped(std::uint64_t d) noexcept {
    const std::uint64_t head = topic_.header->next_sequence.load(std::memory_order_relaxed);
    const std::uint64_t oldest = head > topic_.slot_count ? head - topic_.slot_count : 0;
    const std::uint64_t resume = std::max(d + 1, oldest);
    std::uint64_t expected = d;
    if (group_.record->dispatch.compare_exchange_strong(expected, resume,
                                                        std::memory_order_relaxed)) {
      group_.record->lost.fetch_add(resume - d, std::memory_order_relaxed);
      return resume;
    }
    return expected;
  }

  void settle_skipped(layout::DeliveryEntry& entry, std::uint64_t d) noexcept {
    std::uint64_t current = entry.word.load(std::memory_order_relaxed);
    if (!layout::delivery_is_older(current, d)) return;  // settled already, or d is long gone
    // release: pairs with advance_floor's acquire, like an ack (there is nothing to read here).
    entry.word.compare_exchange_strong(
        current, layout::delivery_word(d, layout::DeliveryState::released, layout::kNoOwner, 0),
        std::memory_order_release, std::memory_order_relaxed);
  }

  void settle_lost_ready(layout::DeliveryEntry& entry, std::uint64_t s,
                         std::uint64_t current) noexcept {
    if (entry.word.compare_exchange_strong(
            current,
            layout::delivery_word(s, layout::DeliveryState::released, layout::kNoOwner,
                                  layout::delivery_count(current)),
            std::memory_order_relaxed)) {
      group_.record->ready.fetch_sub(1, std::memory_order_relaxed);
      group_.record->lost.fetch_add(1, std::memory_order_relaxed);
      advance_floor();
    }
  }

  // Moves the ack floor over settled entries; block-mode publishers gate on it.
  void advance_floor() noexcept {
    auto& cursor = group_.floor->cursor;
    std::uint64_t f = cursor.load(std::memory_order_relaxed);
    for (;;) {
      // acquire: pairs with the settling release CAS, so the reads of slot f by the member that
      // acked it happen before our cursor store lets a publisher reuse the slot.
      const std::uint64_t current = group_.entry(topic_, f).word.load(std::memory_order_acquire);
      bool passable = layout::delivery_is_for(current, f) &&
                      layout::delivery_state(current) == layout::DeliveryState::released;
      if (!passable && topic_.policy == layout::FullPolicy::overwrite) {
        const std::uint64_t word = topic_.slot(f).word.load(std::memory_order_relaxed);
        passable = word != 0 && layout::word_sequence(word) > f;  // lapped: nothing to keep
      }
      if (!passable) return;
      // release: pairs with the publishers' acquire of cursors when they refresh their gate.
      if (cursor.compare_exchange_weak(f, f + 1, std::memory_order_release,
                                       std::memory_order_relaxed)) {
        ++f;
      }
    }
  }

  // Takes (or counts one more message in) a key bucket; false if another member holds it.
  bool take_bucket(std::uint32_t bucket) noexcept {
    if (bucket == kNoBucket) return true;
    auto& word = group_.record->buckets[bucket];
    std::uint32_t current = word.load(std::memory_order_relaxed);
    for (;;) {
      std::uint32_t next = 0;
      if (layout::bucket_free(current)) {
        next = layout::bucket_word(member_, 1);
      } else if (layout::bucket_owner(current) == member_) {
        next = layout::bucket_word(member_, layout::bucket_in_flight(current) + 1);
      } else {
        return false;
      }
      // acquire: pairs with release_bucket's release, so a bucket found free shows what its last
      // holder requeued as waiting, and counted in `ready`.
      if (word.compare_exchange_weak(current, next, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
        return true;
      }
    }
  }

  // At the prefetch limit: forget held messages the daemon took back (ack timeout). True if room.
  bool prune_held() noexcept {
    std::erase_if(held_, [&](const Held& h) {
      return group_.entry(topic_, h.sequence).word.load(std::memory_order_relaxed) != h.word;
    });
    publish_in_flight();
    return held_.size() < prefetch_;
  }

  void publish_in_flight() noexcept {
    group_.members[member_].in_flight.store(held_.size(), std::memory_order_relaxed);
  }

  void wake_waiters() noexcept {
    // seq_cst: follows our seq_cst change of what a sleeper waits for (an entry, `ready`, a
    // bucket), so it sees any sleeper whose seq_cst fence came before that change (Dekker).
    if (topic_.header->waiters.load(std::memory_order_seq_cst) != 0) {
      ring::wake_subscribers(topic_);
    }
  }

  ring::TopicView topic_{};
  GroupView group_{};
  std::uint32_t member_ = 0;
  std::uint32_t prefetch_ = 1;
  std::vector<Held> held_;
};

}  // namespace shmbus::group
