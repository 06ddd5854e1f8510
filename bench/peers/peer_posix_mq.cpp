// POSIX message queues: one queue per direction, as deep as /proc/sys/fs/mqueue/msg_max allows.
// Sizes above /proc/sys/fs/mqueue/msgsize_max are not run (that limit is the system's).
#include <fcntl.h>
#include <mqueue.h>
#include <time.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "peer_system.hpp"

namespace shmbus::peers {
namespace {

long read_limit(const char* path, long fallback) {
  std::ifstream in(path);
  long value = fallback;
  in >> value;
  return in ? value : fallback;
}

class Queue {
 public:
  Queue(std::string name, std::uint32_t size, bool create, bool nonblocking)
      : name_(std::move(name)), owner_(create) {
    mq_attr attr{};
    attr.mq_maxmsg = std::min(64L, read_limit("/proc/sys/fs/mqueue/msg_max", 10));
    attr.mq_msgsize = size;
    const int flags = O_RDWR | (create ? O_CREAT | O_EXCL : 0) | (nonblocking ? O_NONBLOCK : 0);
    queue_ = mq_open(name_.c_str(), flags, 0600, create ? &attr : nullptr);
    if (queue_ == static_cast<mqd_t>(-1)) throw_errno("mq_open " + name_);
  }
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  ~Queue() {
    mq_close(queue_);
    if (owner_) mq_unlink(name_.c_str());
  }
  [[nodiscard]] mqd_t get() const noexcept { return queue_; }

 private:
  std::string name_;
  mqd_t queue_;
  bool owner_;
};

class MqSender final : public perf::Sender {
 public:
  explicit MqSender(std::unique_ptr<Queue> q) : queue_(std::move(q)) {}
  bool send(std::span<const std::byte> message) override {
    while (mq_send(queue_->get(), reinterpret_cast<const char*>(message.data()), message.size(),
                   0) != 0) {
      if (errno == EINTR) continue;
      perf::print_error(fmt::format("mq_send: {}", std::strerror(errno)));
      return false;
    }
    return true;
  }

 private:
  std::unique_ptr<Queue> queue_;
};

class MqReceiver final : public perf::Receiver {
 public:
  MqReceiver(std::unique_ptr<Queue> q, std::uint32_t size, bool spin)
      : queue_(std::move(q)), buffer_(size), spin_(spin) {}
  perf::Received receive(std::span<const std::byte>& message,
                         std::chrono::nanoseconds slice) override {
    ssize_t n = -1;
    auto* data = reinterpret_cast<char*>(buffer_.data());
    if (spin_) {
      perf::spin_for(slice, [&] {
        n = mq_receive(queue_->get(), data, buffer_.size(), nullptr);
        return n >= 0 || errno != EAGAIN;
      });
    } else {
      timespec deadline{};
      clock_gettime(CLOCK_REALTIME, &deadline);  // mq_timedreceive's clock
      const auto ns = static_cast<std::uint64_t>(deadline.tv_nsec) + slice.count();
      deadline.tv_sec += static_cast<time_t>(ns / 1'000'000'000);
      deadline.tv_nsec = static_cast<long>(ns % 1'000'000'000);
      n = mq_timedreceive(queue_->get(), data, buffer_.size(), nullptr, &deadline);
    }
    if (n >= 0) {
      message = std::span<const std::byte>(buffer_.data(), static_cast<std::size_t>(n));
      return perf::Received::ok;
    }
    if (errno == EAGAIN || errno == ETIMEDOUT || errno == EINTR) return perf::Received::empty;
    perf::print_error(fmt::format("mq_receive: {}", std::strerror(errno)));
    return perf::Received::error;
  }

 private:
  std::unique_ptr<Queue> queue_;
  std::vector<std::byte> buffer_;
  bool spin_;
};

std::string queue_name(std::uint64_t id, const char* channel) {
  return fmt::format("/shmbus-peer.mq.{}.{}", id, channel);
}

class PosixMqSystem final : public QueuePairSystem {
 public:
  std::string unsupported(const perf::Case& c) const override {
    if (c.loan) return "no zero-copy loan: the kernel copies";
    if (c.mode != perf::Mode::latency && c.mode != perf::Mode::throughput) return "not measured";
    const long limit = read_limit("/proc/sys/fs/mqueue/msgsize_max", 8192);
    if (c.size > limit) {
      return fmt::format("above /proc/sys/fs/mqueue/msgsize_max ({} bytes)", limit);
    }
    return {};
  }

 private:
  Endpoints open_queues(const perf::Case& c, std::uint64_t id, bool create, const char* out,
                        const char* in) override {
    // Throughput uses queue "b" alone: the child sends on it, the main side receives.
    Endpoints e;
    const bool spin = c.wait == "spin";
    if (in != nullptr) {
      e.rx = std::make_unique<MqReceiver>(
          std::make_unique<Queue>(queue_name(id, in), c.size, create, spin), c.size, spin);
    }
    if (out != nullptr) {
      e.tx = std::make_unique<MqSender>(
          std::make_unique<Queue>(queue_name(id, out), c.size, create, false));
    }
    return e;
  }
};

}  // namespace

std::unique_ptr<PeerSystem> make_posix_mq() {
  return std::make_unique<PosixMqSystem>();
}

}  // namespace shmbus::peers
