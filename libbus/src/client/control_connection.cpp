#include "client/control_connection.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "layout/naming.hpp"

namespace shmbus::detail {
namespace {

Error system_error(const std::string& what) {
  return {ErrorCode::io_error, fmt::format("{}: {}", what, std::strerror(errno))};
}

}  // namespace

ControlConnection::~ControlConnection() {
  close();
}

void ControlConnection::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void ControlConnection::connect(const std::string& bus) {
  close();
  bus_ = bus;
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) throw system_error("cannot create the control socket");
  const auto address = protocol::control_socket_address(bus);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address.address), address.length) !=
      0) {  // NOLINT
    const int error = errno;
    ::close(fd);
    if (error == ECONNREFUSED || error == ENOENT) {
      throw Error(ErrorCode::no_daemon,
                  fmt::format("no daemon serves bus '{}': start shmbusd --bus {} (or run an "
                              "shmbus::EmbeddedSupervisor in a process)",
                              bus, bus));
    }
    if (error == EACCES || error == EPERM) {
      throw Error(ErrorCode::permission_denied,
                  fmt::format("permission denied connecting to the daemon of bus '{}'", bus));
    }
    errno = error;
    throw system_error(fmt::format("cannot connect to the daemon of bus '{}'", bus));
  }
  fd_ = fd;
}

protocol::Message ControlConnection::call(protocol::Body request,
                                          std::chrono::milliseconds timeout) {
  if (fd_ < 0) {
    throw Error(ErrorCode::disconnected,
                fmt::format("not connected to the daemon of bus '{}'", bus_));
  }
  const std::uint32_t id = next_request_id_++;
  protocol::FrameBuffer buffer{};
  const std::size_t size =
      protocol::encode({protocol::MessageType{}, id, std::move(request)}, buffer);
  ssize_t sent;
  do {
    sent = ::send(fd_, buffer.data(), size, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno == EPIPE || errno == ECONNRESET) {
      throw Error(ErrorCode::disconnected,
                  fmt::format("the daemon of bus '{}' closed the connection", bus_));
    }
    throw system_error("cannot send to the daemon");
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::max<long>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw system_error("cannot wait for the daemon's reply");
    if (ready == 0) {
      throw Error(
          ErrorCode::timeout,
          fmt::format("the daemon of bus '{}' did not answer within {} ms", bus_, timeout.count()));
    }
    const ssize_t received = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (received < 0 && errno == EINTR) continue;
    if (received <= 0) {
      throw Error(ErrorCode::disconnected,
                  fmt::format("the daemon of bus '{}' closed the connection", bus_));
    }
    auto decoded = protocol::decode(
        std::span<const std::byte>(buffer.data(), static_cast<std::size_t>(received)));
    if (auto* error = std::get_if<protocol::DecodeError>(&decoded)) {
      throw Error(error->code, error->text);
    }
    auto& reply = std::get<protocol::Message>(decoded);
    if (reply.request_id != id) continue;  // a late reply to a request that timed out
    if (auto* error_reply = std::get_if<protocol::ErrorReply>(&reply.body)) {
      throw Error(static_cast<ErrorCode>(error_reply->code),
                  std::string(protocol::view_string(error_reply->text)));
    }
    return std::move(reply);
  }
}

}  // namespace shmbus::detail
