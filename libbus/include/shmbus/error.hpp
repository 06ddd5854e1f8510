// Errors: setup calls throw shmbus::Error; hot-path calls return a Status and never throw.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace shmbus {

enum class ErrorCode : std::uint16_t {
  ok = 0,
  invalid_name,       // a topic or bus name breaks the naming rules
  invalid_argument,   // a size, count or option is out of range
  message_too_large,  // payload larger than the topic's slot size
  version_mismatch,   // protocol or layout version differs between library and daemon
  no_daemon,          // nothing serves the bus's control socket
  daemon_running,     // a second daemon was started on a bus that has one
  permission_denied,  // the kernel or the daemon's ACL refused access
  corrupted_segment,  // a shared-memory segment failed validation
  topic_mismatch,     // a topic exists with other slot size, slot count or policy
  limit_reached,      // a table (topics, clients, publishers, subscribers) is full
  not_found,          // a topic, record or segment does not exist
  protocol_error,     // a malformed control message
  io_error,           // a system call failed
  timeout,            // a wait ran out
  disconnected,       // the daemon closed the control connection
  config_error,       // the daemon's configuration file is invalid
};

std::string_view to_string(ErrorCode code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  [[nodiscard]] ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// What a hot-path call did. Never allocated, never thrown.
enum class Status : std::uint8_t {
  ok = 0,
  empty,      // try_receive: nothing new yet
  timeout,    // a blocking call's deadline passed
  full,       // block-mode publish that may not wait (try_publish) found the ring full
  too_large,  // payload larger than the topic's slot size
  closed,     // the publisher or subscriber was moved from or closed
  not_held,   // ack/nack of a message this group member does not hold (foreign, already settled,
              // or taken back after its ack timeout)
  no_responders,  // a request found no responder group on its service topic
  not_a_request,  // a reply to a message that carries no reply-to or correlation id
  unreachable,    // a reply topic could not be opened (daemon away, access refused)
};

std::string_view to_string(Status status) noexcept;

}  // namespace shmbus
