// The binary encoding of message properties, stored at the end of a slot's payload area
// ([slot_size - properties_size, slot_size)). One definition for the library and the tools.
//
//   u8  format version (kPropertiesFormat)
//   u8  entry count (<= kMaxProperties)
//   per entry: u8 key length (1..kMaxPropertyKey), u16 value length little-endian
//              (<= kMaxPropertyValue), key bytes, value bytes
//
// Decoding reads bytes that another process may rewrite at any time (overwrite topics), so every
// length is read once, into a local, and checked against the span before it is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace shmbus::message {

inline constexpr std::uint8_t kPropertiesFormat = 1;
inline constexpr std::size_t kMaxProperties = 16;
inline constexpr std::size_t kMaxPropertyKey = 64;
inline constexpr std::size_t kMaxPropertyValue = 255;
inline constexpr std::size_t kMaxEncodedProperties = 1024;
inline constexpr std::size_t kEncodedHeader = 2;
inline constexpr std::size_t kEntryHeader = 3;

inline constexpr std::string_view kContentTypeKey = "content-type";
inline constexpr std::string_view kOrderingKey = "key";

// Why `key` cannot name a property (1..64 printable ASCII bytes, no '=' or space), or nullopt.
std::optional<std::string> check_property_key(std::string_view key);
// Why `value` cannot be a property value (at most 255 bytes), or nullopt.
std::optional<std::string> check_property_value(std::string_view key, std::string_view value);

constexpr std::size_t encoded_entry_size(std::string_view key, std::string_view value) noexcept {
  return kEntryHeader + key.size() + value.size();
}

// Appends an entry's bytes; the caller has checked key, value and the limits.
void append_entry(std::string& out, std::string_view key, std::string_view value);
// Writes the two header bytes at the front of `out` (resized to at least kEncodedHeader).
void write_header(std::string& out, std::size_t count);

struct DecodedProperty {
  std::string_view key;
  std::string_view value;
};

// Where a walk over the entries stands: the offset of the next entry and how many are left.
struct CursorState {
  std::size_t offset = 0;
  std::size_t remaining = 0;
};

// The state before the first entry; remaining = 0 when the header is malformed or another version.
CursorState first_entry(std::span<const std::byte> encoded) noexcept;
// Decodes the entry at `state` and moves past it; false at the end or at the first malformed byte
// (which also ends the walk).
bool next_entry(std::span<const std::byte> encoded, CursorState& state,
                DecodedProperty& out) noexcept;

// Walks the entries of an encoding without trusting it.
class PropertyCursor {
 public:
  PropertyCursor() = default;
  explicit PropertyCursor(std::span<const std::byte> encoded) noexcept
      : encoded_(encoded), state_(first_entry(encoded)) {}

  // The next well-formed entry; false at the end or at the first malformed byte.
  bool next(DecodedProperty& out) noexcept { return next_entry(encoded_, state_, out); }

 private:
  std::span<const std::byte> encoded_;
  CursorState state_;
};

// True when `encoded` is a complete, well-formed encoding within every limit (and nothing trails).
bool validate(std::span<const std::byte> encoded) noexcept;

// The value of the first entry named `key`, or nullopt.
std::optional<std::string_view> find(std::span<const std::byte> encoded,
                                     std::string_view key) noexcept;

}  // namespace shmbus::message
