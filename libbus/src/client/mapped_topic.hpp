// One topic segment mapped into this process, shared by its publishers and subscribers here.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/control_protocol.hpp"
#include "ring/topic_view.hpp"
#include "shm/segment.hpp"
#include "shmbus/topic_options.hpp"

namespace shmbus::detail {

class MappedTopic {
 public:
  // Maps and validates the segment the daemon named in `reply`. Throws Error (corrupted_segment,
  // version_mismatch, not_found, permission_denied) if it cannot be used.
  MappedTopic(std::string name, const protocol::TopicReply& reply);

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const ring::TopicView& view() const noexcept { return view_; }
  [[nodiscard]] std::uint32_t topic_id() const noexcept { return topic_id_; }
  [[nodiscard]] std::uint32_t generation() const noexcept { return generation_; }
  [[nodiscard]] TopicInfo info() const noexcept;

 private:
  std::string name_;
  std::uint32_t topic_id_;
  std::uint32_t generation_;
  shm::Segment segment_;
  ring::TopicView view_;
};

}  // namespace shmbus::detail
