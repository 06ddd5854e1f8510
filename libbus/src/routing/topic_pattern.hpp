// Wildcard topic patterns in AMQP topic-exchange syntax, over shmbus's topic names: levels
// separated by '.', where a level is a literal name level, '*' (exactly one level) or '#' (zero or
// more levels). "md.*.AAPL", "md.#", "a.#.b", "#". Topics whose first level starts with '_' are
// internal (request/reply's reply topics): only a pattern that names that first level matches them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shmbus::routing {

// True when `text` contains a wildcard ('*' or '#'), i.e. names a pattern rather than one topic.
bool is_pattern(std::string_view text) noexcept;

// Why `pattern` is not a valid pattern, or nullopt. A pattern without wildcards is valid and
// matches the one topic it names.
std::optional<std::string> check_topic_pattern(std::string_view pattern);

class TopicPattern {
 public:
  // Throws shmbus::Error(invalid_name) with check_topic_pattern's reason.
  explicit TopicPattern(std::string_view pattern);

  [[nodiscard]] bool matches(std::string_view topic) const noexcept;
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  std::string text_;
  std::vector<std::string> levels_;
};

}  // namespace shmbus::routing
