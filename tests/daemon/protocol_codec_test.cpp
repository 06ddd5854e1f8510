// The control protocol's codec: every message round-trips, and every malformed frame is refused
// with a clear error without reading out of bounds.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "protocol/control_protocol.hpp"

namespace shmbus::protocol {
namespace {

std::vector<std::byte> encoded(const Body& body, std::uint32_t request_id = 7) {
  FrameBuffer buffer{};
  const std::size_t size = encode({MessageType{}, request_id, body}, buffer);
  return {buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(size)};
}

FrameHeader header_of(const std::vector<std::byte>& frame) {
  FrameHeader header{};
  std::memcpy(&header, frame.data(), sizeof(header));
  return header;
}

void set_header(std::vector<std::byte>& frame, const FrameHeader& header) {
  std::memcpy(frame.data(), &header, sizeof(header));
}

DecodeError decode_error(std::span<const std::byte> frame) {
  auto result = decode(frame);
  EXPECT_TRUE(std::holds_alternative<DecodeError>(result));
  if (auto* error = std::get_if<DecodeError>(&result)) return *error;
  return {};
}

template <typename T>
void expect_round_trip(const T& body, MessageType type) {
  const auto frame = encoded(body, 42);
  EXPECT_EQ(frame.size(), sizeof(FrameHeader) + sizeof(T));
  auto result = decode(frame);
  ASSERT_TRUE(std::holds_alternative<Message>(result)) << std::get<DecodeError>(result).text;
  const Message& message = std::get<Message>(result);
  EXPECT_EQ(message.type, type);
  EXPECT_EQ(message.request_id, 42U);
  ASSERT_TRUE(std::holds_alternative<T>(message.body));
  EXPECT_EQ(std::memcmp(&std::get<T>(message.body), &body, sizeof(T)), 0);
}

TEST(ProtocolCodec, EveryMessageRoundTrips) {
  Hello hello{};
  hello.layout_version = layout::kLayoutVersion;
  hello.library_version = 0x000100;
  hello.resume_client_id = 99;
  ASSERT_TRUE(copy_string(hello.client_name, "probe"));
  expect_round_trip(hello, MessageType::hello);

  HelloReply hello_reply{};
  hello_reply.client_id = 3;
  hello_reply.epoch = 2;
  ASSERT_TRUE(copy_string(hello_reply.control_segment, "/shmbus.x.ctl"));
  expect_round_trip(hello_reply, MessageType::hello_reply);

  OpenTopic open{};
  ASSERT_TRUE(copy_string(open.name, "md.equities.AAPL"));
  open.slot_size = 256;
  open.slot_count = 1024;
  open.policy = kPolicyUnspecified;
  open.flags = static_cast<std::uint32_t>(OpenFlags::must_exist);
  expect_round_trip(open, MessageType::open_topic);

  TopicReply topic_reply{};
  topic_reply.topic_id = 5;
  topic_reply.generation = 1;
  topic_reply.segment_size = 1 << 20;
  ASSERT_TRUE(copy_string(topic_reply.segment_name, "/shmbus.x.t5.1"));
  expect_round_trip(topic_reply, MessageType::topic_reply);

  expect_round_trip(AddPublisher{5, 1}, MessageType::add_publisher);
  expect_round_trip(PublisherReply{3, 0, 0x10003}, MessageType::publisher_reply);
  expect_round_trip(AddSubscriber{5, 1, 2, 0, 16}, MessageType::add_subscriber);
  expect_round_trip(SubscriberReply{1, 0, 1234}, MessageType::subscriber_reply);
  expect_round_trip(RemovePublisher{5, 1, 3, 0}, MessageType::remove_publisher);
  expect_round_trip(RemoveSubscriber{5, 1, 1, 0}, MessageType::remove_subscriber);
  expect_round_trip(Reattach{5, 1, 1, 7}, MessageType::reattach);
  expect_round_trip(OkReply{77}, MessageType::ok_reply);
  expect_round_trip(make_error(ErrorCode::topic_mismatch, "differs"), MessageType::error_reply);
}

TEST(ProtocolCodec, ShortFramesAreRefused) {
  const auto frame = encoded(OkReply{1});
  for (std::size_t size = 0; size < sizeof(FrameHeader); ++size) {
    const auto error = decode_error(std::span(frame.data(), size));
    EXPECT_EQ(error.code, ErrorCode::protocol_error);
    EXPECT_NE(error.text.find("shorter than its header"), std::string::npos) << error.text;
  }
  // A header whose body was cut short.
  const auto error = decode_error(std::span(frame.data(), frame.size() - 1));
  EXPECT_EQ(error.code, ErrorCode::protocol_error);
}

TEST(ProtocolCodec, WrongMagicIsRefused) {
  auto frame = encoded(OkReply{1});
  auto header = header_of(frame);
  header.magic ^= 1U;
  set_header(frame, header);
  const auto error = decode_error(frame);
  EXPECT_EQ(error.code, ErrorCode::protocol_error);
  EXPECT_NE(error.text.find("magic"), std::string::npos) << error.text;
}

TEST(ProtocolCodec, WrongVersionIsAVersionMismatch) {
  auto frame = encoded(OkReply{1});
  auto header = header_of(frame);
  header.version = kProtocolVersion + 1;
  set_header(frame, header);
  const auto error = decode_error(frame);
  EXPECT_EQ(error.code, ErrorCode::version_mismatch);
  EXPECT_NE(error.text.find("same release"), std::string::npos) << error.text;
}

TEST(ProtocolCodec, WrongBodySizeIsRefused) {
  // The header claims more than the frame carries.
  auto frame = encoded(AddPublisher{1, 1});
  auto header = header_of(frame);
  header.body_size += 4;
  set_header(frame, header);
  EXPECT_EQ(decode_error(frame).code, ErrorCode::protocol_error);

  // Consistent sizes, but not the size of the body type the header names.
  frame = encoded(AddPublisher{1, 1});
  frame.resize(frame.size() + 8);
  header = header_of(frame);
  header.body_size += 8;
  set_header(frame, header);
  const auto error = decode_error(frame);
  EXPECT_EQ(error.code, ErrorCode::protocol_error);
  EXPECT_NE(error.text.find("expected"), std::string::npos) << error.text;
}

TEST(ProtocolCodec, UnknownTypeIsRefused) {
  auto frame = encoded(OkReply{1});
  auto header = header_of(frame);
  header.type = 4242;
  set_header(frame, header);
  const auto error = decode_error(frame);
  EXPECT_EQ(error.code, ErrorCode::protocol_error);
  EXPECT_NE(error.text.find("unknown"), std::string::npos) << error.text;
}

TEST(ProtocolCodec, UnterminatedStringsAreRefused) {
  Hello hello{};
  std::memset(hello.client_name, 'x', sizeof(hello.client_name));
  auto error = decode_error(encoded(hello));
  EXPECT_EQ(error.code, ErrorCode::protocol_error);
  EXPECT_NE(error.text.find("unterminated"), std::string::npos) << error.text;

  OpenTopic open{};
  std::memset(open.name, 'a', sizeof(open.name));
  EXPECT_EQ(decode_error(encoded(open)).code, ErrorCode::protocol_error);

  TopicReply reply{};
  std::memset(reply.segment_name, 'a', sizeof(reply.segment_name));
  EXPECT_EQ(decode_error(encoded(reply)).code, ErrorCode::protocol_error);

  ErrorReply error_reply{};
  std::memset(error_reply.text, 'e', sizeof(error_reply.text));
  EXPECT_EQ(decode_error(encoded(error_reply)).code, ErrorCode::protocol_error);
}

TEST(ProtocolCodec, StringHelpersStayInBounds) {
  char small[4];
  EXPECT_TRUE(copy_string(small, "abc"));
  EXPECT_EQ(view_string(small), "abc");
  EXPECT_FALSE(copy_string(small, "abcd"));
  std::memset(small, 'z', sizeof(small));
  EXPECT_TRUE(view_string(small).empty());
  const auto error = make_error(ErrorCode::io_error, std::string(1000, 'q'));
  EXPECT_EQ(view_string(error.text).size(), kErrorTextCapacity - 1);
}

TEST(ProtocolCodec, SocketAddressNamesTheBus) {
  EXPECT_EQ(socket_address("alpha"), "shmbus/alpha/control");
}

}  // namespace
}  // namespace shmbus::protocol
