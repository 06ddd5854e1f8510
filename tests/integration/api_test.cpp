// The client API against a real shmbusd, mostly from one process (a few tests publish from child
// processes): start positions, loans, waiting, file descriptors, and every kind of bad input.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include <variant>

#include "bus_fixture.hpp"
#include "layout/naming.hpp"
#include "layout/segment_format.hpp"
#include "layout/shm_layout.hpp"
#include "shm/segment.hpp"
#include "shmbus/shmbus.hpp"
#include "wait/futex.hpp"

namespace shmbus::testing {
namespace {

using std::chrono::milliseconds;
using Api = BusTest;

// The segment name the daemon gave `topic`, read from the bus's directory.
std::string topic_segment_of(const std::string& bus, const std::string& topic) {
  auto control = shm::Segment::open(naming::control_segment_name(bus), shm::Access::read_only);
  EXPECT_FALSE(layout::validate_control(control.address(), control.size()));
  const auto* header = static_cast<const layout::ControlHeader*>(control.address());
  const auto* entries = layout::topic_entries(control.address());
  for (std::uint32_t i = 0; i < header->max_topics; ++i) {
    layout::TopicEntry entry;
    if (!layout::read_topic_entry(entries[i], entry)) continue;
    if (entry.state.load() == static_cast<std::uint32_t>(layout::EntryState::active) &&
        topic == entry.name) {
      return entry.segment_name;
    }
  }
  ADD_FAILURE() << "topic " << topic << " not in the directory";
  return {};
}

std::uint64_t value_of(const Message& message) {
  return message.as<std::uint64_t>().value_or(~0ULL);
}

TEST_F(Api, ReportsVersionsAndBus) {
  Client client(ClientOptions{bus_, "api"});
  EXPECT_EQ(client.bus(), bus_);
  EXPECT_NE(client.id(), 0U);
  const auto versions = client.versions();
  EXPECT_EQ(versions.library, kVersionString);
  EXPECT_EQ(versions.daemon, kVersionString);
  EXPECT_EQ(versions.layout, layout::kLayoutVersion);
}

TEST_F(Api, CopyPublishLoanAndTypedReceive) {
  Client client(ClientOptions{bus_, "api"});
  auto subscriber = client.subscriber("api.basic");
  auto publisher = client.publisher("api.basic");
  ASSERT_EQ(publisher.publish(std::uint64_t{41}), Status::ok);
  {
    Loan loan = publisher.loan(sizeof(std::uint64_t));
    ASSERT_TRUE(loan);
    const std::uint64_t value = 42;
    std::memcpy(loan.data().data(), &value, sizeof(value));
    ASSERT_EQ(loan.commit(), Status::ok);
  }
  { Loan abandoned = publisher.loan(8); }  // given back unpublished: skipped by readers
  ASSERT_EQ(publisher.publish(std::uint64_t{43}), Status::ok);

  Message message;
  for (std::uint64_t expected : {41U, 42U, 43U}) {
    ASSERT_EQ(subscriber.receive(message, milliseconds(1000)), Status::ok);
    EXPECT_EQ(value_of(message), expected);
    EXPECT_EQ(message.publisher_id(), publisher.id());
    EXPECT_GT(message.publish_time_ns(), 0U);
    EXPECT_TRUE(message.still_valid());
  }
  EXPECT_EQ(subscriber.try_receive(message), Status::empty);
  EXPECT_EQ(subscriber.receive(message, milliseconds(5)), Status::timeout);
}

TEST_F(Api, StartPositionsGiveHistoryToLateJoiners) {
  Client client(ClientOptions{bus_, "api"});
  auto publisher = client.publisher("api.history", TopicOptions{64, 8, FullPolicy::overwrite});
  for (std::uint64_t i = 0; i < 20; ++i)
    ASSERT_EQ(publisher.publish(i), Status::ok);
  auto latest = client.subscriber("api.history");
  auto earliest = client.subscriber("api.history", {StartPosition::earliest()});
  auto last3 = client.subscriber("api.history", {StartPosition::last(3)});
  Message message;
  EXPECT_EQ(latest.try_receive(message), Status::empty);
  ASSERT_EQ(earliest.try_receive(message), Status::ok);
  EXPECT_EQ(value_of(message), 12U);
  for (std::uint64_t expected : {17U, 18U, 19U}) {
    ASSERT_EQ(last3.try_receive(message), Status::ok);
    EXPECT_EQ(value_of(message), expected);
  }
  EXPECT_EQ(last3.try_receive(message), Status::empty);
}

TEST_F(Api, BlockTopicTimesOutWhenTheSubscriberDoesNotRead) {
  Client client(ClientOptions{bus_, "api"});
  auto subscriber = client.subscriber("api.full", {}, TopicOptions{64, 4, FullPolicy::block});
  PublisherOptions options;
  options.block_timeout = milliseconds(20);
  auto publisher = client.publisher("api.full", {}, options);
  for (std::uint64_t i = 0; i < 4; ++i)
    ASSERT_EQ(publisher.publish(i), Status::ok);
  EXPECT_EQ(publisher.try_publish(std::as_bytes(std::span("x", 1))), Status::full);
  EXPECT_EQ(publisher.publish(std::uint64_t{4}), Status::timeout);
  Message message;
  ASSERT_EQ(subscriber.try_receive(message), Status::ok);
  ASSERT_EQ(subscriber.try_receive(message), Status::ok);
  EXPECT_EQ(publisher.publish(std::uint64_t{4}), Status::ok);
}

TEST_F(Api, WaitSetAndFileDescriptorWakeOnPublish) {
  Client client(ClientOptions{bus_, "api"});
  auto a = client.subscriber("api.ws.a");
  auto b = client.subscriber("api.ws.b");
  auto publisher_b = client.publisher("api.ws.b");
  WaitSet set;
  set.add(a);
  set.add(b);
  Subscriber* ready[2] = {};
  EXPECT_EQ(set.wait(ready, milliseconds(5)), 0U);
  ASSERT_EQ(publisher_b.publish(std::uint64_t{7}), Status::ok);
  ASSERT_EQ(set.wait(ready, milliseconds(2000)), 1U);
  EXPECT_EQ(ready[0], &b);
  Message message;
  ASSERT_EQ(b.try_receive(message), Status::ok);
  EXPECT_EQ(b.try_receive(message), Status::empty);  // drains and re-arms b's fd

  pollfd pfd{b.fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 0), 0);
  ASSERT_EQ(publisher_b.publish(std::uint64_t{8}), Status::ok);
  EXPECT_EQ(::poll(&pfd, 1, 2000), 1);
  ASSERT_EQ(b.try_receive(message), Status::ok);
  EXPECT_EQ(value_of(message), 8U);
}

// A receive that finds nothing leaves the consumer's fd clear, even when the notifier thread was
// deciding to signal the message just drained: an event loop must not wake again for nothing.
// Each round waits on ready(), which races the notifier, or on the fd, then drains and checks.
TEST_F(Api, DrainedConsumersFdIsClearWhenReceiveFindsNothing) {
  Client client(ClientOptions{bus_, "api"});
  auto plain = client.subscriber("api.drain.plain");
  auto consumer = client.join_group("api.drain.work", "workers");
  auto pattern = client.pattern_subscriber("api.drain.p.*");
  auto to_plain = client.publisher("api.drain.plain");
  auto to_group = client.publisher("api.drain.work");
  auto to_pattern = client.publisher("api.drain.p.x");
  constexpr std::uint64_t kRounds = 1500;

  const auto drain_rounds = [&](auto& reader, Publisher& publisher, auto&& settle) {
    const int fd = reader.fd();
    Message message;
    while (reader.try_receive(message) == Status::ok)
      settle(message);
    for (std::uint64_t round = 0; round < kRounds; ++round) {
      ASSERT_EQ(publisher.publish(round), Status::ok);
      pollfd pfd{fd, POLLIN, 0};
      if (round % 2 == 0) {
        while (!reader.ready())
          wait::cpu_relax();
        // Lands the drain at a different point of the notifier's wake-up each round.
        const auto until =
            std::chrono::steady_clock::now() + std::chrono::nanoseconds(round % 64 * 500);
        while (std::chrono::steady_clock::now() < until)
          wait::cpu_relax();
      } else {
        ASSERT_EQ(::poll(&pfd, 1, 5000), 1) << "round " << round;
      }
      ASSERT_EQ(reader.try_receive(message), Status::ok) << "round " << round;
      EXPECT_EQ(value_of(message), round);
      settle(message);
      ASSERT_EQ(reader.try_receive(message), Status::empty);
      ASSERT_EQ(::poll(&pfd, 1, 0), 0) << "fd readable after the drain, round " << round;
    }
  };
  const auto nothing = [](const Message&) {};
  drain_rounds(plain, to_plain, nothing);
  drain_rounds(consumer, to_group,
               [&](const Message& m) { EXPECT_EQ(consumer.ack(m), Status::ok); });
  drain_rounds(pattern, to_pattern, nothing);
}

// One WaitSet over a subscriber, a group consumer and a pattern subscriber: it wakes for a
// message another process publishes to any of them, and names the member by its own type.
TEST_F(Api, WaitSetWaitsOnGroupConsumersAndPatternSubscribersToo) {
  Client client(ClientOptions{bus_, "api"});
  auto plain = client.subscriber("api.wsm.plain");
  auto consumer = client.join_group("api.wsm.work", "workers");
  auto pattern = client.pattern_subscriber("api.wsm.p.*");
  WaitSet set;
  set.add(plain);
  set.add(consumer);
  set.add(pattern);
  set.add(consumer);
  EXPECT_EQ(set.size(), 3U);
  WaitSet::Member ready[3] = {};
  EXPECT_EQ(set.wait(ready, milliseconds(5)), 0U);

  const auto wait_for = [&](auto* expected) {
    const std::size_t count = set.wait(ready, milliseconds(5000));
    ASSERT_EQ(count, 1U);
    ASSERT_TRUE(std::holds_alternative<decltype(expected)>(ready[0]));
    EXPECT_EQ(std::get<decltype(expected)>(ready[0]), expected);
  };
  Message message;

  auto to_group = spawn_publisher("api.wsm.work", 1, 1);
  wait_for(&consumer);
  ASSERT_EQ(consumer.try_receive(message), Status::ok);
  EXPECT_EQ(consumer.ack(message), Status::ok);
  EXPECT_EQ(consumer.try_receive(message), Status::empty);  // drains and re-arms its fd
  ASSERT_TRUE(to_group.wait(kRunTimeout));

  // A new matching topic, created by the other process: the pattern subscriber is ready (its
  // topics changed, then the message), and its receive attaches the topic.
  auto to_pattern = spawn_publisher("api.wsm.p.a", 2, 1);
  wait_for(&pattern);
  ASSERT_EQ(pattern.receive(message, milliseconds(5000)), Status::ok);
  EXPECT_EQ(message.topic(), "api.wsm.p.a");
  EXPECT_EQ(pattern.try_receive(message), Status::empty);
  ASSERT_TRUE(to_pattern.wait(kRunTimeout));

  auto to_plain = spawn_publisher("api.wsm.plain", 3, 1);
  wait_for(&plain);
  ASSERT_EQ(plain.try_receive(message), Status::ok);
  EXPECT_EQ(plain.try_receive(message), Status::empty);
  ASSERT_TRUE(to_plain.wait(kRunTimeout));

  // The subscribers-only wait refuses a set it could not report whole; removing the others
  // makes it a subscribers' set again.
  Subscriber* subscribers[1] = {};
  EXPECT_THROW(set.wait(subscribers, milliseconds(5)), Error);
  set.remove(pattern);
  set.remove(consumer);
  EXPECT_EQ(set.size(), 1U);
  auto last = spawn_publisher("api.wsm.plain", 4, 1);
  ASSERT_EQ(set.wait(subscribers, milliseconds(5000)), 1U);
  EXPECT_EQ(subscribers[0], &plain);
  ASSERT_TRUE(last.wait(kRunTimeout));

  GroupConsumer closed;
  EXPECT_THROW(set.add(closed), Error);
  set.remove(closed);  // not a member: nothing happens
  EXPECT_EQ(set.size(), 1U);
}

TEST_F(Api, BadNamesAreRefusedClearly) {
  Client client(ClientOptions{bus_, "api"});
  for (const std::string name : {"", "a..b", ".a", "a.", "a b", "md.*", "md.#", "ä"}) {
    try {
      client.publisher(name);
      ADD_FAILURE() << "accepted '" << name << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_name) << name;
    }
  }
  try {
    client.subscriber(std::string(300, 'a'));
    ADD_FAILURE() << "accepted an over-long name";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_name);
    EXPECT_NE(std::string(e.what()).find("limit"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Client(ClientOptions{"bad/bus", "api"}), Error);
}

TEST_F(Api, OversizeMessagesAreRefusedAndLoseNothing) {
  Client client(ClientOptions{bus_, "api"});
  auto subscriber = client.subscriber("api.big", {}, TopicOptions{64, 8, FullPolicy::block});
  auto publisher = client.publisher("api.big");
  std::vector<std::byte> big(65);
  EXPECT_EQ(publisher.publish(big), Status::too_large);
  EXPECT_EQ(publisher.loan(65).status(), Status::too_large);
  ASSERT_EQ(publisher.publish(std::span(big).first(64)), Status::ok);
  Message message;
  ASSERT_EQ(subscriber.try_receive(message), Status::ok);
  EXPECT_EQ(message.size(), 64U);
  EXPECT_EQ(subscriber.try_receive(message), Status::empty);
}

TEST_F(Api, TopicMismatchNamesBothShapes) {
  Client client(ClientOptions{bus_, "api"});
  client.open_topic("api.shape", TopicOptions{128, 16, FullPolicy::block});
  try {
    client.open_topic("api.shape", TopicOptions{256, 16, FullPolicy::block});
    ADD_FAILURE() << "accepted a different slot size";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::topic_mismatch) << e.what();
  }
  const auto info = client.open_topic("api.shape");  // zero options: take the topic as it is
  EXPECT_EQ(info.slot_size, 128U);
  EXPECT_EQ(info.slot_count, 16U);
}

