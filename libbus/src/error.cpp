#include "shmbus/error.hpp"

#include "shmbus/topic_options.hpp"

namespace shmbus {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::ok:
      return "ok";
    case ErrorCode::invalid_name:
      return "invalid_name";
    case ErrorCode::invalid_argument:
      return "invalid_argument";
    case ErrorCode::message_too_large:
      return "message_too_large";
    case ErrorCode::version_mismatch:
      return "version_mismatch";
    case ErrorCode::no_daemon:
      return "no_daemon";
    case ErrorCode::daemon_running:
      return "daemon_running";
    case ErrorCode::permission_denied:
      return "permission_denied";
    case ErrorCode::corrupted_segment:
      return "corrupted_segment";
    case ErrorCode::topic_mismatch:
      return "topic_mismatch";
    case ErrorCode::limit_reached:
      return "limit_reached";
    case ErrorCode::not_found:
      return "not_found";
    case ErrorCode::protocol_error:
      return "protocol_error";
    case ErrorCode::io_error:
      return "io_error";
    case ErrorCode::timeout:
      return "timeout";
    case ErrorCode::disconnected:
      return "disconnected";
    case ErrorCode::config_error:
      return "config_error";
  }
  return "unknown";
}

std::string_view to_string(Status status) noexcept {
  switch (status) {
    case Status::ok:
      return "ok";
    case Status::empty:
      return "empty";
    case Status::timeout:
      return "timeout";
    case Status::full:
      return "full";
    case Status::too_large:
      return "too_large";
    case Status::closed:
      return "closed";
    case Status::not_held:
      return "not_held";
    case Status::no_responders:
      return "no_responders";
    case Status::not_a_request:
      return "not_a_request";
    case Status::unreachable:
      return "unreachable";
  }
  return "unknown";
}

std::string_view to_string(FullPolicy policy) noexcept {
  return policy == FullPolicy::overwrite ? "overwrite" : "block";
}

std::optional<FullPolicy> parse_full_policy(std::string_view text) noexcept {
  if (text == "block") return FullPolicy::block;
  if (text == "overwrite") return FullPolicy::overwrite;
  return std::nullopt;
}

}  // namespace shmbus
