#include "protocol/control_protocol.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace shmbus::protocol {
namespace {

template <typename T>
constexpr MessageType type_of();
template <>
constexpr MessageType type_of<Hello>() {
  return MessageType::hello;
}
template <>
constexpr MessageType type_of<HelloReply>() {
  return MessageType::hello_reply;
}
template <>
constexpr MessageType type_of<OpenTopic>() {
  return MessageType::open_topic;
}
template <>
constexpr MessageType type_of<TopicReply>() {
  return MessageType::topic_reply;
}
template <>
constexpr MessageType type_of<AddPublisher>() {
  return MessageType::add_publisher;
}
template <>
constexpr MessageType type_of<PublisherReply>() {
  return MessageType::publisher_reply;
}
template <>
constexpr MessageType type_of<AddSubscriber>() {
  return MessageType::add_subscriber;
}
template <>
constexpr MessageType type_of<SubscriberReply>() {
  return MessageType::subscriber_reply;
}
template <>
constexpr MessageType type_of<RemovePublisher>() {
  return MessageType::remove_publisher;
}
template <>
constexpr MessageType type_of<RemoveSubscriber>() {
  return MessageType::remove_subscriber;
}
template <>
constexpr MessageType type_of<Reattach>() {
  return MessageType::reattach;
}
template <>
constexpr MessageType type_of<JoinGroup>() {
  return MessageType::join_group;
}
template <>
constexpr MessageType type_of<LeaveGroup>() {
  return MessageType::leave_group;
}
template <>
constexpr MessageType type_of<DeclareGroup>() {
  return MessageType::declare_group;
}
template <>
constexpr MessageType type_of<GroupReply>() {
  return MessageType::group_reply;
}
template <>
constexpr MessageType type_of<OkReply>() {
  return MessageType::ok_reply;
}
template <>
constexpr MessageType type_of<ErrorReply>() {
  return MessageType::error_reply;
}

template <std::size_t N>
bool terminated(const char (&text)[N]) {
  return std::memchr(text, '\0', N) != nullptr;
}

// Strings inside a body must end within their arrays, so that later string_view use is safe.
bool strings_terminated(const Body& body) {
  return std::visit(
      [](const auto& b) -> bool {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, Hello>) return terminated(b.client_name);
        if constexpr (std::is_same_v<T, HelloReply>) return terminated(b.control_segment);
        if constexpr (std::is_same_v<T, OpenTopic>) return terminated(b.name);
        if constexpr (std::is_same_v<T, TopicReply>) return terminated(b.segment_name);
        if constexpr (std::is_same_v<T, ErrorReply>) return terminated(b.text);
        if constexpr (std::is_same_v<T, JoinGroup> || std::is_same_v<T, DeclareGroup>) {
          return terminated(b.group) && terminated(b.settings.dead_letter_topic);
        }
        return true;
      },
      body);
}

template <typename T>
std::variant<Message, DecodeError> decode_body(const FrameHeader& header,
                                               std::span<const std::byte> body) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (body.size() != sizeof(T)) {
    return DecodeError{ErrorCode::protocol_error,
                       fmt::format("control message type {} has a {}-byte body, expected {}",
                                   header.type, body.size(), sizeof(T))};
  }
  T value;
  std::memcpy(&value, body.data(), sizeof(T));
  Message message{static_cast<MessageType>(header.type), header.request_id, value};
  if (!strings_terminated(message.body)) {
    return DecodeError{
        ErrorCode::protocol_error,
        fmt::format("control message type {} has an unterminated string", header.type)};
  }
  return message;
}

}  // namespace

std::size_t encode(const Message& message, FrameBuffer& out) {
  return std::visit(
      [&](const auto& body) -> std::size_t {
        using T = std::decay_t<decltype(body)>;
        static_assert(sizeof(FrameHeader) + sizeof(T) <= kMaxFrameSize);
        FrameHeader header{kMagic, kProtocolVersion, static_cast<std::uint16_t>(type_of<T>()),
                           message.request_id, static_cast<std::uint32_t>(sizeof(T))};
        std::memcpy(out.data(), &header, sizeof(header));
        std::memcpy(out.data() + sizeof(header), &body, sizeof(T));
        return sizeof(header) + sizeof(T);
      },
      message.body);
}

