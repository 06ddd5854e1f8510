// ZeroMQ PAIR sockets over ipc:// (a Unix socket underneath, plus ZeroMQ's I/O thread). Messages
// are received into zmq_msg_t, valid until the next receive. Spin: ZMQ_DONTWAIT in a loop; block:
// zmq_poll.
#include <unistd.h>
#include <zmq.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>

#include "peer_system.hpp"

namespace shmbus::peers {
namespace {

class Socket {
 public:
  Socket(std::uint64_t id, std::uint32_t size, bool bind) {
    context_ = zmq_ctx_new();
    socket_ = zmq_socket(context_, ZMQ_PAIR);
    if (socket_ == nullptr) throw std::runtime_error("zmq_socket failed");
    // Queue depth bounded to 256 MiB, as for the other peers.
    const int hwm = static_cast<int>(std::clamp<std::uint64_t>((256ULL << 20) / size, 8, 1000));
    zmq_setsockopt(socket_, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(socket_, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    // A sender closing its socket must not drop the messages still queued to the receiver.
    const int linger = 10'000;
    zmq_setsockopt(socket_, ZMQ_LINGER, &linger, sizeof(linger));
    path_ = fmt::format("/tmp/shmbus-peer.zmq.{}", id);
    const std::string endpoint = "ipc://" + path_;
    const int rc =
        bind ? zmq_bind(socket_, endpoint.c_str()) : zmq_connect(socket_, endpoint.c_str());
    if (rc != 0) throw std::runtime_error(fmt::format("zmq {}: {}", endpoint, zmq_strerror(errno)));
    owner_ = bind;
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    zmq_close(socket_);
    zmq_ctx_term(context_);
    if (owner_) unlink(path_.c_str());
  }
  void* get() const noexcept { return socket_; }

 private:
  void* context_ = nullptr;
  void* socket_ = nullptr;
  std::string path_;
  bool owner_ = false;
};

class ZmqSender final : public perf::Sender {
 public:
  explicit ZmqSender(std::shared_ptr<Socket> s) : socket_(std::move(s)) {}
  bool send(std::span<const std::byte> message) override {
    while (zmq_send(socket_->get(), message.data(), message.size(), 0) < 0) {
      if (errno == EINTR) continue;
      perf::print_error(fmt::format("zmq_send: {}", zmq_strerror(errno)));
      return false;
    }
    return true;
  }

 private:
  std::shared_ptr<Socket> socket_;
};

class ZmqReceiver final : public perf::Receiver {
 public:
  ZmqReceiver(std::shared_ptr<Socket> s, bool spin) : socket_(std::move(s)), spin_(spin) {
    zmq_msg_init(&message_);
  }
  ZmqReceiver(const ZmqReceiver&) = delete;
  ZmqReceiver& operator=(const ZmqReceiver&) = delete;
  ~ZmqReceiver() override { zmq_msg_close(&message_); }
  perf::Received receive(std::span<const std::byte>& message,
                         std::chrono::nanoseconds slice) override {
    bool got = false;
    if (spin_) {
      got = perf::spin_for(
          slice, [&] { return zmq_msg_recv(&message_, socket_->get(), ZMQ_DONTWAIT) >= 0; });
    } else {
      zmq_pollitem_t item{socket_->get(), 0, ZMQ_POLLIN, 0};
      const long ms = std::max<long>(1, static_cast<long>(slice.count() / 1'000'000));
      if (zmq_poll(&item, 1, ms) > 0) got = zmq_msg_recv(&message_, socket_->get(), 0) >= 0;
    }
    if (!got) return perf::Received::empty;
    message = std::span<const std::byte>(static_cast<const std::byte*>(zmq_msg_data(&message_)),
                                         zmq_msg_size(&message_));
    return perf::Received::ok;
  }

 private:
  std::shared_ptr<Socket> socket_;
  zmq_msg_t message_;
  bool spin_;
};

class ZeroMqSystem final : public PeerSystem {
 public:
  std::string unsupported(const perf::Case& c) const override {
    if (c.loan) return "no zero-copy loan across processes";
    if (c.mode != perf::Mode::latency && c.mode != perf::Mode::throughput) return "not measured";
    return {};
  }
  Endpoints open_main(const perf::Case& c, std::uint64_t id) override {
    return open(std::make_shared<Socket>(id, c.size, true), c);
  }
  Endpoints open_child(const perf::Case& c, std::uint64_t id) override {
    return open(std::make_shared<Socket>(id, c.size, false), c);
  }

 private:
  static Endpoints open(std::shared_ptr<Socket> s, const perf::Case& c) {
    return {std::make_unique<ZmqSender>(s), std::make_unique<ZmqReceiver>(s, c.wait == "spin")};
  }
};

}  // namespace

std::unique_ptr<PeerSystem> make_zeromq() {
  return std::make_unique<ZeroMqSystem>();
}

}  // namespace shmbus::peers
