// Whether a consumer about to sleep waits on a sequence that a publisher has claimed but not yet
// finished (committed or aborted).
//
// The futex handshake pairs a sleeper with a publisher's claim, not with its commit (see
// RingWriter::claim): a publisher whose claim came after the sleeper's seq_cst fence sees the
// sleeper in `waiters` and wakes it; one whose claim came before may not, but then the sleeper sees
// that claim here, and must not sleep long on it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "layout/shm_layout.hpp"
#include "ring/topic_view.hpp"

namespace shmbus::ring {

// True if a sequence in [from, next_sequence) is claimed and not finished. Call it after a seq_cst
// fence (the sleeper's, after it counted itself in `waiters`).
inline bool claim_in_flight(const TopicView& topic, std::uint64_t from) noexcept {
  // relaxed: the caller's seq_cst fence precedes this load, so it sees every claim (a seq_cst CAS)
  // that precedes the fence in the single total order.
  const std::uint64_t head = topic.header->next_sequence.load(std::memory_order_relaxed);
  const std::uint64_t oldest = head > topic.slot_count ? head - topic.slot_count : 0;
  for (std::uint64_t s = std::max(from, oldest); s < head; ++s) {
    // relaxed: only decides how long to sleep; the poll that follows reads the slot with acquire.
    const std::uint64_t word = topic.slot(s).word.load(std::memory_order_relaxed);
    if (word == 0 || layout::word_sequence(word) < s) return true;  // not begun on this lap
    if (layout::word_sequence(word) == s &&
        layout::word_state(word) == layout::SlotState::writing) {
      return true;
    }
  }
  return false;
}

}  // namespace shmbus::ring
