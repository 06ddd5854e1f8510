// The bus's control segment as the daemon sees it: creating or adopting it, and the seqlocked
// writes of its directory entries (the daemon is the only writer).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "layout/segment_format.hpp"
#include "layout/shm_layout.hpp"
#include "shm/segment.hpp"

namespace shmbus::daemon {

class ControlSegment {
 public:
  // A fresh, formatted segment; fails if the name exists.
  static ControlSegment create(std::string_view bus, std::uint32_t max_topics,
                               std::uint32_t max_clients, std::uint32_t permissions);
  // Maps and validates an existing segment (left by a daemon that died). Throws the validation
  // error (corrupted_segment, version_mismatch) or not_found.
  static ControlSegment open_existing(std::string_view bus);

  // Marks this process as the bus's daemon, one epoch after the previous one.
  void take_over(std::int32_t pid);
  // Says no daemon serves the bus any more (clients that still map the segment can see it).
  void release();

  [[nodiscard]] layout::ControlHeader& header() const noexcept { return *header_; }
  [[nodiscard]] std::uint32_t max_topics() const noexcept { return max_topics_; }
  [[nodiscard]] std::uint32_t max_clients() const noexcept { return max_clients_; }
  [[nodiscard]] layout::TopicEntry& topic(std::uint32_t index) const noexcept {
    return topics_[index];
  }
  [[nodiscard]] layout::ClientEntry& client(std::uint32_t index) const noexcept {
    return clients_[index];
  }
  [[nodiscard]] const std::string& name() const noexcept { return segment_.name(); }
  [[nodiscard]] std::uint64_t epoch() const noexcept;

  // Rewrites one entry under its seqlock; `write` gets the entry to fill in.
  template <typename Write>
  void write_topic(std::uint32_t index, Write&& write) {
    auto& entry = topics_[index];
    layout::begin_entry_write(entry.version);
    write(entry);
    layout::end_entry_write(entry.version);
    // release: readers that see the new generation find the entry already rewritten.
    header_->directory_generation.fetch_add(1, std::memory_order_release);
  }
  template <typename Write>
  void write_client(std::uint32_t index, Write&& write) {
    auto& entry = clients_[index];
    layout::begin_entry_write(entry.version);
    write(entry);
    layout::end_entry_write(entry.version);
  }

  // The pid of the daemon recorded in the bus's control segment, or 0 if it cannot be read.
  static std::int32_t recorded_daemon_pid(std::string_view bus) noexcept;

 private:
  explicit ControlSegment(shm::Segment segment);

  shm::Segment segment_;
  layout::ControlHeader* header_;
  layout::TopicEntry* topics_;
  layout::ClientEntry* clients_;
  std::uint32_t max_topics_;
  std::uint32_t max_clients_;
};

}  // namespace shmbus::daemon
