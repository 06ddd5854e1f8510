#include "layout/naming.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include "layout/shm_layout.hpp"

namespace shmbus::naming {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

std::optional<std::string> check_topic_name(std::string_view name) {
  if (name.empty()) return "topic name is empty";
  if (name.size() > layout::kMaxTopicNameLength) {
    return fmt::format("topic name is {} bytes long; the limit is {}", name.size(),
                       layout::kMaxTopicNameLength);
  }
  std::size_t level_length = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '.') {
      if (level_length == 0) {
        return fmt::format("topic name '{}' has an empty level at byte {}", name, i);
      }
      level_length = 0;
      continue;
    }
    if (c == '*' || c == '#') {
      return fmt::format("topic name '{}' contains '{}', which is reserved for wildcard patterns",
                         name, c);
    }
    if (!is_name_char(c)) {
      return fmt::format(
          "topic name '{}' contains byte 0x{:02x} at {}; use letters, digits, '_', '-' and '.'",
          name, static_cast<unsigned char>(c), i);
    }
    ++level_length;
  }
  if (level_length == 0) return fmt::format("topic name '{}' ends with an empty level", name);
  return std::nullopt;
}

std::optional<std::string> check_bus_name(std::string_view name) {
  if (name.empty()) return "bus name is empty";
  if (name.size() > layout::kMaxBusNameLength) {
    return fmt::format("bus name is {} bytes long; the limit is {}", name.size(),
                       layout::kMaxBusNameLength);
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!is_name_char(name[i])) {
      return fmt::format(
          "bus name '{}' contains byte 0x{:02x} at {}; use letters, digits, '_', '-'", name,
          static_cast<unsigned char>(name[i]), i);
    }
  }
  return std::nullopt;
}

std::optional<std::string> check_group_name(std::string_view name) {
  if (name.empty()) return "group name is empty";
  if (name.size() > layout::kMaxGroupNameLength) {
    return fmt::format("group name is {} bytes long; the limit is {}", name.size(),
                       layout::kMaxGroupNameLength);
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!is_name_char(name[i]) && name[i] != '.') {
      return fmt::format(
          "group name '{}' contains byte 0x{:02x} at {}; use letters, digits, '_', '-' and '.'",
          name, static_cast<unsigned char>(name[i]), i);
    }
  }
  return std::nullopt;
}

std::string default_bus() {
  const char* env = std::getenv("SHMBUS_BUS");  // NOLINT(concurrency-mt-unsafe): read-only use
  return (env != nullptr && *env != '\0') ? std::string(env) : std::string("default");
}

std::string segment_prefix(std::string_view bus) {
  return fmt::format("/shmbus.{}.", bus);
}

std::string control_segment_name(std::string_view bus) {
  return fmt::format("/shmbus.{}.ctl", bus);
}

std::string topic_segment_name(std::string_view bus, std::uint32_t topic_id,
                               std::uint32_t generation) {
  return fmt::format("/shmbus.{}.t{}.{}", bus, topic_id, generation);
}

}  // namespace shmbus::naming
