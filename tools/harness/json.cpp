#include "json.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iterator>

namespace shmbus::cli::json {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

void append_escaped_byte(std::string& out, unsigned char c) {
  out += "\\u00";
  out += kHexDigits[c >> 4];
  out += kHexDigits[c & 0xf];
}

// Length of the valid UTF-8 sequence starting at bytes[i], or 0 if it is invalid there.
std::size_t utf8_sequence_length(const unsigned char* bytes, std::size_t size, std::size_t i) {
  const unsigned char lead = bytes[i];
  std::size_t length = 0;
  std::uint32_t min_code = 0;
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) == 0xc0) {
    length = 2;
    min_code = 0x80;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3;
    min_code = 0x800;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4;
    min_code = 0x10000;
  } else {
    return 0;
  }
  if (size - i < length) return 0;
  std::uint32_t code = lead & (0x7fU >> length);
  for (std::size_t k = 1; k < length; ++k) {
    const unsigned char c = bytes[i + k];
    if ((c & 0xc0) != 0x80) return 0;
    code = (code << 6) | (c & 0x3fU);
  }
  // Overlong forms, surrogates and code points past U+10FFFF are not valid UTF-8.
  if (code < min_code || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return length;
}

void append_escaped(std::string& out, const unsigned char* bytes, std::size_t size) {
  out += '"';
  std::size_t i = 0;
  while (i < size) {
    const unsigned char c = bytes[i];
    switch (c) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7f) {
      append_escaped_byte(out, c);
      ++i;
      continue;
    }
    const std::size_t length = utf8_sequence_length(bytes, size, i);
    if (length == 0) {
      append_escaped_byte(out, c);
      ++i;
      continue;
    }
    out.append(reinterpret_cast<const char*>(bytes + i), length);  // NOLINT: byte view
    i += length;
  }
  out += '"';
}

}  // namespace

void append_string(std::string& out, std::string_view text) {
  append_escaped(out, reinterpret_cast<const unsigned char*>(text.data()),  // NOLINT: byte view
                 text.size());
}

void append_string(std::string& out, std::span<const std::byte> bytes) {
  append_escaped(out, reinterpret_cast<const unsigned char*>(bytes.data()),  // NOLINT: byte view
                 bytes.size());
}

bool is_valid_utf8(std::span<const std::byte> bytes) noexcept {
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());  // NOLINT: byte view
  std::size_t i = 0;
  while (i < bytes.size()) {
    const std::size_t length = utf8_sequence_length(data, bytes.size(), i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

void append_hex(std::string& out, std::span<const std::byte> bytes) {
  out.reserve(out.size() + bytes.size() * 2);
  for (const std::byte b : bytes) {
    const auto c = static_cast<unsigned char>(b);
    out += kHexDigits[c >> 4];
    out += kHexDigits[c & 0xf];
  }
}

void Writer::separate() {
  if (need_comma_) out_ += ',';
  need_comma_ = true;
}

Writer& Writer::begin_object() {
  separate();
  out_ += '{';
  need_comma_ = false;
  return *this;
}

Writer& Writer::end_object() {
  out_ += '}';
  need_comma_ = true;
  return *this;
}

Writer& Writer::begin_array() {
  separate();
  out_ += '[';
  need_comma_ = false;
  return *this;
}

Writer& Writer::end_array() {
  out_ += ']';
  need_comma_ = true;
  return *this;
}

Writer& Writer::key(std::string_view name) {
  separate();
  append_string(out_, name);
  out_ += ':';
  // The value that follows the key must not be preceded by a comma.
  need_comma_ = false;
  return *this;
}

Writer& Writer::value(std::string_view text) {
  separate();
  append_string(out_, text);
  return *this;
}

Writer& Writer::unsigned_value(std::uint64_t number) {
  separate();
  fmt::format_to(std::back_inserter(out_), "{}", number);
  return *this;
}

Writer& Writer::signed_value(std::int64_t number) {
  separate();
  fmt::format_to(std::back_inserter(out_), "{}", number);
  return *this;
}

Writer& Writer::value(double number) {
  separate();
  // JSON has no NaN or infinity.
  if (std::isfinite(number)) {
    fmt::format_to(std::back_inserter(out_), "{}", number);
  } else {
    out_ += "null";
  }
  return *this;
}

Writer& Writer::value(bool flag) {
  separate();
  out_ += flag ? "true" : "false";
  return *this;
}

Writer& Writer::null() {
  separate();
  out_ += "null";
  return *this;
}

Writer& Writer::raw(std::string_view encoded) {
  separate();
  out_ += encoded;
  return *this;
}

}  // namespace shmbus::cli::json
