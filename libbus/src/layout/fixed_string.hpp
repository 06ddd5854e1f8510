// Strings in fixed char arrays of shared-memory entries: always NUL-terminated when written, and
// never read past the array when the terminator is missing (a corrupted entry).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string_view>

namespace shmbus::layout {

// Copies `source`, truncated to N - 1 bytes, and terminates it.
template <std::size_t N>
void copy_name(char (&destination)[N], std::string_view source) {
  const std::size_t length = std::min(source.size(), N - 1);
  std::memcpy(destination, source.data(), length);
  destination[length] = '\0';
}

// The string in `text`, or empty if it has no terminator within the array.
template <std::size_t N>
std::string_view terminated_view(const char (&text)[N]) {
  const void* end = std::memchr(text, '\0', N);
  if (end == nullptr) return {};
  return {text, static_cast<std::size_t>(static_cast<const char*>(end) - text)};
}

}  // namespace shmbus::layout
