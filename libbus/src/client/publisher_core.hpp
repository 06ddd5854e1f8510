// What a Publisher holds: its record in the topic segment and the ring writer over it.
#pragma once

#include <chrono>
#include <cstring>
#include <memory>
#include <span>

#include "client/mapped_topic.hpp"
#include "ring/ring_writer.hpp"
#include "shmbus/publisher.hpp"

namespace shmbus::detail {

class ClientCore;

class PublisherCore {
 public:
  PublisherCore(std::shared_ptr<ClientCore> client, std::shared_ptr<MappedTopic> topic,
                const PublisherOptions& options);
  PublisherCore(const PublisherCore&) = delete;
  PublisherCore& operator=(const PublisherCore&) = delete;
  ~PublisherCore();

  // The copy-publish hot path: claim, copy, commit. No allocation, lock or system call unless the
  // ring is full (block topics wait) or a subscriber sleeps (one futex wake).
  Status publish(std::span<const std::byte> payload, std::chrono::nanoseconds timeout) noexcept {
    if (payload.size() > writer_.topic().slot_size) return Status::too_large;
    std::uint64_t sequence = 0;
    const Status status = writer_.claim(sequence, timeout);
    if (status != Status::ok) return status;
    std::byte* destination = writer_.begin_write(sequence);
    if (!payload.empty()) std::memcpy(destination, payload.data(), payload.size());
    writer_.commit(sequence, static_cast<std::uint32_t>(payload.size()), layout::kFlagNone);
    return Status::ok;
  }

  // Publishing with properties: they go to the end of the slot, after a check that payload and
  // properties fit it together. Empty properties take the path above.
  Status publish(std::span<const std::byte> payload, const Properties& properties,
                 std::chrono::nanoseconds timeout,
                 std::uint32_t flags = layout::kFlagNone) noexcept {
    const auto encoded = properties.encoded();
    if (encoded.empty() && flags == layout::kFlagNone) return publish(payload, timeout);
    const std::uint32_t slot_size = writer_.topic().slot_size;
    if (encoded.size() > slot_size || payload.size() > slot_size - encoded.size()) {
      return Status::too_large;
    }
    std::uint64_t sequence = 0;
    const Status status = writer_.claim(sequence, timeout);
    if (status != Status::ok) return status;
    std::byte* destination = writer_.begin_write(sequence);
    if (!payload.empty()) std::memcpy(destination, payload.data(), payload.size());
    if (!encoded.empty()) {
      std::memcpy(destination + (slot_size - encoded.size()), encoded.data(), encoded.size());
    }
    writer_.commit(sequence, static_cast<std::uint32_t>(payload.size()), flags,
                   static_cast<std::uint32_t>(encoded.size()), properties.key_hash());
    return Status::ok;
  }

  [[nodiscard]] ring::RingWriter& writer() noexcept { return writer_; }
  [[nodiscard]] const MappedTopic& topic() const noexcept { return *topic_; }
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
  [[nodiscard]] const PublisherOptions& options() const noexcept { return options_; }

 private:
  std::shared_ptr<ClientCore> client_;
  std::shared_ptr<MappedTopic> topic_;
  PublisherOptions options_;
  std::uint32_t index_ = 0;
  std::uint64_t id_ = 0;
  ring::RingWriter writer_;
};

}  // namespace shmbus::detail
