#include "control_server.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/buffer.hpp>
#include <cstring>

#include "control_segment.hpp"
#include "shmbus/error.hpp"

namespace shmbus::daemon {
namespace {

// Consecutive malformed frames after which a connection is dropped: enough to report a few
// errors to a confused client, few enough that a garbage spewer costs little.
constexpr int kMaxMalformed = 16;

void set_cloexec(int fd) {
  ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);
}

PeerCredentials peer_credentials(int fd) {
  ucred credentials{};
  socklen_t length = sizeof(credentials);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return {};
  return {credentials.pid, credentials.uid, credentials.gid};
}

}  // namespace

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ControlServer& server, SeqPacketProtocol::socket socket, SessionState state)
      : server_(server), socket_(std::move(socket)), state_(state) {}

  void start() { receive(); }

  // Closes the socket; `report` says whether the handler hears about it.
  void close(bool report) {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    socket_.close(ignored);
    if (report) {
      server_.handler_->on_close(state_);
      server_.closed(state_.session_id);
    }
  }

 private:
  void receive() {
    socket_.async_receive(
        boost::asio::buffer(rx_), out_flags_,
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t bytes) {
          self->on_receive(ec, bytes);
        });
  }

  void on_receive(const boost::system::error_code& ec, std::size_t bytes) {
    if (closed_) return;
    // A SOCK_SEQPACKET peer's close arrives as a zero-byte read, not as an error.
    if (ec || bytes == 0) {
      if (ec && ec != boost::asio::error::eof && ec != boost::asio::error::connection_reset) {
        spdlog::debug("session {}: receive failed: {}", state_.session_id, ec.message());
      }
      close(true);
      return;
    }
    std::uint32_t request_id = 0;
    if (bytes >= sizeof(protocol::FrameHeader)) {
      protocol::FrameHeader header{};
      std::memcpy(&header, rx_.data(), sizeof(header));
      request_id = header.request_id;
    }
    protocol::Message reply{protocol::MessageType::error_reply, request_id, protocol::ErrorReply{}};
    if ((out_flags_ & MSG_TRUNC) != 0 || bytes > protocol::kMaxFrameSize) {
      reply.body = protocol::make_error(
          ErrorCode::protocol_error,
          fmt::format("control message is longer than the largest frame ({} bytes)",
                      protocol::kMaxFrameSize));
    } else {
      auto decoded = protocol::decode(std::span<const std::byte>(rx_.data(), bytes));
      if (auto* error = std::get_if<protocol::DecodeError>(&decoded)) {
        reply.body = protocol::make_error(error->code, error->text);
      } else {
        reply.body = server_.handler_->on_request(state_, std::get<protocol::Message>(decoded));
      }
    }
    const auto* error = std::get_if<protocol::ErrorReply>(&reply.body);
    if (error != nullptr && error->code == static_cast<std::uint16_t>(ErrorCode::protocol_error)) {
      if (++malformed_ >= kMaxMalformed) {
        spdlog::warn("session {} (pid {}): {} malformed control messages in a row; closing it",
                     state_.session_id, state_.peer.pid, malformed_);
        close(true);
        return;
      }
    } else {
      malformed_ = 0;
    }
    send(reply);
  }

  void send(const protocol::Message& reply) {
    const std::size_t size = protocol::encode(reply, tx_);
    socket_.async_send(
        boost::asio::buffer(tx_.data(), size), 0,
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
          if (self->closed_) return;
          if (ec) {
            self->close(true);
            return;
          }
          self->receive();
        });
  }

  ControlServer& server_;
  SeqPacketProtocol::socket socket_;
  SessionState state_;
  // One byte more than the largest frame so that an oversize datagram is noticed even if
  // MSG_TRUNC were not reported.
  std::array<std::byte, protocol::kMaxFrameSize + 1> rx_{};
  protocol::FrameBuffer tx_{};
  boost::asio::socket_base::message_flags out_flags_ = 0;
  int malformed_ = 0;
  bool closed_ = false;
};

ControlServer::ControlServer(boost::asio::io_context& io, std::string bus)
    : bus_(std::move(bus)), acceptor_(io) {
  acceptor_.open(SeqPacketProtocol());
  set_cloexec(acceptor_.native_handle());
  boost::system::error_code ec;
  acceptor_.bind(abstract_endpoint(protocol::socket_address(bus_)), ec);
  if (ec == boost::asio::error::address_in_use) {
    const std::int32_t pid = ControlSegment::recorded_daemon_pid(bus_);
    throw Error(ErrorCode::daemon_running,
                pid > 0 ? fmt::format("bus '{}' is already served by a daemon (pid {})", bus_, pid)
                        : fmt::format("bus '{}' is already served by a daemon", bus_));
  }
  if (ec) {
    throw Error(ErrorCode::io_error,
                fmt::format("cannot bind the control socket of bus '{}': {}", bus_, ec.message()));
  }
}

ControlServer::~ControlServer() {
  close();
}

void ControlServer::listen(SessionHandler& handler) {
  handler_ = &handler;
  acceptor_.listen();
  accept();
}

void ControlServer::accept() {
  acceptor_.async_accept(
      [this](const boost::system::error_code& ec, SeqPacketProtocol::socket socket) {
        if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;
        if (ec) {
          // Typically EMFILE: keep serving the clients we have and try again.
          spdlog::warn("accepting a control connection failed: {}", ec.message());
        } else {
          set_cloexec(socket.native_handle());
          SessionState state;
          state.session_id = next_session_id_++;
          state.peer = peer_credentials(socket.native_handle());
          spdlog::debug("session {}: connection from pid {} uid {} gid {}", state.session_id,
                        state.peer.pid, state.peer.uid, state.peer.gid);
          auto session = std::make_shared<Session>(*this, std::move(socket), state);
          sessions_.emplace(state.session_id, session);
          session->start();
        }
        accept();
      });
}

void ControlServer::closed(std::uint64_t session_id) {
  sessions_.erase(session_id);
}

void ControlServer::close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (auto& [id, session] : sessions_)
    session->close(false);
  sessions_.clear();
}

}  // namespace shmbus::daemon
