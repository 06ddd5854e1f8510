#include "client/mapped_topic.hpp"

#include <fmt/format.h>

#include "layout/segment_format.hpp"

namespace shmbus::detail {

MappedTopic::MappedTopic(std::string name, const protocol::TopicReply& reply)
    : name_(std::move(name)),
      topic_id_(reply.topic_id),
      generation_(reply.generation),
      segment_(shm::Segment::open(std::string(protocol::view_string(reply.segment_name)),
                                  shm::Access::read_write)) {
  if (auto error = layout::validate_topic(segment_.address(), segment_.size())) throw *error;
  const auto* header = static_cast<const layout::TopicHeader*>(segment_.address());
  if (header->topic_id != reply.topic_id || header->generation != reply.generation ||
      protocol::view_string(header->name) != name_) {
    throw Error(ErrorCode::corrupted_segment,
                fmt::format("segment '{}' does not hold topic '{}' (id {}, generation {})",
                            segment_.name(), name_, reply.topic_id, reply.generation));
  }
  view_ = ring::TopicView::of(segment_.address());
}

TopicInfo MappedTopic::info() const noexcept {
  return {
      view_.slot_size, view_.slot_count,
      view_.policy == layout::FullPolicy::overwrite ? FullPolicy::overwrite : FullPolicy::block};
}

}  // namespace shmbus::detail
