// Message properties: a few key/value headers and a content type carried with a message, as AMQP
// headers. Set by the publisher (Properties, or Loan::properties()), read by subscribers
// (Message::properties()), and matched by PropertyFilter without copying the message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shmbus {

// Limits: at most 16 properties; keys 1..64 bytes of printable ASCII without spaces or '=';
// values at most 255 bytes (any bytes); at most 1024 bytes encoded (3 + key + value per property,
// plus 2). Properties share the slot with the payload: payload + encoded size <= slot size.
inline constexpr std::size_t kMaxProperties = 16;
inline constexpr std::size_t kMaxPropertyKeySize = 64;
inline constexpr std::size_t kMaxPropertyValueSize = 255;
inline constexpr std::size_t kMaxPropertiesEncodedSize = 1024;

// Reserved keys, with accessors of their own.
inline constexpr std::string_view kContentTypeProperty = "content-type";
inline constexpr std::string_view kKeyProperty = "key";  // the ordering key

struct Property {
  std::string_view key;
  std::string_view value;
};

// The properties a publisher sets, kept encoded so that publishing them copies one block. Reuse one
// Properties for many publishes: publishing does not allocate.
class Properties {
 public:
  Properties() = default;

  // Sets (or replaces) a property. Throws shmbus::Error(invalid_argument) with the reason when the
  // key or value breaks the rules or the limits above would be exceeded; the object is unchanged.
  Properties& set(std::string_view key, std::string_view value);
  Properties& content_type(std::string_view type) { return set(kContentTypeProperty, type); }
  // The ordering key: also hashed into the slot header for key-ordered consumers.
  Properties& key(std::string_view key) { return set(kKeyProperty, key); }
  // Removes a property; false if it was not set.
  bool erase(std::string_view key);
  void clear() noexcept;

  [[nodiscard]] std::optional<std::string_view> get(std::string_view key) const noexcept;
  [[nodiscard]] bool empty() const noexcept { return encoded_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept;
  // The encoded form written into the slot (empty when no property is set).
  [[nodiscard]] std::span<const std::byte> encoded() const noexcept {
    return std::as_bytes(std::span(encoded_.data(), encoded_.size()));
  }
  // FNV-1a of the ordering key (0: no key).
  [[nodiscard]] std::uint32_t key_hash() const noexcept { return key_hash_; }

 private:
  std::string encoded_;
  std::uint32_t key_hash_ = 0;
};

// A received message's properties: a non-owning view into the slot, valid as long as the message.
// Decoding is bounds-checked; a malformed encoding ends the iteration where it breaks.
class MessageProperties {
 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Property;
    using difference_type = std::ptrdiff_t;
    using pointer = const Property*;
    using reference = const Property&;

    iterator() = default;
    reference operator*() const noexcept { return current_; }
    pointer operator->() const noexcept { return &current_; }
    iterator& operator++() noexcept {
      advance();
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator before = *this;
      advance();
      return before;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept {
      return a.at_end_ == b.at_end_ && (a.at_end_ || a.offset_ == b.offset_);
    }

   private:
    friend class MessageProperties;
    explicit iterator(std::span<const std::byte> encoded) noexcept;
    void advance() noexcept;
    std::span<const std::byte> encoded_;
    std::size_t offset_ = 0;
    std::size_t remaining_ = 0;
    Property current_{};
    bool at_end_ = true;
  };

  MessageProperties() = default;
  explicit MessageProperties(std::span<const std::byte> encoded) noexcept : encoded_(encoded) {}

  [[nodiscard]] std::optional<std::string_view> get(std::string_view key) const noexcept;
  [[nodiscard]] std::optional<std::string_view> content_type() const noexcept {
    return get(kContentTypeProperty);
  }
  [[nodiscard]] std::optional<std::string_view> key() const noexcept { return get(kKeyProperty); }
  [[nodiscard]] bool empty() const noexcept { return begin() == end(); }
  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] iterator begin() const noexcept { return iterator(encoded_); }
  [[nodiscard]] iterator end() const noexcept { return {}; }
  [[nodiscard]] std::span<const std::byte> encoded() const noexcept { return encoded_; }

 private:
  std::span<const std::byte> encoded_;
};

// Which messages a subscriber receives, as an AMQP headers exchange: `all` conditions or `any` of
// them must hold. A condition holds when the message has the key and, unless the condition's value
// is empty, that value (an empty value means "the key is present"). An empty filter lets every
// message through. Messages that do not match are skipped in shared memory: never copied, never
// handed out, and they do not hold publishers back.
struct PropertyFilter {
  enum class Match : std::uint8_t { all, any };
  struct Condition {
    std::string key;
    std::string value;  // empty: the key is present, whatever its value
  };

  Match match = Match::all;
  std::vector<Condition> conditions{};

  PropertyFilter& where(std::string key, std::string value = {}) {
    conditions.push_back({std::move(key), std::move(value)});
    return *this;
  }
  [[nodiscard]] bool empty() const noexcept { return conditions.empty(); }
};

// Why `filter` cannot be used (a key or value breaks the property rules), or nullopt.
std::optional<std::string> check_filter(const PropertyFilter& filter);
// Whether a message's properties pass `filter`.
bool matches(const PropertyFilter& filter, const MessageProperties& properties) noexcept;

}  // namespace shmbus