TEST_F(Api, CorruptedTopicSegmentIsAClearError) {
  Client client(ClientOptions{bus_, "api"});
  client.open_topic("api.corrupt");
  {
    auto segment =
        shm::Segment::open(topic_segment_of(bus_, "api.corrupt"), shm::Access::read_write);
    static_cast<layout::TopicHeader*>(segment.address())->slot_count = 12345;
  }
  Client other(ClientOptions{bus_, "api2"});
  try {
    other.subscriber("api.corrupt");
    ADD_FAILURE() << "mapped a corrupted segment";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::corrupted_segment) << e.what();
  }
}

TEST(NoDaemon, AttachingSaysWhatToStart) {
  try {
    Client client(ClientOptions{unique_bus("nodaemon"), "api"});
    ADD_FAILURE() << "attached without a daemon";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::no_daemon);
    EXPECT_NE(std::string(e.what()).find("start shmbusd --bus"), std::string::npos) << e.what();
  }
}

// Without --foreground shmbusd returns once the bus is served, and the detached daemon (whose pid
// the control segment records) still stops cleanly on SIGTERM.
TEST(Daemonize, DetachesOnceTheBusIsReady) {
  const std::string bus = unique_bus("detach");
  ChildProcess starter({SHMBUSD_PATH, "--bus", bus});
  const auto line = starter.wait_for_line("shmbusd: serving bus", kStartTimeout);
  ASSERT_TRUE(line);
  const auto status = starter.wait(kStartTimeout);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  EXPECT_TRUE(daemon_serves(bus));  // ready before the starter returned: no polling needed
  pid_t daemon_pid = 0;
  {
    auto control = shm::Segment::open(naming::control_segment_name(bus), shm::Access::read_only);
    ASSERT_FALSE(layout::validate_control(control.address(), control.size()));
    daemon_pid = static_cast<const layout::ControlHeader*>(control.address())->daemon_pid.load();
  }
  ASSERT_GT(daemon_pid, 0);
  EXPECT_NE(daemon_pid, starter.pid());
  ::kill(daemon_pid, SIGTERM);
  EXPECT_TRUE(
      eventually([&] { return segments_of(bus).empty() && !daemon_serves(bus); }, kStartTimeout));
}

TEST(Daemonize, ReportsStartUpFailureToTheCaller) {
  const std::string bus = unique_bus("detach2");
  ChildProcess first({SHMBUSD_PATH, "--bus", bus, "--foreground"});
  ASSERT_TRUE(eventually([&] { return daemon_serves(bus); }, kStartTimeout));
  ChildProcess second({SHMBUSD_PATH, "--bus", bus});
  const auto status = second.wait(kStartTimeout);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  first.kill(SIGTERM);
  EXPECT_TRUE(first.wait(kStartTimeout));
}

}  // namespace
}  // namespace shmbus::testing
