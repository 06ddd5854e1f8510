// The correlation id as it travels in a message property: 16 lowercase hex digits, so that every
// id encodes to the same length and rewriting it in a reused Properties never reallocates.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace shmbus::rpc {

inline constexpr std::size_t kCorrelationIdDigits = 16;

class EncodedCorrelationId {
 public:
  explicit EncodedCorrelationId(std::uint64_t id) noexcept {
    constexpr std::string_view kDigits = "0123456789abcdef";
    for (std::size_t i = kCorrelationIdDigits; i-- > 0; id >>= 4U)
      text_[i] = kDigits[id & 0xfU];
  }
  [[nodiscard]] std::string_view view() const noexcept { return {text_.data(), text_.size()}; }

 private:
  std::array<char, kCorrelationIdDigits> text_{};
};

inline std::optional<std::uint64_t> parse_correlation_id(std::string_view text) noexcept {
  if (text.size() != kCorrelationIdDigits) return std::nullopt;
  std::uint64_t id = 0;
  for (const char c : text) {
    std::uint64_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<std::uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<std::uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    id = (id << 4U) | digit;
  }
  return id;
}

}  // namespace shmbus::rpc
