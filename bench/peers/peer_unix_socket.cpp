// Unix domain stream sockets: every message of a case has the case's size, so the receiver reads
// exactly that many bytes (no length prefix). Spin: non-blocking reads in a loop; block: poll().
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstring>
#include <vector>

#include "peer_system.hpp"
#include "wait/futex.hpp"

namespace shmbus::peers {
namespace {

sockaddr_un address_of(std::uint64_t id, socklen_t& length) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  // Abstract namespace (leading NUL): nothing to clean up.
  const std::string name = fmt::format("shmbus-peer.uds.{}", id);
  std::memcpy(address.sun_path + 1, name.data(), name.size());
  length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return address;
}

// One connection carries both directions; the listening side accepts on first use.
class Connection {
 public:
  Connection(std::uint64_t id, bool listen) {
    socklen_t length = 0;
    const sockaddr_un address = address_of(id, length);
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw_errno("socket");
    const auto* sa = reinterpret_cast<const sockaddr*>(&address);
    if (listen) {
      if (bind(fd, sa, length) != 0 || ::listen(fd, 1) != 0) throw_errno("bind/listen");
      listener_ = fd;
    } else {
      if (connect(fd, sa, length) != 0) throw_errno("connect");
      fd_ = fd;
    }
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    if (fd_ >= 0) close(fd_);
    if (listener_ >= 0) close(listener_);
  }
  int fd() {
    if (fd_ < 0) {
      fd_ = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd_ < 0) throw_errno("accept");
    }
    return fd_;
  }

 private:
  int listener_ = -1;
  int fd_ = -1;
};

class SocketSender final : public perf::Sender {
 public:
  explicit SocketSender(std::shared_ptr<Connection> c) : connection_(std::move(c)) {}
  bool send(std::span<const std::byte> message) override {
    const int fd = connection_->fd();
    std::size_t done = 0;
    while (done < message.size()) {
      const ssize_t n = ::send(fd, message.data() + done, message.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        perf::print_error(fmt::format("send: {}", std::strerror(errno)));
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  std::shared_ptr<Connection> connection_;
};

class SocketReceiver final : public perf::Receiver {
 public:
  SocketReceiver(std::shared_ptr<Connection> c, std::uint32_t size, bool spin)
      : connection_(std::move(c)), buffer_(size), spin_(spin) {}
  perf::Received receive(std::span<const std::byte>& message,
                         std::chrono::nanoseconds slice) override {
    const int fd = connection_->fd();
    bool failed = false;
    auto read_some = [&] {
      const ssize_t n =
          recv(fd, buffer_.data() + filled_, buffer_.size() - filled_, spin_ ? MSG_DONTWAIT : 0);
      if (n > 0) filled_ += static_cast<std::size_t>(n);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) failed = true;
      return failed || filled_ == buffer_.size();
    };
    bool done = false;
    if (spin_) {
      done = perf::spin_for(slice, read_some);
    } else {
      const std::uint64_t deadline =
          wait::monotonic_ns() + static_cast<std::uint64_t>(slice.count());
      while (!done) {
        const std::uint64_t now = wait::monotonic_ns();
        if (now >= deadline) break;
        pollfd p{fd, POLLIN, 0};
        const int ms = static_cast<int>((deadline - now + 999'999) / 1'000'000);
        if (poll(&p, 1, ms) > 0) done = read_some();
      }
    }
    if (failed) {
      perf::print_error("the socket closed or failed");
      return perf::Received::error;
    }
    if (!done) return perf::Received::empty;
    filled_ = 0;
    message = std::span<const std::byte>(buffer_.data(), buffer_.size());
    return perf::Received::ok;
  }

 private:
  std::shared_ptr<Connection> connection_;
  std::vector<std::byte> buffer_;
  std::size_t filled_ = 0;
  bool spin_;
};

class UnixSocketSystem final : public PeerSystem {
 public:
  std::string unsupported(const perf::Case& c) const override {
    if (c.loan) return "no zero-copy loan: the kernel copies";
    if (c.mode != perf::Mode::latency && c.mode != perf::Mode::throughput) return "not measured";
    return {};
  }
  Endpoints open_main(const perf::Case& c, std::uint64_t id) override {
    return open(std::make_shared<Connection>(id, true), c);
  }
  Endpoints open_child(const perf::Case& c, std::uint64_t id) override {
    return open(std::make_shared<Connection>(id, false), c);
  }

 private:
  static Endpoints open(std::shared_ptr<Connection> c, const perf::Case& k) {
    return {std::make_unique<SocketSender>(c),
            std::make_unique<SocketReceiver>(c, k.size, k.wait == "spin")};
  }
};

}  // namespace

std::unique_ptr<PeerSystem> make_unix_socket() {
  return std::make_unique<UnixSocketSystem>();
}

}  // namespace shmbus::peers
