// The bare SPSC shared-memory ring: shmbus's floor, written for the same measurement. Same
// geometry as a shmbus topic of the same size (slot count, 64-byte slot header, payloads at the
// same offset mod 4096), but nothing else: one producer, one consumer, no claim CAS, no crash
// bookkeeping, no publish time. Each side caches the other's counter and reads it only when the
// ring looks full (producer) or empty (consumer).
#include <fmt/format.h>
#include <atomic>
#include <cstring>

#include "peer_system.hpp"
#include "shm_region.hpp"

namespace shmbus::peers {
namespace {

constexpr std::size_t kLine = 64;

struct RingHeader {
  alignas(kLine) std::atomic<std::uint64_t> head;  // written by the producer only
  alignas(kLine) std::atomic<std::uint64_t> tail;  // written by the consumer only
};

struct Geometry {
  std::uint32_t slots;
  std::size_t stride;
  std::size_t bytes;
};

Geometry geometry_for(std::uint32_t size) {
  const std::uint32_t slots = perf::slot_count_for(size);
  const std::size_t stride = kLine + (size + kLine - 1) / kLine * kLine;
  return {slots, stride, 4096 + slots * stride};
}

class Ring {
 public:
  Ring(const std::string& name, std::uint32_t size, bool create)
      : geometry_(geometry_for(size)), region_(name, geometry_.bytes, create) {
    header_ = static_cast<RingHeader*>(region_.data());
    slots_ = static_cast<std::byte*>(region_.data()) + 4096;
  }
  RingHeader& header() const noexcept { return *header_; }
  std::byte* slot(std::uint64_t n) const noexcept {
    return slots_ + (n & (geometry_.slots - 1)) * geometry_.stride;
  }
  std::uint32_t slots() const noexcept { return geometry_.slots; }

 private:
  Geometry geometry_;
  ShmRegion region_;
  RingHeader* header_ = nullptr;
  std::byte* slots_ = nullptr;
};

class RingSender final : public perf::Sender {
 public:
  explicit RingSender(std::unique_ptr<Ring> ring) : ring_(std::move(ring)) {}
  bool send(std::span<const std::byte> message) override {
    std::byte* payload = loan(message.size());
    std::memmove(payload, message.data(), message.size());
    return commit(message.size());
  }
  std::byte* loan(std::size_t) override {
    if (head_ - cached_tail_ >= ring_->slots()) {
      // acquire: pairs with the consumer's release of tail: its reads of the slot we are about
      // to overwrite are done.
      while (head_ - (cached_tail_ = ring_->header().tail.load(std::memory_order_acquire)) >=
             ring_->slots()) {
        __builtin_ia32_pause();
      }
    }
    return ring_->slot(head_) + kLine;
  }
  bool commit(std::size_t size) override {
    const auto length = static_cast<std::uint32_t>(size);
    std::memcpy(ring_->slot(head_), &length, sizeof(length));
    // release: pairs with the consumer's acquire of head: the slot is complete before it is seen.
    ring_->header().head.store(++head_, std::memory_order_release);
    return true;
  }

 private:
  std::unique_ptr<Ring> ring_;
  std::uint64_t head_ = 0;
  std::uint64_t cached_tail_ = 0;
};

class RingReceiver final : public perf::Receiver {
 public:
  explicit RingReceiver(std::unique_ptr<Ring> ring) : ring_(std::move(ring)) {}
  perf::Received receive(std::span<const std::byte>& message,
                         std::chrono::nanoseconds slice) override {
    if (holding_) {
      holding_ = false;
      // release: pairs with the producer's acquire of tail: our reads of this slot are done
      // before it is reused.
      ring_->header().tail.store(++tail_, std::memory_order_release);
    }
    const bool got = perf::spin_for(slice, [&] {
      if (tail_ != cached_head_) return true;
      // acquire: pairs with the producer's release of head (slot contents complete).
      cached_head_ = ring_->header().head.load(std::memory_order_acquire);
      return tail_ != cached_head_;
    });
    if (!got) return perf::Received::empty;
    const std::byte* slot = ring_->slot(tail_);
    std::uint32_t length = 0;
    std::memcpy(&length, slot, sizeof(length));
    message = std::span<const std::byte>(slot + kLine, length);
    holding_ = true;
    return perf::Received::ok;
  }

 private:
  std::unique_ptr<Ring> ring_;
  std::uint64_t tail_ = 0;
  std::uint64_t cached_head_ = 0;
  bool holding_ = false;
};

std::string ring_name(std::uint64_t id, const char* channel) {
  return fmt::format("/shmbus-peer.ring.{}.{}", id, channel);
}

class RingSystem final : public PeerSystem {
 public:
  std::string unsupported(const perf::Case& c) const override {
    if (c.wait != "spin") return "the bare ring is the busy-poll floor (see futex for block)";
    if (c.mode != perf::Mode::latency && c.mode != perf::Mode::throughput) return "not measured";
    return {};
  }
  Endpoints open_main(const perf::Case& c, std::uint64_t id) override {
    Endpoints e;
    if (c.mode == perf::Mode::latency) {
      e.tx = std::make_unique<RingSender>(std::make_unique<Ring>(ring_name(id, "a"), c.size, true));
      e.rx =
          std::make_unique<RingReceiver>(std::make_unique<Ring>(ring_name(id, "b"), c.size, true));
    } else {
      e.rx =
          std::make_unique<RingReceiver>(std::make_unique<Ring>(ring_name(id, "s"), c.size, true));
    }
    return e;
  }
  Endpoints open_child(const perf::Case& c, std::uint64_t id) override {
    Endpoints e;
    if (c.mode == perf::Mode::latency) {
      e.rx =
          std::make_unique<RingReceiver>(std::make_unique<Ring>(ring_name(id, "a"), c.size, false));
      e.tx =
          std::make_unique<RingSender>(std::make_unique<Ring>(ring_name(id, "b"), c.size, false));
    } else {
      e.tx =
          std::make_unique<RingSender>(std::make_unique<Ring>(ring_name(id, "s"), c.size, false));
    }
    return e;
  }
};

}  // namespace

std::unique_ptr<PeerSystem> make_ring() {
  return std::make_unique<RingSystem>();
}

}  // namespace shmbus::peers
