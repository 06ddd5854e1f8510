#include "routing/topic_pattern.hpp"

#include <fmt/format.h>

#include "layout/naming.hpp"
#include "layout/shm_layout.hpp"
#include "shmbus/error.hpp"

namespace shmbus::routing {
namespace {

std::vector<std::string_view> split_levels(std::string_view text) {
  std::vector<std::string_view> levels;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = text.find('.', start);
    levels.push_back(text.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) return levels;
    start = dot + 1;
  }
}

}  // namespace

bool is_pattern(std::string_view text) noexcept {
  return text.find_first_of("*#") != std::string_view::npos;
}

std::optional<std::string> check_topic_pattern(std::string_view pattern) {
  if (pattern.empty()) return "topic pattern is empty";
  if (pattern.size() > layout::kMaxTopicNameLength) {
    return fmt::format("topic pattern is {} bytes long; the limit is {}", pattern.size(),
                       layout::kMaxTopicNameLength);
  }
  std::size_t index = 0;
  for (const std::string_view level : split_levels(pattern)) {
    ++index;
    if (level.empty()) {
      return fmt::format("topic pattern '{}' has an empty level (level {})", pattern, index);
    }
    if (level == "*" || level == "#") continue;
    if (is_pattern(level)) {
      return fmt::format(
          "topic pattern '{}': level '{}' mixes a wildcard with other characters; '*' and '#' "
          "must stand alone between dots ('md.*.x', 'md.#')",
          pattern, level);
    }
    // A literal level follows the topic naming rules (checked as a one-level name).
    if (auto why = naming::check_topic_name(level)) {
      return fmt::format("topic pattern '{}': {}", pattern, *why);
    }
  }
  return std::nullopt;
}

TopicPattern::TopicPattern(std::string_view pattern) : text_(pattern) {
  if (auto why = check_topic_pattern(pattern)) throw Error(ErrorCode::invalid_name, *why);
  for (const std::string_view level : split_levels(pattern))
    levels_.emplace_back(level);
}

// Glob matching over levels, '#' as the multi-level star and '*' as the single-level one: on a
// mismatch, the last '#' takes one more level and matching resumes after it. Linear in practice,
// no allocation.
bool TopicPattern::matches(std::string_view topic) const noexcept {
  if (topic.empty()) return false;
  // Internal topics ("_reply.…") start with '_'; as MQTT's "$SYS", a wildcard never matches that
  // first level, so "#" does not drag every requester's reply topic into a subscription.
  if (topic.front() == '_' && (levels_.front() == "#" || levels_.front() == "*")) return false;
  std::size_t p = 0;              // pattern level
  std::size_t t = 0;              // byte offset of the current topic level
  std::size_t star_p = SIZE_MAX;  // pattern level after the last '#'
  std::size_t star_t = 0;         // topic offset that '#' resumes from
  const auto level_end = [&](std::size_t offset) {
    const std::size_t dot = topic.find('.', offset);
    return dot == std::string_view::npos ? topic.size() : dot;
  };
  const auto next_level = [&](std::size_t offset) {
    const std::size_t end = level_end(offset);
    return end == topic.size() ? topic.size() + 1 : end + 1;  // size + 1: past the last level
  };
  while (t <= topic.size()) {
    if (p < levels_.size() && levels_[p] == "#") {
      star_p = ++p;
      star_t = t;
      continue;
    }
    if (p < levels_.size() &&
        (levels_[p] == "*" || levels_[p] == topic.substr(t, level_end(t) - t))) {
      ++p;
      t = next_level(t);
      continue;
    }
    if (star_p == SIZE_MAX) return false;
    p = star_p;
    t = star_t = next_level(star_t);
  }
  while (p < levels_.size() && levels_[p] == "#")
    ++p;
  return p == levels_.size();
}

}  // namespace shmbus::routing
