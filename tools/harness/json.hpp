// Just enough JSON output for `ls --json` and `sub --format json`: string escaping and a writer
// that places commas, so the tools need no JSON library.
#pragma once

#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace shmbus::cli::json {

// Appends `text` as a quoted JSON string. Bytes that are not valid UTF-8 become \u00XX, so the
// output is always valid JSON, whatever the payload holds.
void append_string(std::string& out, std::string_view text);
void append_string(std::string& out, std::span<const std::byte> bytes);

bool is_valid_utf8(std::span<const std::byte> bytes) noexcept;

// Appends lowercase hex digits, two per byte.
void append_hex(std::string& out, std::span<const std::byte> bytes);

// Writes objects and arrays into a string; commas are placed by the writer.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  Writer& begin_object();
  Writer& end_object();
  Writer& begin_array();
  Writer& end_array();
  Writer& key(std::string_view name);
  Writer& value(std::string_view text);
  Writer& value(const char* text) { return value(std::string_view(text)); }
  template <std::integral T>
  requires(!std::same_as<T, bool>) Writer& value(T number) {
    if constexpr (std::is_signed_v<T>) {
      return signed_value(number);
    } else {
      return unsigned_value(number);
    }
  }
  Writer& value(double number);
  Writer& value(bool flag);
  Writer& null();
  Writer& raw(std::string_view json);  // an already encoded JSON value

  template <typename T>
  Writer& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

 private:
  Writer& unsigned_value(std::uint64_t number);
  Writer& signed_value(std::int64_t number);
  void separate();
  std::string& out_;
  bool need_comma_ = false;
};

}  // namespace shmbus::cli::json
