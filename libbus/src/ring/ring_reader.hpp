// The subscriber's side of a topic ring: read slot `next` when its word says committed(next).
//
// The subscriber's cursor in shared memory is the first sequence it still needs: while it hands out
// message c (valid until the next receive) the cursor stays at c, so block-mode publishers cannot
// reuse that slot; the next receive moves it on. A slot whose word belongs to a later lap means the
// subscriber was overwritten (overwrite topics, or history taken at join time): it counts the
// sequences it skipped as lost and resumes at the oldest slot that can still be valid.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "layout/shm_layout.hpp"
#include "ring/claim_in_flight.hpp"
#include "ring/topic_view.hpp"
#include "shmbus/message.hpp"

namespace shmbus::ring {

struct ReadResult {
  MessageHeader header;
  const std::byte* data = nullptr;
  const layout::SlotHeader* slot = nullptr;
  std::uint64_t lost_before = 0;
  // Checked against the slot size: 0 when the slot header's value did not fit.
  std::uint32_t properties_size = 0;
  std::uint32_t key_hash = 0;
};

class RingReader {
 public:
  RingReader() = default;
  RingReader(const TopicView& topic, layout::SubscriberRecord* record, std::uint64_t start)
      : topic_(topic), record_(record), next_(start), published_cursor_(start) {}

  // The next message, or false when there is none yet.
  bool poll(ReadResult& out) noexcept {
    std::uint64_t c = next_.load(std::memory_order_relaxed);
    for (;;) {
      const auto& slot = topic_.slot(c);
      // acquire: pairs with the publisher's commit store, so header and payload are complete.
      const std::uint64_t word = slot.word.load(std::memory_order_acquire);
      if (word == layout::committed_word(c)) {
        out.header =
            MessageHeader{c, slot.publish_time_ns, slot.publisher_id, slot.size, slot.flags};
        out.properties_size = slot.properties_size;
        out.key_hash = slot.key_hash;
        // acquire fence: the header fields above are read before the word is checked again.
        std::atomic_thread_fence(std::memory_order_acquire);
        if (slot.word.load(std::memory_order_relaxed) != word) continue;  // overwritten meanwhile
        if (out.header.size > topic_.slot_size) {
          ++corrupt_;  // a hostile or corrupted slot header: never read past the slot
          ++c;
          continue;
        }
        if (out.properties_size > topic_.slot_size - out.header.size) {
          ++corrupt_;  // properties that would overlap the payload or leave the slot: drop them
          out.properties_size = 0;
          out.key_hash = 0;
        }
        out.data = topic_.payload(c);
        out.slot = &slot;
        out.lost_before = pending_lost_;
        pending_lost_ = 0;
        hold(c);
        next_.store(c + 1, std::memory_order_relaxed);
        return true;
      }
      if (word == layout::slot_word(c, layout::SlotState::aborted)) {
        ++c;
        continue;
      }
      if (word != 0 && layout::word_sequence(word) > c) {
        c = skip_lapped(c);
        continue;
      }
      // Not published yet: release the message handed out last, remember where we wait.
      hold(c);
      next_.store(c, std::memory_order_relaxed);
      return false;
    }
  }

  // True when poll() would return a message (or skip an aborted/lapped slot) now. Safe to call from
  // another thread than the one polling.
  [[nodiscard]] bool ready() const noexcept {
    const std::uint64_t c = next_.load(std::memory_order_relaxed);
    // acquire: pairs with the publisher's commit store (see poll).
    const std::uint64_t word = topic_.slot(c).word.load(std::memory_order_acquire);
    if (word == 0) return false;
    if (word == layout::committed_word(c)) return true;
    if (word == layout::slot_word(c, layout::SlotState::aborted)) return true;
    return layout::word_sequence(word) > c;
  }

  // Whether the next message is claimed but not yet committed (see ring::claim_in_flight). Call
  // after a seq_cst fence.
  [[nodiscard]] bool claim_in_flight() const noexcept {
    return ring::claim_in_flight(topic_, next_.load(std::memory_order_relaxed));
  }

  [[nodiscard]] std::uint64_t next() const noexcept {
    return next_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t lost() const noexcept { return lost_total_; }
  [[nodiscard]] std::uint64_t corrupt() const noexcept { return corrupt_; }
  [[nodiscard]] const TopicView& topic() const noexcept { return topic_; }

 private:
  void hold(std::uint64_t sequence) noexcept {
    if (sequence == published_cursor_) return;
    published_cursor_ = sequence;
    // release: our reads of every slot below `sequence` are done before a publisher that reads
    // this cursor (acquire, in its gate refresh) reuses them.
    record_->cursor.store(sequence, std::memory_order_release);
  }

  std::uint64_t skip_lapped(std::uint64_t c) noexcept {
    const std::uint64_t head = topic_.header->next_sequence.load(std::memory_order_relaxed);
    const std::uint64_t oldest = head > topic_.slot_count ? head - topic_.slot_count : 0;
    const std::uint64_t resume = std::max(c + 1, oldest);
    pending_lost_ += resume - c;
    lost_total_ += resume - c;
    record_->lost.store(lost_total_, std::memory_order_relaxed);
    return resume;
  }

  TopicView topic_{};
  layout::SubscriberRecord* record_ = nullptr;
  std::atomic<std::uint64_t> next_{0};  // atomic only so that ready() may run on another thread
  std::uint64_t published_cursor_ = 0;
  std::uint64_t pending_lost_ = 0;
  std::uint64_t lost_total_ = 0;
  std::uint64_t corrupt_ = 0;
};

}  // namespace shmbus::ring
