// Boost 1.74's Asio has local::stream_protocol and local::datagram_protocol but no seq_packet
// protocol; this supplies one for AF_UNIX SOCK_SEQPACKET, the control socket's transport.
#pragma once

#include <sys/socket.h>

#include <boost/asio/basic_seq_packet_socket.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/local/basic_endpoint.hpp>
#include <string>
#include <string_view>

namespace shmbus::daemon {

class SeqPacketProtocol {
 public:
  [[nodiscard]] int type() const noexcept { return SOCK_SEQPACKET; }
  [[nodiscard]] int protocol() const noexcept { return 0; }
  [[nodiscard]] int family() const noexcept { return AF_UNIX; }

  using endpoint = boost::asio::local::basic_endpoint<SeqPacketProtocol>;
  using socket = boost::asio::basic_seq_packet_socket<SeqPacketProtocol>;
  using acceptor = boost::asio::basic_socket_acceptor<SeqPacketProtocol>;
};

// The endpoint of an abstract-namespace address given without its leading NUL.
inline SeqPacketProtocol::endpoint abstract_endpoint(std::string_view name) {
  std::string path(1, '\0');
  path.append(name);
  return SeqPacketProtocol::endpoint(path);
}

}  // namespace shmbus::daemon
