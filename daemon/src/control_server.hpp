// The control socket: accepts clients on the bus's abstract SOCK_SEQPACKET address and runs one
// session per connection, one request at a time (a reply is sent before the next request is read,
// so a client that does not read its replies cannot make the daemon buffer without bound).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include <boost/asio/io_context.hpp>

#include "client_registry.hpp"
#include "protocol/control_protocol.hpp"
#include "seq_packet_protocol.hpp"

namespace shmbus::daemon {

struct SessionState {
  std::uint64_t session_id = 0;
  PeerCredentials peer;
  std::uint64_t client_id = 0;  // 0 until Hello
};

class SessionHandler {
 public:
  virtual ~SessionHandler() = default;
  // The reply body for one decoded request; never throws.
  virtual protocol::Body on_request(SessionState& session, const protocol::Message& request) = 0;
  // The peer closed the connection or died.
  virtual void on_close(SessionState& session) = 0;
};

class Session;

class ControlServer {
 public:
  // Binds the bus's address. Throws Error(daemon_running) when another process holds it.
  ControlServer(boost::asio::io_context& io, std::string bus);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Starts accepting connections; requests go to `handler`.
  void listen(SessionHandler& handler);
  // Stops accepting and closes every session without reporting them to the handler.
  void close();

  [[nodiscard]] std::size_t session_count() const noexcept { return sessions_.size(); }

 private:
  friend class Session;
  void accept();
  void closed(std::uint64_t session_id);

  std::string bus_;
  SeqPacketProtocol::acceptor acceptor_;
  SessionHandler* handler_ = nullptr;
  std::uint64_t next_session_id_ = 1;
  std::unordered_map<std::uint64_t, std::shared_ptr<Session>> sessions_;
};

}  // namespace shmbus::daemon
