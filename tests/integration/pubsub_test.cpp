// Publishers and subscribers in separate processes over a real shmbusd.
#include <gtest/gtest.h>

#include "bus_fixture.hpp"
#include "shmbus/shmbus.hpp"

namespace shmbus::testing {
namespace {

struct Expected {
  std::uint64_t received;
  std::vector<std::uint64_t> per_tag;
};

void expect_lossless(ChildProcess& subscriber, const Expected& expected) {
  const auto result = subscriber.wait_for_line("RESULT", kRunTimeout);
  ASSERT_TRUE(result) << "subscriber produced no result";
  EXPECT_EQ(field(*result, "received"), expected.received) << *result;
  EXPECT_EQ(field(*result, "gaps"), 0U) << *result;
  EXPECT_EQ(field(*result, "duplicates"), 0U) << *result;
  EXPECT_EQ(field(*result, "corrupt"), 0U) << *result;
  EXPECT_EQ(field(*result, "overwritten"), 0U) << *result;
  EXPECT_EQ(field(*result, "lost"), 0U) << *result;
  EXPECT_EQ(field(*result, "sequence_errors"), 0U) << *result;
  for (std::size_t tag = 0; tag < expected.per_tag.size(); ++tag) {
    EXPECT_EQ(field(*result, "tag" + std::to_string(tag)), expected.per_tag[tag]) << *result;
  }
  const auto status = subscriber.wait(kStartTimeout);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

void expect_exit_ok(ChildProcess& child) {
  const auto status = child.wait(kRunTimeout);
  ASSERT_TRUE(status) << "child did not finish";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "status " << *status;
}

using PubSub = BusTest;

// 2 publishers x 2 subscribers x 10^6 messages in a block topic: every subscriber sees every
// message exactly once, each publisher's in order, one order for all.
TEST_F(PubSub, MillionMessagesBlockModeLoseNothing) {
  constexpr std::uint64_t kPerPublisher = 500'000;
  const std::string topic = "it.stream";
  auto sub_a = spawn_subscriber(topic, 2);
  auto sub_b = spawn_subscriber(topic, 2, "block");
  auto pub_0 = spawn_publisher(topic, 0, kPerPublisher);
  auto pub_1 = spawn_publisher(topic, 1, kPerPublisher);
  expect_exit_ok(pub_0);
  expect_exit_ok(pub_1);
  publish_end_markers(topic, 2);
  expect_lossless(sub_a, {2 * kPerPublisher, {kPerPublisher, kPerPublisher}});
  expect_lossless(sub_b, {2 * kPerPublisher, {kPerPublisher, kPerPublisher}});
}

// An overwrite topic with a small ring and a sleeping subscriber: the publisher never waits, and
// the subscriber is told exactly how many messages it lost.
TEST_F(PubSub, OverwriteModeReportsExactLoss) {
  constexpr std::uint64_t kCount = 200'000;
  const std::string topic = "it.lossy";
  Client client(ClientOptions{bus_, "test-driver"});
  client.open_topic(topic, TopicOptions{64, 64, FullPolicy::overwrite});
  auto subscriber = spawn_subscriber(topic, 1, "block");
  auto publisher = spawn_publisher(topic, 0, kCount);
  expect_exit_ok(publisher);
  publish_end_markers(topic, 1);
  const auto result = subscriber.wait_for_line("RESULT", kRunTimeout);
  ASSERT_TRUE(result);
  const auto received = *field(*result, "received");
  const auto gaps = *field(*result, "gaps");
  const auto lost = *field(*result, "lost");
  const auto overwritten = *field(*result, "overwritten");
  EXPECT_EQ(field(*result, "duplicates"), 0U) << *result;
  EXPECT_EQ(field(*result, "corrupt"), 0U) << *result;
  EXPECT_EQ(field(*result, "sequence_errors"), 0U) << *result;
  // Every index is either received, reported lost, or detected as overwritten while being read.
  EXPECT_EQ(gaps, lost + overwritten) << *result;
  EXPECT_EQ(received + gaps, kCount) << *result;
  EXPECT_EQ(field(*result, "tag0"), kCount) << *result;
}

}  // namespace
}  // namespace shmbus::testing
