// The client's end of the control socket: one request at a time, blocking, with a deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "protocol/control_protocol.hpp"

namespace shmbus::detail {

class ControlConnection {
 public:
  ControlConnection() = default;
  ControlConnection(const ControlConnection&) = delete;
  ControlConnection& operator=(const ControlConnection&) = delete;
  ~ControlConnection();

  // Connects to the bus's control socket. Throws Error(no_daemon) if nothing listens.
  void connect(const std::string& bus);
  void close() noexcept;
  [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
  [[nodiscard]] int fd() const noexcept { return fd_; }

  // Sends `request` and waits for the reply with the same request id. Throws Error: disconnected
  // (EOF), timeout, protocol_error; an ErrorReply is turned into an Error with its code and text.
  protocol::Message call(protocol::Body request, std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  std::uint32_t next_request_id_ = 1;
  std::string bus_;
};

}  // namespace shmbus::detail
