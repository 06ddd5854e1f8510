// Boost.Interprocess message_queue: a shared-memory queue guarded by a process-shared mutex and
// condition variables. Spin: try_receive in a loop; block: timed_receive.
#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>

#include <fmt/format.h>
#include <algorithm>
#include <optional>
#include <vector>

#include "peer_system.hpp"

namespace shmbus::peers {
namespace {

namespace bip = boost::interprocess;

// Deep enough to stream, bounded to 256 MiB of queue.
std::size_t depth_for(std::uint32_t size) {
  return std::clamp<std::size_t>((256ULL << 20) / size, 8, 256);
}

class Queue {
 public:
  Queue(std::string name, std::uint32_t size, bool create)
      : name_(std::move(name)), owner_(create) {
    if (create) {
      bip::message_queue::remove(name_.c_str());
      queue_.emplace(bip::create_only, name_.c_str(), depth_for(size), size);
    } else {
      queue_.emplace(bip::open_only, name_.c_str());
    }
  }
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  ~Queue() {
    queue_.reset();
    if (owner_) bip::message_queue::remove(name_.c_str());
  }
  bip::message_queue& get() { return *queue_; }

 private:
  std::string name_;
  bool owner_;
  std::optional<bip::message_queue> queue_;
};

class BoostSender final : public perf::Sender {
 public:
  explicit BoostSender(std::unique_ptr<Queue> q) : queue_(std::move(q)) {}
  bool send(std::span<const std::byte> message) override {
    queue_->get().send(message.data(), message.size(), 0);
    return true;
  }

 private:
  std::unique_ptr<Queue> queue_;
};

class BoostReceiver final : public perf::Receiver {
 public:
  BoostReceiver(std::unique_ptr<Queue> q, std::uint32_t size, bool spin)
      : queue_(std::move(q)), buffer_(size), spin_(spin) {}
  perf::Received receive(std::span<const std::byte>& message,
                         std::chrono::nanoseconds slice) override {
    bip::message_queue::size_type received = 0;
    unsigned priority = 0;
    bool got = false;
    if (spin_) {
      got = perf::spin_for(slice, [&] {
        return queue_->get().try_receive(buffer_.data(), buffer_.size(), received, priority);
      });
    } else {
      const auto deadline = boost::posix_time::microsec_clock::universal_time() +
                            boost::posix_time::microseconds(slice.count() / 1000);
      got =
          queue_->get().timed_receive(buffer_.data(), buffer_.size(), received, priority, deadline);
    }
    if (!got) return perf::Received::empty;
    message = std::span<const std::byte>(buffer_.data(), received);
    return perf::Received::ok;
  }

 private:
  std::unique_ptr<Queue> queue_;
  std::vector<std::byte> buffer_;
  bool spin_;
};

std::string queue_name(std::uint64_t id, const char* channel) {
  return fmt::format("shmbus-peer.bmq.{}.{}", id, channel);
}

class BoostMqSystem final : public QueuePairSystem {
 public:
  std::string unsupported(const perf::Case& c) const override {
    if (c.loan) return "no zero-copy loan: send and receive copy";
    if (c.mode != perf::Mode::latency && c.mode != perf::Mode::throughput) return "not measured";
    return {};
  }

 private:
  Endpoints open_queues(const perf::Case& c, std::uint64_t id, bool create, const char* out,
                        const char* in) override {
    Endpoints e;
    const bool spin = c.wait == "spin";
    if (in != nullptr) {
      e.rx = std::make_unique<BoostReceiver>(
          std::make_unique<Queue>(queue_name(id, in), c.size, create), c.size, spin);
    }
    if (out != nullptr) {
      e.tx = std::make_unique<BoostSender>(
          std::make_unique<Queue>(queue_name(id, out), c.size, create));
    }
    return e;
  }
};

}  // namespace

std::unique_ptr<PeerSystem> make_boost_mq() {
  return std::make_unique<BoostMqSystem>();
}

}  // namespace shmbus::peers
