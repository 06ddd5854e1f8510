#include "topic_registry.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <filesystem>
#include <system_error>

#include "layout/fixed_string.hpp"
#include "layout/naming.hpp"
#include "layout/segment_format.hpp"
#include "shmbus/error.hpp"

namespace shmbus::daemon {
namespace {

using layout::copy_name;
using layout::terminated_view;

constexpr auto kActive = static_cast<std::uint32_t>(layout::EntryState::active);
constexpr auto kFree = static_cast<std::uint32_t>(layout::EntryState::free);

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

Error corrupted(std::uint32_t index, const std::string& why) {
  return {ErrorCode::corrupted_segment, fmt::format("topic entry {}: {}", index, why)};
}

}  // namespace

TopicRegistry::TopicRegistry(std::string bus, ControlSegment& control, const Config& config)
    : bus_(std::move(bus)), control_(control), config_(config) {}

void TopicRegistry::adopt() {
  for (std::uint32_t i = 0; i < control_.max_topics(); ++i) {
    const layout::TopicEntry& entry = control_.topic(i);
    if (entry.state.load(std::memory_order_relaxed) == kFree) continue;
    const std::string_view name = terminated_view(entry.name);
    if (name.empty() || naming::check_topic_name(name)) {
      throw corrupted(i, "the topic name is missing or invalid");
    }
    const std::string segment_name = naming::topic_segment_name(bus_, i, entry.generation);
    if (terminated_view(entry.segment_name) != segment_name) {
      throw corrupted(i, fmt::format("topic '{}' names segment '{}', expected '{}'", name,
                                     terminated_view(entry.segment_name), segment_name));
    }
    shm::Segment segment = [&] {
      try {
        return shm::Segment::open(segment_name, shm::Access::read_write);
      } catch (const Error& e) {
        throw corrupted(i, fmt::format("topic '{}': {}", name, e.what()));
      }
    }();
    if (auto error = layout::validate_topic(segment.address(), segment.size())) {
      throw corrupted(i, fmt::format("topic '{}': {}", name, error->what()));
    }
    const auto* header = static_cast<const layout::TopicHeader*>(segment.address());
    if (header->topic_id != i || header->generation != entry.generation ||
        terminated_view(header->name) != name) {
      throw corrupted(i, fmt::format("segment '{}' belongs to another topic", segment_name));
    }
    auto topic = std::make_unique<Topic>(std::move(segment));
    topic->id = i;
    topic->generation = entry.generation;
    topic->name = std::string(name);
    topic->config = config_.find_topic(name);
    topic->owner_client_id = entry.owner_client_id;
    if (by_name_.count(topic->name) != 0) throw corrupted(i, "the topic name appears twice");
    spdlog::info("adopted topic '{}' (id {}, generation {}, next sequence {})", topic->name, i,
                 topic->generation,
                 topic->view.header->next_sequence.load(std::memory_order_relaxed));
    by_name_.emplace(topic->name, topic.get());
    topics_.push_back(std::move(topic));
  }
}

void TopicRegistry::create_configured() {
  for (const TopicConfig& declared : config_.topics) {
    if (Topic* existing = find(declared.name)) {
      const auto& h = *existing->view.header;
      if (h.slot_size != declared.shape.slot_size || h.slot_count != declared.shape.slot_count ||
          h.policy != static_cast<std::uint32_t>(declared.shape.policy)) {
        spdlog::warn(
            "topic '{}' exists with {} slots of {} bytes ({}); the config asks for {} of {} "
            "bytes ({}): keeping the existing topic",
            declared.name, h.slot_count, h.slot_size,
            policy_name(static_cast<layout::FullPolicy>(h.policy)), declared.shape.slot_count,
            declared.shape.slot_size, policy_name(declared.shape.policy));
      }
      existing->config = &declared;
      continue;
    }
    create(declared.name, declared.shape, &declared);
  }
}

Topic& TopicRegistry::open(const protocol::OpenTopic& request, std::uint64_t client_id) {
  const std::string_view name = protocol::view_string(request.name);
  if (auto why = naming::check_topic_name(name)) throw Error(ErrorCode::invalid_name, *why);
  const bool policy_given = request.policy != protocol::kPolicyUnspecified;
  if (policy_given && request.policy != static_cast<std::uint32_t>(layout::FullPolicy::block) &&
      request.policy != static_cast<std::uint32_t>(layout::FullPolicy::overwrite)) {
    throw Error(
        ErrorCode::invalid_argument,
        fmt::format("full policy {} is neither block (0) nor overwrite (1)", request.policy));
  }
  if (Topic* topic = find(name)) {
    const auto& h = *topic->view.header;
    if (request.slot_size != 0 && request.slot_size != h.slot_size) {
      throw Error(ErrorCode::topic_mismatch,
                  fmt::format("topic '{}' exists with slot size {}; the request asks for {}", name,
                              h.slot_size, request.slot_size));
    }
    if (request.slot_count != 0 && request.slot_count != h.slot_count) {
      throw Error(ErrorCode::topic_mismatch,
                  fmt::format("topic '{}' exists with slot count {}; the request asks for {}", name,
                              h.slot_count, request.slot_count));
    }
    if (policy_given && request.policy != h.policy) {
      throw Error(ErrorCode::topic_mismatch,
                  fmt::format("topic '{}' exists with policy {}; the request asks for {}", name,
                              policy_name(static_cast<layout::FullPolicy>(h.policy)),
                              policy_name(static_cast<layout::FullPolicy>(request.policy))));
    }
    return *topic;
  }
  if ((request.flags & static_cast<std::uint32_t>(protocol::OpenFlags::must_exist)) != 0) {
    throw Error(ErrorCode::not_found, fmt::format("topic '{}' does not exist", name));
  }
  TopicShape shape = config_.defaults;
  if (request.slot_size != 0) shape.slot_size = request.slot_size;
  if (request.slot_count != 0) shape.slot_count = request.slot_count;
  if (policy_given) shape.policy = static_cast<layout::FullPolicy>(request.policy);
  const bool temporary =
      (request.flags & static_cast<std::uint32_t>(protocol::OpenFlags::temporary)) != 0;
  return create(name, shape, nullptr, temporary ? client_id : 0);
}

Topic& TopicRegistry::create(std::string_view name, const TopicShape& shape,
                             const TopicConfig* config, std::uint64_t owner_client_id) {
  std::uint32_t index = control_.max_topics();
  for (std::uint32_t i = 0; i < control_.max_topics(); ++i) {
    if (control_.topic(i).state.load(std::memory_order_relaxed) == kFree) {
      index = i;
      break;
    }
  }
  if (index == control_.max_topics()) {
    throw Error(ErrorCode::limit_reached,
                fmt::format("cannot create topic '{}': the bus holds {} topics, its limit", name,
                            control_.max_topics()));
  }
  const std::uint32_t generation = control_.topic(index).generation + 1;
  const layout::TopicParams params{index,
                                   generation,
                                   shape.slot_size,
                                   shape.slot_count,
                                   shape.policy,
                                   shape.max_publishers,
                                   shape.max_subscribers,
                                   shape.max_groups,
                                   shape.max_group_members};
  if (auto error = layout::check_topic_params(params)) {
    throw Error(ErrorCode::invalid_argument,
                fmt::format("cannot create topic '{}': {}", name, error->what()));
  }
  const auto geometry = layout::topic_geometry(shape.slot_size, shape.slot_count, params.tables());
  const std::string segment_name = naming::topic_segment_name(bus_, index, generation);
  // The directory does not name this segment, so whatever holds the name is a leftover.
  if (shm::Segment::remove(segment_name)) {
    spdlog::warn("removed stale shared-memory segment '{}'", segment_name);
  }
  const std::uint32_t permissions = control_.header().permissions;
  auto segment = shm::Segment::create(segment_name, geometry.segment_size, permissions);
  layout::format_topic(segment.address(), name, params);
  auto topic = std::make_unique<Topic>(std::move(segment));
  topic->id = index;
  topic->generation = generation;
  topic->name = std::string(name);
  topic->config = config;
  topic->owner_client_id = owner_client_id;
  control_.write_topic(index, [&](layout::TopicEntry& entry) {
    entry.topic_id = index;
    entry.generation = generation;
    entry.slot_size = shape.slot_size;
    entry.slot_count = shape.slot_count;
    entry.policy = static_cast<std::uint32_t>(shape.policy);
    entry.max_publishers = shape.max_publishers;
    entry.max_subscribers = shape.max_subscribers;
    entry.segment_size = geometry.segment_size;
    entry.owner_client_id = owner_client_id;
    copy_name(entry.name, name);
    copy_name(entry.segment_name, segment_name);
    entry.state.store(kActive, std::memory_order_relaxed);
  });
  spdlog::info("created {}topic '{}' (id {}, {} slots of {} bytes, {}, segment {})",
               owner_client_id != 0 ? "temporary " : "", name, index, shape.slot_count,
               shape.slot_size, policy_name(shape.policy), segment_name);
  Topic& result = *topic;
  by_name_.emplace(result.name, &result);
  topics_.push_back(std::move(topic));
  return result;
}

void TopicRegistry::remove(Topic& topic) {
  const std::uint32_t index = topic.id;
  // The generation stays, so the next topic at this index gets a new one and stale (id,
  // generation) pairs held by clients never name it.
  control_.write_topic(index, [](layout::TopicEntry& entry) {
    entry.owner_client_id = 0;
    entry.state.store(kFree, std::memory_order_relaxed);
  });
  shm::Segment::remove(topic.segment.name());
  spdlog::info("deleted topic '{}' (id {}, generation {})", topic.name, index, topic.generation);
  by_name_.erase(topic.name);
  std::erase_if(topics_, [&](const std::unique_ptr<Topic>& t) { return t.get() == &topic; });
}

std::size_t TopicRegistry::remove_owned_by(std::uint64_t client_id) {
  if (client_id == 0) return 0;  // 0 marks lasting topics, which no client owns
  std::vector<Topic*> owned;
  for (const auto& topic : topics_) {
    if (topic->owner_client_id == client_id) owned.push_back(topic.get());
  }
  for (Topic* topic : owned)
    remove(*topic);
  return owned.size();
}

Topic* TopicRegistry::find(std::uint32_t id, std::uint32_t generation) noexcept {
  for (const auto& topic : topics_) {
    if (topic->id == id && topic->generation == generation) return topic.get();
  }
  return nullptr;
}

Topic* TopicRegistry::find(std::string_view name) noexcept {
  const auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : it->second;
}

void TopicRegistry::remove_segments() noexcept {
  for (const auto& topic : topics_)
    shm::Segment::remove(topic->segment.name());
  remove_stale_segments(bus_);
}

std::size_t TopicRegistry::remove_stale_segments(std::string_view bus) noexcept {
  // "/shmbus.<bus>.t<id>.<gen>" lives in /dev/shm as "shmbus.<bus>.t<id>.<gen>"; bus names
  // contain no '.', so the prefix cannot match another bus.
  const std::string prefix = naming::segment_prefix(bus).substr(1) + "t";
  std::size_t removed = 0;
  std::error_code ec;
  for (const auto& file : std::filesystem::directory_iterator("/dev/shm", ec)) {
    const std::string name = file.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string_view rest = std::string_view(name).substr(prefix.size());
    const auto dot = rest.find('.');
    if (dot == std::string_view::npos || !all_digits(rest.substr(0, dot)) ||
        !all_digits(rest.substr(dot + 1))) {
      continue;
    }
    if (shm::Segment::remove("/" + name)) ++removed;
  }
  return removed;
}

}  // namespace shmbus::daemon
