// The publisher's side of a topic ring: claim a sequence, write its slot in place, commit.
//
// Sequencing follows the LMAX Disruptor: `next_sequence` is the claim counter; a publisher takes
// sequence s with a CAS, writes slot s % N, and publishes it by storing committed_word(s) into the
// slot header. In `block` topics the claim is gated by the slowest active subscriber cursor, cached
// in gate_limit_ so that the fast path touches only the claim counter and its own slot.
//
// Crash safety: before the claim CAS the publisher announces s + 1 in its PublisherRecord::pending.
// A publisher killed at any instruction after the CAS has thus left behind which sequence it held;
// the daemon marks that slot aborted (ring::reclaim_publisher) and subscribers skip it.
#pragma once

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "layout/shm_layout.hpp"
#include "ring/topic_view.hpp"
#include "shmbus/error.hpp"
#include "wait/clock.hpp"
#include "wait/futex.hpp"

namespace shmbus::ring {

// Pauses after the n-th lost claim race in a row: 1, 2, 4, ... up to this. Two publisher processes
// streaming on one topic claimed 46 M/s together without backing off, 60 M/s with this cap and
// 69 M/s with 64, against 65 M/s for one alone (shmbus perf claim, interleaved); 16 keeps what a
// lost race costs one publish below half a microsecond (a pause is about 28 ns on that guest).
inline constexpr std::uint32_t kMaxClaimBackoff = 16;

class RingWriter {
 public:
  RingWriter() = default;
  RingWriter(const TopicView& topic, layout::PublisherRecord* record, std::uint64_t publisher_id)
      : topic_(topic), record_(record), publisher_id_(publisher_id) {}

  // Takes the next sequence. In `block` topics waits for room up to `timeout` (zero: Status::full
  // at once instead of waiting).
  Status claim(std::uint64_t& sequence, std::chrono::nanoseconds timeout) noexcept {
    auto& head = topic_.header->next_sequence;
    std::uint64_t s = head.load(std::memory_order_relaxed);
    std::uint64_t deadline = 0;
    std::uint32_t backoff = 1;
    for (;;) {
      if (topic_.policy == layout::FullPolicy::block && s >= gate_limit_) {
        refresh_gate(s);
        if (s >= gate_limit_) {
          record_->pending.store(0, std::memory_order_relaxed);
          if (timeout.count() <= 0) return Status::full;
          if (deadline == 0) deadline = wait::monotonic_ns() + timeout.count();
          if (!wait_for_room(deadline)) return Status::timeout;
          s = head.load(std::memory_order_relaxed);
          continue;
        }
      }
      record_->pending.store(s + 1, std::memory_order_relaxed);
      // seq_cst: the publisher's half of the futex handshake (Dekker), paired with a sleeper's
      // seq_cst fence after it counts itself in `waiters`: either its claim_in_flight() sees s
      // taken, or our seq_cst load of `waiters` after the commit sees the sleeper. (A locked
      // instruction either way on x86.) Also a release that pairs with the daemon's acquire of
      // next_sequence in reclaim_publisher: a daemon that sees s taken sees our announcement.
      if (head.compare_exchange_weak(s, s + 1, std::memory_order_seq_cst,
                                     std::memory_order_relaxed)) {
        sequence = s;
        return Status::ok;
      }
      // Another publisher took s. Retrying at once pulls the claim line back before the winner
      // can claim again; backing off lets it claim several in a row while it holds the line.
      for (std::uint32_t pause = 0; pause < backoff; ++pause)
        wait::cpu_relax();
      backoff = std::min(backoff * 2, kMaxClaimBackoff);
    }
  }

  // Marks slot `sequence` as being written and returns its payload memory.
  std::byte* begin_write(std::uint64_t sequence) noexcept {
    auto& slot = topic_.slot(sequence);
    slot.word.store(layout::slot_word(sequence, layout::SlotState::writing),
                    std::memory_order_relaxed);
    // release fence: a reader that sees any payload byte written after this (fence-to-fence with
    // its acquire fence before its re-check) also sees the `writing` word, so torn reads are
    // detected.
    std::atomic_thread_fence(std::memory_order_release);
    return topic_.payload(sequence);
  }

  // `properties_size` bytes of encoded properties were written at the end of the payload area
  // (payload size + properties_size <= slot size, checked by the caller).
  void commit(std::uint64_t sequence, std::uint32_t size, std::uint32_t flags,
              std::uint32_t properties_size = 0, std::uint32_t key_hash = 0) noexcept {
    auto& slot = topic_.slot(sequence);
    slot.size = size;
    slot.flags = flags;
    // The TSC clock's line never goes back, but two threads' reads around a re-anchor may differ
    // by a few ns: one publisher's stamps are kept in publish order.
    last_stamp_ = std::max(wait::stamp_ns(), last_stamp_);
    slot.publish_time_ns = last_stamp_;
    slot.publisher_id = publisher_id_;
    slot.sequence = sequence;
    slot.properties_size = properties_size;
    slot.key_hash = key_hash;
    finish(slot, layout::committed_word(sequence));
    record_->published.store(++published_, std::memory_order_relaxed);
  }

