// Properties (the publisher's builder), MessageProperties (the subscriber's view) and filters.
#include "shmbus/properties.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "layout/key_hash.hpp"
#include "message/property_codec.hpp"
#include "message/property_filter.hpp"
#include "shmbus/error.hpp"

namespace shmbus {
namespace {

using Entries = std::vector<std::pair<std::string, std::string>>;

Entries decode_all(std::span<const std::byte> encoded) {
  Entries entries;
  message::PropertyCursor cursor(encoded);
  message::DecodedProperty entry;
  while (cursor.next(entry))
    entries.emplace_back(entry.key, entry.value);
  return entries;
}

std::string encode_all(const Entries& entries) {
  if (entries.empty()) return {};
  std::string out;
  message::write_header(out, entries.size());
  for (const auto& [key, value] : entries)
    message::append_entry(out, key, value);
  return out;
}

}  // namespace

Properties& Properties::set(std::string_view key, std::string_view value) {
  if (auto why = message::check_property_key(key)) throw Error(ErrorCode::invalid_argument, *why);
  if (auto why = message::check_property_value(key, value)) {
    throw Error(ErrorCode::invalid_argument, *why);
  }
  // A value of the same length is rewritten in place, without allocating: a reused Properties can
  // carry a changing fixed-width value (a correlation id, a counter) on the hot path.
  if (const auto current = get(key); current && current->size() == value.size()) {
    const auto offset = static_cast<std::size_t>(current->data() - encoded_.data());
    std::copy(value.begin(), value.end(), encoded_.begin() + static_cast<std::ptrdiff_t>(offset));
    if (key == message::kOrderingKey) key_hash_ = layout::key_hash(value);
    return *this;
  }
  Entries entries = decode_all(encoded());
  bool replaced = false;
  for (auto& entry : entries) {
    if (entry.first == key) {
      entry.second = value;
      replaced = true;
    }
  }
  if (!replaced) {
    if (entries.size() >= message::kMaxProperties) {
      throw Error(ErrorCode::invalid_argument,
                  fmt::format("cannot set property '{}': a message has at most {} properties", key,
                              message::kMaxProperties));
    }
    entries.emplace_back(key, value);
  }
  std::string encoded = encode_all(entries);
  if (encoded.size() > message::kMaxEncodedProperties) {
    throw Error(ErrorCode::invalid_argument,
                fmt::format("cannot set property '{}': the properties would take {} bytes "
                            "encoded; the limit is {}",
                            key, encoded.size(), message::kMaxEncodedProperties));
  }
  encoded_ = std::move(encoded);
  if (key == message::kOrderingKey) key_hash_ = layout::key_hash(value);
  return *this;
}

bool Properties::erase(std::string_view key) {
  Entries entries = decode_all(encoded());
  const auto removed =
      std::erase_if(entries, [&](const auto& entry) { return entry.first == key; });
  if (removed == 0) return false;
  encoded_ = encode_all(entries);
  if (key == message::kOrderingKey) key_hash_ = 0;
  return true;
}

void Properties::clear() noexcept {
  encoded_.clear();
  key_hash_ = 0;
}

std::optional<std::string_view> Properties::get(std::string_view key) const noexcept {
  return message::find(encoded(), key);
}

std::size_t Properties::size() const noexcept {
  return encoded_.size() < message::kEncodedHeader ? 0 : static_cast<unsigned char>(encoded_[1]);
}

MessageProperties::iterator::iterator(std::span<const std::byte> encoded) noexcept
    : encoded_(encoded) {
  const auto state = message::first_entry(encoded);
  offset_ = state.offset;
  remaining_ = state.remaining;
  at_end_ = false;
  advance();
}

void MessageProperties::iterator::advance() noexcept {
  message::CursorState state{offset_, remaining_};
  message::DecodedProperty entry;
  if (!message::next_entry(encoded_, state, entry)) {
    at_end_ = true;
    return;
  }
  current_ = {entry.key, entry.value};
  offset_ = state.offset;
  remaining_ = state.remaining;
}

std::optional<std::string_view> MessageProperties::get(std::string_view key) const noexcept {
  return message::find(encoded_, key);
}

std::size_t MessageProperties::size() const noexcept {
  std::size_t count = 0;
  for (auto it = begin(); it != end(); ++it)
    ++count;
  return count;
}

std::optional<std::string> check_filter(const PropertyFilter& filter) {
  for (const auto& condition : filter.conditions) {
    if (auto why = message::check_property_key(condition.key)) return "filter: " + *why;
    if (auto why = message::check_property_value(condition.key, condition.value)) {
      return "filter: " + *why;
    }
  }
  return std::nullopt;
}

bool matches(const PropertyFilter& filter, const MessageProperties& properties) noexcept {
  return message::matches(filter, properties.encoded());
}

namespace message {

bool matches(const PropertyFilter& filter, std::span<const std::byte> encoded) noexcept {
  if (filter.conditions.empty()) return true;
  const bool want_all = filter.match == PropertyFilter::Match::all;
  for (const auto& condition : filter.conditions) {
    const auto value = find(encoded, condition.key);
    const bool holds = value && (condition.value.empty() || *value == condition.value);
    if (want_all && !holds) return false;
    if (!want_all && holds) return true;
  }
  return want_all;
}

}  // namespace message
}  // namespace shmbus
