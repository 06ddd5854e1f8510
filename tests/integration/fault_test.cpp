// SIGKILL of publishers, subscribers and the daemon at random moments: the others go on, and
// nothing is lost, duplicated or reordered.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <optional>
#include <random>

#include "bus_fixture.hpp"
#include "layout/naming.hpp"
#include "layout/segment_format.hpp"
#include "shm/segment.hpp"
#include "shmbus/shmbus.hpp"

namespace shmbus::testing {
namespace {

using Faults = BusTest;

// A random moment to inject a fault. The outcome checked never depends on it: it only varies
// where in its work the victim dies.
void random_pause(std::mt19937& random) {
  std::uniform_int_distribution<long> microseconds(1'000, 40'000);
  timespec pause{0, microseconds(random) * 1000};
  nanosleep(&pause, nullptr);
}

std::mt19937 seeded_random() {
  const auto seed = static_cast<unsigned>(::getpid());
  std::printf("fault injection seed %u\n", seed);
  return std::mt19937(seed);
}

void expect_exit_ok(ChildProcess& child) {
  const auto status = child.wait(kRunTimeout);
  ASSERT_TRUE(status) << "child did not finish";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "status " << *status;
}

std::string expect_clean_result(ChildProcess& subscriber) {
  const auto result = subscriber.wait_for_line("RESULT", kRunTimeout);
  EXPECT_TRUE(result) << "subscriber produced no result";
  if (!result) return {};
  EXPECT_EQ(field(*result, "gaps"), 0U) << *result;
  EXPECT_EQ(field(*result, "duplicates"), 0U) << *result;
  EXPECT_EQ(field(*result, "corrupt"), 0U) << *result;
  EXPECT_EQ(field(*result, "lost"), 0U) << *result;
  EXPECT_EQ(field(*result, "sequence_errors"), 0U) << *result;
  return *result;
}

// A publisher killed mid-publish (between claim and commit, or mid-loan) holds no one up: its
// unpublished slot is aborted by the daemon, readers skip it, and what it did publish arrives
// whole and in order.
TEST_F(Faults, PublisherKilledMidPublish) {
  constexpr std::uint64_t kSurvivorCount = 200'000;
  auto random = seeded_random();
  for (int round = 0; round < 3; ++round) {
    const std::string topic = "it.kill.pub" + std::to_string(round);
    Client client(ClientOptions{bus_, "test-driver"});
    client.open_topic(topic, TopicOptions{64, 256, FullPolicy::block});
    auto subscriber = spawn_subscriber(topic, 2);
    auto victim = spawn_publisher(topic, 0, 0);  // publishes until killed
    auto survivor = spawn_publisher(topic, 1, kSurvivorCount);
    random_pause(random);
    victim.kill(SIGKILL);
    ASSERT_TRUE(victim.wait(kStartTimeout));
    expect_exit_ok(survivor);
    publish_end_markers(topic, 2);
    const auto result = expect_clean_result(subscriber);
    EXPECT_EQ(field(result, "tag1"), kSurvivorCount) << result;
    expect_exit_ok(subscriber);
  }
}

// A subscriber killed mid-receive stops gating the block-mode publisher at once; the other
// subscriber still gets everything.
TEST_F(Faults, SubscriberKilledMidReceive) {
  constexpr std::uint64_t kCount = 200'000;
  auto random = seeded_random();
  const std::string topic = "it.kill.sub";
  Client client(ClientOptions{bus_, "test-driver"});
  client.open_topic(topic, TopicOptions{64, 64, FullPolicy::block});
  auto victim = spawn_subscriber(topic, 1);
  auto survivor = spawn_subscriber(topic, 1);
  auto publisher = spawn_publisher(topic, 0, kCount);
  random_pause(random);
  victim.kill(SIGKILL);
  ASSERT_TRUE(victim.wait(kStartTimeout));
  expect_exit_ok(publisher);
  publish_end_markers(topic, 1);
  const auto result = expect_clean_result(survivor);
  EXPECT_EQ(field(result, "received"), kCount) << result;
  expect_exit_ok(survivor);
}

// The daemon killed with SIGKILL while messages flow: publishers and subscribers carry on; a new
// daemon adopts the segments; clients re-register by themselves; nothing is lost.
TEST_F(Faults, DaemonKilledAndRestartedAdoptsTheBus) {
  constexpr std::uint64_t kCount = 300'000;
  auto random = seeded_random();
  const std::string topic = "it.kill.daemon";
  auto subscriber = spawn_subscriber(topic, 1);
  auto publisher = spawn_publisher(topic, 0, kCount);
  random_pause(random);
  daemon().kill(SIGKILL);
  ASSERT_TRUE(daemon().wait(kStartTimeout));
  daemon_.reset();
  start_daemon();
  expect_exit_ok(publisher);
  publish_end_markers(topic, 1);
  const auto result = expect_clean_result(subscriber);
  EXPECT_EQ(field(result, "received"), kCount) << result;
  expect_exit_ok(subscriber);

  auto control = shm::Segment::open(naming::control_segment_name(bus_), shm::Access::read_only);
  ASSERT_FALSE(layout::validate_control(control.address(), control.size()));
  const auto* header = static_cast<const layout::ControlHeader*>(control.address());
  EXPECT_EQ(header->epoch.load(), 2U);
  EXPECT_EQ(header->daemon_pid.load(), daemon().pid());
}

// A process drops a subscriber, a publisher and a group membership while the daemon is down.
// Dropping them does not wait for a new daemon, and once one serves the bus the client removes
// the records: the dropped subscriber's cursor no longer holds the block topic's publishers back.
TEST_F(Faults, RecordsDroppedWhileTheDaemonIsDownAreRemovedByTheNextDaemon) {
  constexpr std::uint32_t kSlots = 64;
  const std::string topic = "it.down.drop";
  Client client(ClientOptions{bus_, "faults"});
  auto reader = client.subscriber(topic, {}, TopicOptions{64, kSlots, FullPolicy::block});
  PublisherOptions options;
  options.block_timeout = std::chrono::milliseconds(2'000);
  auto publisher = client.publisher(topic, {}, options);
  std::optional<Subscriber> dropped_subscriber = client.subscriber(topic);
  std::optional<Publisher> dropped_publisher = client.publisher(topic);
  std::optional<GroupConsumer> dropped_member = client.join_group(topic, "workers");
  daemon().kill(SIGKILL);
  ASSERT_TRUE(daemon().wait(kStartTimeout));
  daemon_.reset();

  // Each would wait 2 s for a new daemon if it called one.
  const auto started = std::chrono::steady_clock::now();
  dropped_subscriber.reset();
  dropped_publisher.reset();
  dropped_member.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1'500));

  start_daemon();
  // A call waits for the client to reconnect, which sends the removals it kept first.
  auto after_restart = client.publisher("it.down.other");
  // Four laps of the ring: a cursor left at 0 would stop the publisher at the 65th message.
  for (std::uint64_t i = 0; i < 4 * kSlots; ++i) {
    ASSERT_EQ(publisher.publish(i), Status::ok) << "message " << i;
    Message message;
    ASSERT_EQ(reader.try_receive(message), Status::ok);
    EXPECT_EQ(message.as<std::uint64_t>(), i);
  }
  // The group was undeclared: its last member's leave deleted it, so its floor holds nothing back
  // either, and a new member starts a new group.
  auto member = client.join_group(topic, "workers");
  Message message;
  EXPECT_EQ(member.try_receive(message), Status::empty);
}

}  // namespace
}  // namespace shmbus::testing