  // Gives back a claimed sequence unwritten: subscribers skip it.
  void abort(std::uint64_t sequence) noexcept {
    finish(topic_.slot(sequence), layout::slot_word(sequence, layout::SlotState::aborted));
  }

  [[nodiscard]] const TopicView& topic() const noexcept { return topic_; }

 private:
  void finish(layout::SlotHeader& slot, std::uint64_t word) noexcept {
    // release: publishes the slot; pairs with the readers' acquire load of the word. Not seq_cst:
    // the handshake with sleepers rides on the claim (see claim()), so this store does not drain
    // the store buffer while the slot's lines come back from the subscriber's core.
    slot.word.store(word, std::memory_order_release);
    // seq_cst: follows our seq_cst claim in the single total order, so it sees any sleeper whose
    // fence came before that claim (a plain load on x86).
    if (topic_.header->waiters.load(std::memory_order_seq_cst) != 0) {
      // release: a sleeper woken by the new value (futex compares it) sees our slot word.
      topic_.header->wake_word.fetch_add(1, std::memory_order_release);
      wait::futex_wake_all(topic_.header->wake_word);
    }
  }

  // gate_limit_ = the slowest active cursor + N: sequences below it may be written.
  void refresh_gate(std::uint64_t head) noexcept {
    // Only the records that were active at the last change of the subscriber set are read: a
    // scan of every record (max_subscribers lines) once per lap was the p99.9 of a ping-pong.
    // acquire: pairs with the daemon's release increment after it activates or frees a record,
    // so a new epoch comes with the record states that made it.
    const std::uint32_t epoch = topic_.header->subscription_epoch.load(std::memory_order_acquire);
    if (!gate_list_valid_ || epoch != gate_epoch_) {
      gate_count_ = 0;
      for (std::uint32_t i = 0; i < topic_.max_subscribers && i < active_.size(); ++i) {
        // acquire: pairs with the daemon's release when it activates the record.
        if (topic_.subscribers[i].state.load(std::memory_order_acquire) ==
            static_cast<std::uint32_t>(layout::EntryState::active)) {
          active_[gate_count_++] = static_cast<std::uint16_t>(i);
        }
      }
      gate_epoch_ = epoch;
      gate_list_valid_ = true;
    }
    std::uint64_t slowest = head;
    for (std::uint32_t n = 0; n < gate_count_; ++n) {
      const auto& subscriber = topic_.subscribers[active_[n]];
      // acquire: pairs with the daemon's release when it activates the record (start cursor set).
      if (subscriber.state.load(std::memory_order_acquire) !=
          static_cast<std::uint32_t>(layout::EntryState::active)) {
        continue;
      }
      // acquire: pairs with the subscriber's release store of its cursor: its reads of the slots
      // below the cursor are done before we overwrite them.
      slowest = std::min(slowest, subscriber.cursor.load(std::memory_order_acquire));
    }
    gate_limit_ = slowest + topic_.slot_count;
  }

  // Backs off while the ring is full: spin briefly, then yield, then sleep in growing steps. The
  // slow subscriber is not told that we wait (that would put a fence on every receive).
  bool wait_for_room(std::uint64_t deadline) noexcept {
    const std::uint64_t head = topic_.header->next_sequence.load(std::memory_order_relaxed);
    long sleep_ns = 1'000;
    for (int round = 0;; ++round) {
      refresh_gate(head);
      if (head < gate_limit_) return true;
      const std::uint64_t now = wait::monotonic_ns();
      if (now >= deadline) return false;
      if (round < 64) {
        wait::cpu_relax();
      } else if (round < 128) {
        sched_yield();
      } else {
        const long remaining = static_cast<long>(deadline - now);
        timespec pause{0, std::min({sleep_ns, remaining, 200'000L})};
        nanosleep(&pause, nullptr);
        sleep_ns = std::min(sleep_ns * 2, 200'000L);
      }
    }
  }

  TopicView topic_{};
  layout::PublisherRecord* record_ = nullptr;
  std::uint64_t publisher_id_ = 0;
  std::uint64_t gate_limit_ = 0;
  std::uint64_t published_ = 0;
  std::uint64_t last_stamp_ = 0;
  // The active subscriber records as of subscription epoch gate_epoch_.
  std::array<std::uint16_t, layout::kMaxSubscribersLimit> active_{};
  std::uint32_t gate_count_ = 0;
  std::uint32_t gate_epoch_ = 0;
  bool gate_list_valid_ = false;
};

}  // namespace shmbus::ring
