// The bus's topics: their segments (created on first use or from the config, or re-opened after a
// daemon restart) and their directory entries.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config.hpp"
#include "control_segment.hpp"
#include "protocol/control_protocol.hpp"
#include "ring/topic_view.hpp"
#include "shm/segment.hpp"

namespace shmbus::daemon {

struct Topic {
  // `mapped` must have passed layout::validate_topic (or been formatted by this daemon).
  explicit Topic(shm::Segment mapped)
      : segment(std::move(mapped)), view(ring::TopicView::of(segment.address())) {}

  std::uint32_t id = 0;
  std::uint32_t generation = 0;
  std::string name;
  shm::Segment segment;
  ring::TopicView view;
  const TopicConfig* config = nullptr;  // nullptr: not declared, so open to everyone
  std::uint64_t owner_client_id = 0;    // a temporary topic's creator; 0: a lasting topic

  [[nodiscard]] std::uint64_t segment_size() const noexcept { return view.header->segment_size; }
};

class TopicRegistry {
 public:
  TopicRegistry(std::string bus, ControlSegment& control, const Config& config);

  // Re-opens the segment of every active topic entry of an adopted control segment. Throws
  // corrupted_segment (naming the topic) if one is missing or fails validation.
  void adopt();
  // Creates the topics the config declares that do not exist yet.
  void create_configured();

  // The topic client `client_id` asked for, created if absent (as a temporary topic of that
  // client with OpenFlags::temporary). Throws invalid_name, invalid_argument, topic_mismatch,
  // not_found (OpenFlags::must_exist) or limit_reached.
  Topic& open(const protocol::OpenTopic& request, std::uint64_t client_id);

  // Deletes a topic: frees its directory entry and unlinks its segment. Processes that map it
  // keep a valid mapping; the daemon refuses further records on it (not_found).
  void remove(Topic& topic);
  // Deletes the temporary topics client `client_id` created; returns how many.
  std::size_t remove_owned_by(std::uint64_t client_id);

  [[nodiscard]] Topic* find(std::uint32_t id, std::uint32_t generation) noexcept;
  [[nodiscard]] Topic* find(std::string_view name) noexcept;
  [[nodiscard]] const std::vector<std::unique_ptr<Topic>>& topics() const noexcept {
    return topics_;
  }

  // Unlinks every topic segment of the bus (known or stale); mappings stay valid.
  void remove_segments() noexcept;
  // Unlinks "/shmbus.<bus>.t<id>.<gen>" names found in /dev/shm; returns how many.
  static std::size_t remove_stale_segments(std::string_view bus) noexcept;

 private:
  Topic& create(std::string_view name, const TopicShape& shape, const TopicConfig* config,
                std::uint64_t owner_client_id = 0);

  std::string bus_;
  ControlSegment& control_;
  const Config& config_;
  std::vector<std::unique_ptr<Topic>> topics_;
  std::unordered_map<std::string, Topic*> by_name_;
};

}  // namespace shmbus::daemon
