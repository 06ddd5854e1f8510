#include "control_segment.hpp"

#include "layout/naming.hpp"
#include "shmbus/error.hpp"
#include "shmbus/version.hpp"

namespace shmbus::daemon {

ControlSegment::ControlSegment(shm::Segment segment)
    : segment_(std::move(segment)),
      header_(static_cast<layout::ControlHeader*>(segment_.address())),
      topics_(layout::topic_entries(segment_.address())),
      clients_(layout::client_entries(segment_.address())),
      max_topics_(header_->max_topics),
      max_clients_(header_->max_clients) {}

ControlSegment ControlSegment::create(std::string_view bus, std::uint32_t max_topics,
                                      std::uint32_t max_clients, std::uint32_t permissions) {
  const auto geometry = layout::control_geometry(max_topics, max_clients);
  auto segment =
      shm::Segment::create(naming::control_segment_name(bus), geometry.segment_size, permissions);
  layout::format_control(segment.address(), bus,
                         {max_topics, max_clients, kVersionPacked, permissions});
  return ControlSegment(std::move(segment));
}

ControlSegment ControlSegment::open_existing(std::string_view bus) {
  auto segment = shm::Segment::open(naming::control_segment_name(bus), shm::Access::read_write);
  if (auto error = layout::validate_control(segment.address(), segment.size())) throw *error;
  return ControlSegment(std::move(segment));
}

void ControlSegment::take_over(std::int32_t pid) {
  header_->daemon_version = kVersionPacked;
  // release: clients that see the new epoch also see the header fields written before it.
  header_->epoch.fetch_add(1, std::memory_order_release);
  // release: pairs with clients' acquire load of daemon_pid when they check for a live daemon.
  header_->daemon_pid.store(pid, std::memory_order_release);
}

void ControlSegment::release() {
  // release: pairs with clients' acquire load of daemon_pid; 0 tells them the daemon left.
  header_->daemon_pid.store(0, std::memory_order_release);
}

std::uint64_t ControlSegment::epoch() const noexcept {
  return header_->epoch.load(std::memory_order_relaxed);
}

std::int32_t ControlSegment::recorded_daemon_pid(std::string_view bus) noexcept {
  try {
    auto segment = shm::Segment::open(naming::control_segment_name(bus), shm::Access::read_only);
    if (layout::validate_control(segment.address(), segment.size())) return 0;
    const auto* header = static_cast<const layout::ControlHeader*>(segment.address());
    // acquire: pairs with take_over's release store.
    return header->daemon_pid.load(std::memory_order_acquire);
  } catch (...) {
    return 0;
  }
}

}  // namespace shmbus::daemon