std::variant<Message, DecodeError> decode(std::span<const std::byte> frame) {
  if (frame.size() < sizeof(FrameHeader)) {
    return DecodeError{
        ErrorCode::protocol_error,
        fmt::format("control message of {} bytes is shorter than its header", frame.size())};
  }
  FrameHeader header;
  std::memcpy(&header, frame.data(), sizeof(header));
  if (header.magic != kMagic) {
    return DecodeError{ErrorCode::protocol_error, "control message has a wrong magic number"};
  }
  if (header.version != kProtocolVersion) {
    return DecodeError{ErrorCode::version_mismatch,
                       fmt::format("control protocol version {} is not the supported version {}: "
                                   "use a libshmbus and shmbusd of the same release",
                                   header.version, kProtocolVersion)};
  }
  const auto body = frame.subspan(sizeof(FrameHeader));
  if (header.body_size != body.size()) {
    return DecodeError{ErrorCode::protocol_error,
                       fmt::format("control message says {} body bytes but carries {}",
                                   header.body_size, body.size())};
  }
  switch (static_cast<MessageType>(header.type)) {
    case MessageType::hello:
      return decode_body<Hello>(header, body);
    case MessageType::hello_reply:
      return decode_body<HelloReply>(header, body);
    case MessageType::open_topic:
      return decode_body<OpenTopic>(header, body);
    case MessageType::topic_reply:
      return decode_body<TopicReply>(header, body);
    case MessageType::add_publisher:
      return decode_body<AddPublisher>(header, body);
    case MessageType::publisher_reply:
      return decode_body<PublisherReply>(header, body);
    case MessageType::add_subscriber:
      return decode_body<AddSubscriber>(header, body);
    case MessageType::subscriber_reply:
      return decode_body<SubscriberReply>(header, body);
    case MessageType::remove_publisher:
      return decode_body<RemovePublisher>(header, body);
    case MessageType::remove_subscriber:
      return decode_body<RemoveSubscriber>(header, body);
    case MessageType::reattach:
      return decode_body<Reattach>(header, body);
    case MessageType::join_group:
      return decode_body<JoinGroup>(header, body);
    case MessageType::leave_group:
      return decode_body<LeaveGroup>(header, body);
    case MessageType::declare_group:
      return decode_body<DeclareGroup>(header, body);
    case MessageType::group_reply:
      return decode_body<GroupReply>(header, body);
    case MessageType::ok_reply:
      return decode_body<OkReply>(header, body);
    case MessageType::error_reply:
      return decode_body<ErrorReply>(header, body);
  }
  return DecodeError{ErrorCode::protocol_error,
                     fmt::format("unknown control message type {}", header.type)};
}

bool copy_string(std::span<char> destination, std::string_view text) {
  if (destination.empty() || text.size() >= destination.size()) return false;
  std::memcpy(destination.data(), text.data(), text.size());
  destination[text.size()] = '\0';
  return true;
}

std::string_view view_string(std::span<const char> source) {
  const void* end = std::memchr(source.data(), '\0', source.size());
  if (end == nullptr) return {};
  return {source.data(), static_cast<std::size_t>(static_cast<const char*>(end) - source.data())};
}

std::string socket_address(std::string_view bus) {
  return fmt::format("shmbus/{}/control", bus);
}

SocketAddress control_socket_address(std::string_view bus) {
  SocketAddress result{};
  result.address.sun_family = AF_UNIX;
  const std::string name = socket_address(bus);
  // Abstract namespace: a leading NUL byte, then the name (not NUL-terminated). Bus names are at
  // most 63 bytes, so the name always fits in sun_path.
  const std::size_t length = std::min(name.size(), sizeof(result.address.sun_path) - 1);
  std::memcpy(result.address.sun_path + 1, name.data(), length);
  result.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + length);
  return result;
}

ErrorReply make_error(ErrorCode code, std::string_view text) {
  ErrorReply reply{};
  reply.code = static_cast<std::uint16_t>(code);
  const std::size_t length = std::min(text.size(), kErrorTextCapacity - 1);
  std::memcpy(reply.text, text.data(), length);
  reply.text[length] = '\0';
  return reply;
}

}  // namespace shmbus::protocol
