#include "message/property_codec.hpp"

#include <fmt/format.h>

#include <cstring>

namespace shmbus::message {
namespace {

std::uint8_t byte_at(std::span<const std::byte> bytes, std::size_t i) noexcept {
  return static_cast<std::uint8_t>(bytes[i]);
}

std::string_view text_at(std::span<const std::byte> bytes, std::size_t offset,
                         std::size_t size) noexcept {
  return {reinterpret_cast<const char*>(bytes.data()) + offset, size};  // NOLINT: byte view
}

}  // namespace

std::optional<std::string> check_property_key(std::string_view key) {
  if (key.empty()) return "property key is empty";
  if (key.size() > kMaxPropertyKey) {
    return fmt::format("property key '{}...' is {} bytes long; the limit is {}", key.substr(0, 16),
                       key.size(), kMaxPropertyKey);
  }
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c <= 0x20 || c >= 0x7f || c == '=') {
      return fmt::format(
          "property key '{}' contains byte 0x{:02x} at {}; use printable ASCII without spaces "
          "or '='",
          key, c, i);
    }
  }
  return std::nullopt;
}

std::optional<std::string> check_property_value(std::string_view key, std::string_view value) {
  if (value.size() > kMaxPropertyValue) {
    return fmt::format("value of property '{}' is {} bytes long; the limit is {}", key,
                       value.size(), kMaxPropertyValue);
  }
  return std::nullopt;
}

void append_entry(std::string& out, std::string_view key, std::string_view value) {
  out += static_cast<char>(key.size());
  out += static_cast<char>(value.size() & 0xffU);
  out += static_cast<char>((value.size() >> 8) & 0xffU);
  out.append(key);
  out.append(value);
}

void write_header(std::string& out, std::size_t count) {
  if (out.size() < kEncodedHeader) out.resize(kEncodedHeader);
  out[0] = static_cast<char>(kPropertiesFormat);
  out[1] = static_cast<char>(count);
}

CursorState first_entry(std::span<const std::byte> encoded) noexcept {
  if (encoded.size() < kEncodedHeader || encoded.size() > kMaxEncodedProperties) return {};
  if (byte_at(encoded, 0) != kPropertiesFormat) return {};
  const std::size_t count = byte_at(encoded, 1);
  if (count > kMaxProperties) return {};
  return {kEncodedHeader, count};
}

bool next_entry(std::span<const std::byte> encoded, CursorState& state,
                DecodedProperty& out) noexcept {
  if (state.remaining == 0) return false;
  const std::size_t size = encoded.size();
  if (state.offset > size || size - state.offset < kEntryHeader) {
    state.remaining = 0;
    return false;
  }
  // Each length is read once: the bytes may change under us, the locals may not.
  const std::size_t key_size = byte_at(encoded, state.offset);
  const std::size_t value_size =
      byte_at(encoded, state.offset + 1) | (std::size_t{byte_at(encoded, state.offset + 2)} << 8);
  const std::size_t body = state.offset + kEntryHeader;
  if (key_size == 0 || key_size > kMaxPropertyKey || value_size > kMaxPropertyValue ||
      size - body < key_size + value_size) {
    state.remaining = 0;
    return false;
  }
  out.key = text_at(encoded, body, key_size);
  out.value = text_at(encoded, body + key_size, value_size);
  state.offset = body + key_size + value_size;
  --state.remaining;
  return true;
}

bool validate(std::span<const std::byte> encoded) noexcept {
  if (encoded.size() < kEncodedHeader || encoded.size() > kMaxEncodedProperties) return false;
  if (byte_at(encoded, 0) != kPropertiesFormat || byte_at(encoded, 1) > kMaxProperties) {
    return false;
  }
  std::size_t count = byte_at(encoded, 1);
  std::size_t offset = kEncodedHeader;
  for (; count > 0; --count) {
    if (encoded.size() - offset < kEntryHeader) return false;
    const std::size_t key_size = byte_at(encoded, offset);
    const std::size_t value_size =
        byte_at(encoded, offset + 1) | (std::size_t{byte_at(encoded, offset + 2)} << 8);
    offset += kEntryHeader;
    if (key_size == 0 || key_size > kMaxPropertyKey || value_size > kMaxPropertyValue ||
        encoded.size() - offset < key_size + value_size) {
      return false;
    }
    if (check_property_key(text_at(encoded, offset, key_size))) return false;
    offset += key_size + value_size;
  }
  return offset == encoded.size();
}

std::optional<std::string_view> find(std::span<const std::byte> encoded,
                                     std::string_view key) noexcept {
  PropertyCursor cursor(encoded);
  DecodedProperty entry;
  while (cursor.next(entry)) {
    if (entry.key == key) return entry.value;
  }
  return std::nullopt;
}

}  // namespace shmbus::message
