// A topic segment formatted in private (heap) memory: the ring without a daemon, for unit tests
// and micro benchmarks.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>

#include "layout/segment_format.hpp"
#include "ring/records.hpp"
#include "ring/ring_reader.hpp"
#include "ring/ring_writer.hpp"

namespace shmbus::testing {

class TestTopic {
 public:
  TestTopic(std::uint32_t slot_size, std::uint32_t slot_count, layout::FullPolicy policy,
            std::uint32_t max_publishers = 8, std::uint32_t max_subscribers = 8,
            std::uint32_t max_groups = 2, std::uint32_t max_group_members = 8) {
    const layout::TopicParams params{1,
                                     1,
                                     slot_size,
                                     slot_count,
                                     policy,
                                     max_publishers,
                                     max_subscribers,
                                     max_groups,
                                     max_group_members};
    const auto geometry = layout::topic_geometry(slot_size, slot_count, params.tables());
    size_ = geometry.segment_size;
    memory_.reset(static_cast<std::byte*>(std::aligned_alloc(4096, size_)));
    std::memset(memory_.get(), 0, size_);
    layout::format_topic(memory_.get(), "test.topic", params);
    view_ = ring::TopicView::of(memory_.get());
  }

  [[nodiscard]] const ring::TopicView& view() const { return view_; }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] void* base() const { return memory_.get(); }

  ring::RingWriter writer(std::uint64_t publisher_id = 7) {
    const auto index = ring::allocate_publisher(view_, 1, publisher_id);
    return {view_, &view_.publishers[*index], publisher_id};
  }
  std::uint32_t add_publisher_index(std::uint64_t publisher_id = 7) {
    return *ring::allocate_publisher(view_, 1, publisher_id);
  }
  std::unique_ptr<ring::RingReader> reader(protocol::StartFrom start = protocol::StartFrom::latest,
                                           std::uint64_t last_n = 0) {
    const std::uint64_t first = ring::start_sequence(view_, start, last_n);
    const auto index = ring::allocate_subscriber(view_, 1, first);
    return std::make_unique<ring::RingReader>(view_, &view_.subscribers[*index], first);
  }

 private:
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> memory_;
  std::size_t size_ = 0;
  ring::TopicView view_{};
};

inline shmbus::Status publish_value(ring::RingWriter& writer, std::uint64_t value,
                                    std::chrono::nanoseconds timeout = {}) {
  std::uint64_t sequence = 0;
  const auto status = writer.claim(sequence, timeout);
  if (status != shmbus::Status::ok) return status;
  std::memcpy(writer.begin_write(sequence), &value, sizeof(value));
  writer.commit(sequence, sizeof(value), 0);
  return status;
}

inline std::uint64_t payload_value(const ring::ReadResult& result) {
  std::uint64_t value = 0;
  std::memcpy(&value, result.data, sizeof(value));
  return value;
}

}  // namespace shmbus::testing
