// The one definition of the control protocol between libshmbus and shmbusd.
//
// Transport: a Unix-domain SOCK_SEQPACKET socket in the abstract namespace (socket_address()), so
// each datagram is one whole message, the kernel reports the peer's death as EOF at once and
// SO_PEERCRED gives the peer's pid, uid and gid. No file is left behind when the daemon dies.
//
// Frame: FrameHeader followed by exactly one body struct of the type the header names. Bodies are
// fixed-size trivially copyable structs; strings are NUL-terminated char arrays. decode() checks
// magic, version, type, body size and string termination, so a malformed message is rejected with
// a clear error and never read out of bounds. Requests carry a request_id that the reply echoes.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "layout/shm_layout.hpp"
#include "shmbus/error.hpp"

namespace shmbus::protocol {

inline constexpr std::uint32_t kMagic = 0x50434253;  // "SBCP"
inline constexpr std::uint16_t kProtocolVersion = 2;
inline constexpr std::size_t kErrorTextCapacity = 256;

enum class MessageType : std::uint16_t {
  hello = 1,              // Hello -> HelloReply
  open_topic = 2,         // OpenTopic -> TopicReply (creates the topic if absent)
  add_publisher = 3,      // AddPublisher -> PublisherReply
  remove_publisher = 4,   // RemovePublisher -> OkReply
  add_subscriber = 5,     // AddSubscriber -> SubscriberReply
  remove_subscriber = 6,  // RemoveSubscriber -> OkReply
  reattach = 7,           // Reattach -> OkReply: after a daemon restart, reclaim a record
  join_group = 8,         // JoinGroup -> GroupReply (creates the group if absent)
  leave_group = 9,        // LeaveGroup -> OkReply: requeues what the member held
  declare_group = 10,     // DeclareGroup -> GroupReply (member_index unused)
  hello_reply = 101,
  topic_reply = 102,
  publisher_reply = 103,
  subscriber_reply = 104,
  ok_reply = 105,
  group_reply = 106,
  error_reply = 199,
};

struct FrameHeader {
  std::uint32_t magic;
  std::uint16_t version;
  std::uint16_t type;  // MessageType
  std::uint32_t request_id;
  std::uint32_t body_size;
};

struct Hello {
  std::uint32_t layout_version;
  std::uint32_t library_version;
  std::uint64_t resume_client_id;  // 0: a new client; else the id it had before a daemon restart
  char client_name[layout::kClientNameCapacity];
};

struct HelloReply {
  std::uint64_t client_id;
  std::uint64_t epoch;
  std::uint32_t daemon_version;
  std::uint32_t layout_version;
  char control_segment[layout::kSegmentNameCapacity];
};

// must_exist: fail with not_found rather than create. temporary: a topic this request creates
// belongs to the requesting client and is deleted when that client detaches or removes its last
// publisher, subscriber or group member on it (AMQP's exclusive auto-delete queue).
enum class OpenFlags : std::uint32_t { none = 0, must_exist = 1, temporary = 2 };

struct OpenTopic {
  char name[layout::kNameCapacity];
  std::uint32_t slot_size;   // 0: the existing topic's, or the daemon's default
  std::uint32_t slot_count;  // 0: likewise
  std::uint32_t policy;      // kPolicyUnspecified, or a layout::FullPolicy
  std::uint32_t flags;       // OpenFlags
};
inline constexpr std::uint32_t kPolicyUnspecified = 0xffffffffU;

struct TopicReply {
  std::uint32_t topic_id;
  std::uint32_t generation;
  std::uint32_t slot_size;
  std::uint32_t slot_count;
  std::uint32_t policy;
  std::uint32_t reserved;
  std::uint64_t segment_size;
  char segment_name[layout::kSegmentNameCapacity];
};

struct AddPublisher {
  std::uint32_t topic_id;
  std::uint32_t generation;
};

struct PublisherReply {
  std::uint32_t index;  // into the topic segment's PublisherRecord table
  std::uint32_t reserved;
  std::uint64_t publisher_id;
};

enum class StartFrom : std::uint32_t { latest = 0, earliest = 1, last_n = 2 };

struct AddSubscriber {
  std::uint32_t topic_id;
  std::uint32_t generation;
  std::uint32_t start;  // StartFrom
  std::uint32_t reserved;
  std::uint64_t last_n;
};

struct SubscriberReply {
  std::uint32_t index;  // into the topic segment's SubscriberRecord table
  std::uint32_t reserved;
  std::uint64_t start_sequence;
};

enum class RecordKind : std::uint32_t { publisher = 0, subscriber = 1, group_member = 2 };

// How a group behaves; applied when the request creates the group. An existing group keeps its own
// settings, except that a DeclareGroup (or a JoinGroup with kGroupDeclared) makes it durable.
struct GroupSettings {
  std::uint32_t flags;           // layout::GroupFlags
  std::uint32_t max_deliveries;  // 0: unlimited
  std::uint32_t ack_timeout_ms;  // 0: none
  std::uint32_t reserved;
  char dead_letter_topic[layout::kNameCapacity];  // empty: "<topic>.dlq"
};

struct JoinGroup {
  std::uint32_t topic_id;
  std::uint32_t generation;
  char group[layout::kGroupNameCapacity];
  GroupSettings settings;
  std::uint32_t prefetch;  // most messages the member holds unacked
  std::uint32_t reserved;
};

struct DeclareGroup {
  std::uint32_t topic_id;
  std::uint32_t generation;
  char group[layout::kGroupNameCapacity];
  GroupSettings settings;
};

struct GroupReply {
  std::uint32_t group_index;   // into the topic segment's GroupRecord table
  std::uint32_t member_index;  // into the group's GroupMemberRecord table (JoinGroup)
};

struct LeaveGroup {
  std::uint32_t topic_id;
  std::uint32_t generation;
  std::uint32_t group_index;
  std::uint32_t member_index;
};

struct RemovePublisher {
  std::uint32_t topic_id;
  std::uint32_t generation;
  std::uint32_t index;
  std::uint32_t reserved;
};

struct RemoveSubscriber {
  std::uint32_t topic_id;
  std::uint32_t generation;
  std::uint32_t index;
  std::uint32_t reserved;
};

struct Reattach {
  std::uint32_t topic_id;
  std::uint32_t generation;
  std::uint32_t kind;   // RecordKind
  std::uint32_t index;  // group members: group_index * max_group_members + member_index
};

struct OkReply {
  std::uint64_t value;
};

struct ErrorReply {
  std::uint16_t code;  // shmbus::ErrorCode
  std::uint16_t reserved[3];
  char text[kErrorTextCapacity];
};

using Body =
    std::variant<Hello, HelloReply, OpenTopic, TopicReply, AddPublisher, PublisherReply,
                 AddSubscriber, SubscriberReply, RemovePublisher, RemoveSubscriber, Reattach,
                 JoinGroup, LeaveGroup, DeclareGroup, GroupReply, OkReply, ErrorReply>;

struct Message {
  MessageType type;
  std::uint32_t request_id;
  Body body;
};

// Largest encoded frame; a receive buffer of this size always suffices.
inline constexpr std::size_t kMaxFrameSize = 512;
using FrameBuffer = std::array<std::byte, kMaxFrameSize>;

// Encodes `message` into `out`; returns the number of bytes written.
std::size_t encode(const Message& message, FrameBuffer& out);

struct DecodeError {
  ErrorCode code;
  std::string text;
};

// Decodes one received datagram. Never reads outside `frame`.
std::variant<Message, DecodeError> decode(std::span<const std::byte> frame);

// Copies `text` into a fixed char array, NUL-terminated; false if it does not fit.
bool copy_string(std::span<char> destination, std::string_view text);
// The string in a fixed char array; empty if it is not NUL-terminated within the array.
std::string_view view_string(std::span<const char> source);

// The abstract-namespace address of a bus's control socket (without the leading NUL byte).
std::string socket_address(std::string_view bus);

// The same address as a sockaddr for connect() on a raw socket.
struct SocketAddress {
  sockaddr_un address;
  socklen_t length;
};
SocketAddress control_socket_address(std::string_view bus);

ErrorReply make_error(ErrorCode code, std::string_view text);

}  // namespace shmbus::protocol
