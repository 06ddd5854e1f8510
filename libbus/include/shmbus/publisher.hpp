// Publishing to a topic: copy-publish of bytes or trivially copyable values, or a zero-copy loan.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "shmbus/error.hpp"
#include "shmbus/properties.hpp"
#include "shmbus/topic_options.hpp"

namespace shmbus {

namespace detail {
class PublisherCore;
}

// A value published by copying its bytes: trivially copyable, and not itself a byte range.
template <typename T>
concept PlainValue =
    std::is_trivially_copyable_v<T> && !std::is_convertible_v<const T&, std::span<const std::byte>>;

struct PublisherOptions {
  // How long a publish on a full `block` topic waits for the slowest subscriber before it returns
  // Status::timeout.
  std::chrono::nanoseconds block_timeout = std::chrono::seconds(1);
};

// A slot claimed for writing in place. commit() publishes it; a Loan destroyed or moved-over
// without commit() is given back, and subscribers skip it.
class Loan {
 public:
  Loan() = default;
  Loan(Loan&& other) noexcept;
  Loan& operator=(Loan&& other) noexcept;
  Loan(const Loan&) = delete;
  Loan& operator=(const Loan&) = delete;
  ~Loan();

  // ok, or why no slot was claimed (timeout, full, too_large, closed).
  [[nodiscard]] Status status() const noexcept { return status_; }
  [[nodiscard]] explicit operator bool() const noexcept { return status_ == Status::ok; }
  [[nodiscard]] std::span<std::byte> data() const noexcept { return {data_, capacity_}; }
  [[nodiscard]] std::uint64_t sequence() const noexcept { return sequence_; }

  // The properties committed with the message (written after the payload's end, at the end of
  // the slot). Set them before commit().
  [[nodiscard]] Properties& properties() noexcept { return properties_; }
  // Throws shmbus::Error(invalid_argument) as Properties::set does.
  Loan& set_property(std::string_view key, std::string_view value);

  // Publishes the first `size` bytes written (at most the loaned size). Status::too_large, with
  // the loan kept, when `size` + the encoded properties exceed the slot size.
  Status commit(std::size_t size) noexcept;
  Status commit() noexcept { return commit(capacity_); }

 private:
  friend class Publisher;
  void release() noexcept;
  detail::PublisherCore* core_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::uint64_t sequence_ = 0;
  Status status_ = Status::closed;
  Properties properties_;
};

class Publisher {
 public:
  Publisher() = default;
  Publisher(Publisher&&) noexcept;
  Publisher& operator=(Publisher&&) noexcept;
  ~Publisher();

  // Copies `payload` into the next slot. In `block` topics waits up to block_timeout for room.
  Status publish(std::span<const std::byte> payload) noexcept;
  // Like publish, but returns Status::full at once where publish would wait.
  Status try_publish(std::span<const std::byte> payload) noexcept;

  // Copies a trivially copyable value. Byte ranges (spans, vectors) go to the overload above.
  template <PlainValue T>
  Status publish(const T& value) noexcept {
    return publish(std::span<const std::byte>(reinterpret_cast<const std::byte*>(&value),  // NOLINT
                                              sizeof(T)));
  }

  template <PlainValue T>
  Status try_publish(const T& value) noexcept {
    return try_publish(std::span<const std::byte>(reinterpret_cast<const std::byte*>(&value),
                                                  sizeof(T)));  // NOLINT
  }

  // With properties (headers, content type, ordering key): Status::too_large when the payload and
  // the encoded properties do not fit one slot together; nothing is published then.
  Status publish(std::span<const std::byte> payload, const Properties& properties) noexcept;
  Status try_publish(std::span<const std::byte> payload, const Properties& properties) noexcept;
  template <PlainValue T>
  Status publish(const T& value, const Properties& properties) noexcept {
    return publish(std::span<const std::byte>(reinterpret_cast<const std::byte*>(&value),  // NOLINT
                                              sizeof(T)),
                   properties);
  }

  // Claims a slot of `size` bytes to write in place (zero copy).
  Loan loan(std::size_t size) noexcept;

  [[nodiscard]] const std::string& topic() const noexcept;
  [[nodiscard]] std::uint64_t id() const noexcept;
  [[nodiscard]] std::uint32_t max_payload() const noexcept;
  [[nodiscard]] TopicInfo info() const noexcept;
  [[nodiscard]] explicit operator bool() const noexcept { return core_ != nullptr; }

 private:
  friend class Client;
  explicit Publisher(std::unique_ptr<detail::PublisherCore> core);
  std::unique_ptr<detail::PublisherCore> core_;
};

}  // namespace shmbus
