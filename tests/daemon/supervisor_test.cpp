// The supervisor end to end: the embedded supervisor and the shmbusd executable, driven with raw
// control messages over the bus's socket, with shared memory inspected directly. Atomics use the
// default seq_cst order throughout: the tests observe other processes, and plain reasoning matters
// more than speed here.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "layout/naming.hpp"
#include "layout/segment_format.hpp"
#include "raw_client.hpp"
#include "ring/topic_view.hpp"
#include "shm/segment.hpp"
#include "shmbus/embedded_supervisor.hpp"
#include "shmbus/error.hpp"
#include "supervisor_fixture.hpp"

namespace shmbus {
namespace {

using test::code_of;
using test::DaemonProcess;
using test::kActive;
using test::kFree;
using test::MappedTopic;
using test::RawClient;
using test::segment_exists;
using test::SupervisorTest;
using test::text_of;
using test::wait_until;

TEST_F(SupervisorTest, HelloOpenTopicAndRecords) {
  EmbeddedSupervisor supervisor(bus_);
  EXPECT_EQ(supervisor.bus(), bus_);
  RawClient client(bus_);
  ASSERT_TRUE(client.connected());
  const auto hello = client.hello();
  ASSERT_TRUE(hello);
  EXPECT_NE(hello->client_id, 0U);
  EXPECT_EQ(hello->epoch, 1U);
  EXPECT_EQ(hello->layout_version, layout::kLayoutVersion);
  EXPECT_EQ(protocol::view_string(hello->control_segment), naming::control_segment_name(bus_));

  const auto topic = client.open("md.equities.AAPL", 256, 64,
                                 static_cast<std::uint32_t>(layout::FullPolicy::overwrite));
  ASSERT_TRUE(topic);
  EXPECT_EQ(topic->slot_size, 256U);
  EXPECT_EQ(topic->slot_count, 64U);
  EXPECT_EQ(topic->policy, static_cast<std::uint32_t>(layout::FullPolicy::overwrite));
  MappedTopic mapped(*topic);
  ASSERT_FALSE(layout::validate_topic(mapped.segment.address(), mapped.segment.size()));
  EXPECT_EQ(mapped.view.header->segment_size, topic->segment_size);

  // Reopening with nothing specified gives the same topic; defaults apply to new topics.
  const auto again = client.open("md.equities.AAPL");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->topic_id, topic->topic_id);
  EXPECT_EQ(again->generation, topic->generation);
  const auto other = client.open("md.equities.MSFT");
  ASSERT_TRUE(other);
  EXPECT_NE(other->topic_id, topic->topic_id);
  EXPECT_EQ(other->slot_size, 1024U);
  EXPECT_EQ(other->slot_count, 1024U);
  EXPECT_EQ(other->policy, static_cast<std::uint32_t>(layout::FullPolicy::block));

  const auto publisher = client.call_as<protocol::PublisherReply>(
      protocol::AddPublisher{topic->topic_id, topic->generation});
  ASSERT_TRUE(publisher);
  const auto& precord = mapped.view.publishers[publisher->index];
  EXPECT_EQ(precord.state.load(), kActive);
  EXPECT_EQ(precord.owner_client_id.load(), hello->client_id);
  EXPECT_EQ(precord.publisher_id.load(), publisher->publisher_id);
  const auto second = client.call_as<protocol::PublisherReply>(
      protocol::AddPublisher{topic->topic_id, topic->generation});
  ASSERT_TRUE(second);
  EXPECT_NE(second->publisher_id, publisher->publisher_id);
  EXPECT_NE(second->index, publisher->index);

  mapped.view.header->next_sequence.store(10);
  const auto subscriber = client.call_as<protocol::SubscriberReply>(
      protocol::AddSubscriber{topic->topic_id, topic->generation,
                              static_cast<std::uint32_t>(protocol::StartFrom::last_n), 0, 4});
  ASSERT_TRUE(subscriber);
  EXPECT_EQ(subscriber->start_sequence, 6U);
  const auto& srecord = mapped.view.subscribers[subscriber->index];
  EXPECT_EQ(srecord.state.load(), kActive);
  EXPECT_EQ(srecord.cursor.load(), 6U);
  EXPECT_EQ(srecord.owner_client_id.load(), hello->client_id);

  protocol::ErrorReply error{};
  EXPECT_FALSE(client.call_as<protocol::PublisherReply>(
      protocol::AddPublisher{topic->topic_id, topic->generation + 1}, &error));
  EXPECT_EQ(code_of(error), ErrorCode::not_found);
  EXPECT_EQ(active_clients(), 1U);
}

TEST_F(SupervisorTest, BadTopicNameIsInvalidName) {
  EmbeddedSupervisor supervisor(bus_);
  RawClient client(bus_);
  ASSERT_TRUE(client.hello());
  for (const char* name : {"", "md..AAPL", "md.*", "trailing.", "sp ace"}) {
    protocol::ErrorReply error{};
    EXPECT_FALSE(client.open(name, 0, 0, protocol::kPolicyUnspecified, &error)) << name;
    EXPECT_EQ(code_of(error), ErrorCode::invalid_name) << name << ": " << text_of(error);
  }
  protocol::ErrorReply error{};
  EXPECT_FALSE(client.open("ok.name", 64, 1000, protocol::kPolicyUnspecified, &error));
  EXPECT_EQ(code_of(error), ErrorCode::invalid_argument);
  EXPECT_NE(text_of(error).find("power of two"), std::string::npos) << text_of(error);
  EXPECT_FALSE(client.open("ok.name", 64, 8, 7, &error));
  EXPECT_EQ(code_of(error), ErrorCode::invalid_argument);
}

TEST_F(SupervisorTest, TopicMismatchNamesBothValues) {
  EmbeddedSupervisor supervisor(bus_);
  RawClient client(bus_);
  ASSERT_TRUE(client.hello());
  ASSERT_TRUE(client.open("robot.camera", 4096, 16));
  protocol::ErrorReply error{};
  EXPECT_FALSE(client.open("robot.camera", 2048, 0, protocol::kPolicyUnspecified, &error));
  EXPECT_EQ(code_of(error), ErrorCode::topic_mismatch);
  EXPECT_NE(text_of(error).find("4096"), std::string::npos) << text_of(error);
  EXPECT_NE(text_of(error).find("2048"), std::string::npos) << text_of(error);
  EXPECT_FALSE(client.open("robot.camera", 0, 32, protocol::kPolicyUnspecified, &error));
  EXPECT_EQ(code_of(error), ErrorCode::topic_mismatch);
  EXPECT_FALSE(client.open("robot.camera", 0, 0,
                           static_cast<std::uint32_t>(layout::FullPolicy::overwrite), &error));
  EXPECT_EQ(code_of(error), ErrorCode::topic_mismatch);
  EXPECT_NE(text_of(error).find("block"), std::string::npos) << text_of(error);
  EXPECT_NE(text_of(error).find("overwrite"), std::string::npos) << text_of(error);
  EXPECT_TRUE(
      client.open("robot.camera", 4096, 16, static_cast<std::uint32_t>(layout::FullPolicy::block)));

  const auto must_exist = static_cast<std::uint32_t>(protocol::OpenFlags::must_exist);
  EXPECT_FALSE(client.open("robot.lidar", 0, 0, protocol::kPolicyUnspecified, &error, must_exist));
  EXPECT_EQ(code_of(error), ErrorCode::not_found);
  EXPECT_TRUE(client.open("robot.camera", 0, 0, protocol::kPolicyUnspecified, &error, must_exist));
}

TEST_F(SupervisorTest, MalformedFramesAreProtocolErrors) {
  EmbeddedSupervisor supervisor(bus_);
  RawClient client(bus_);
  ASSERT_TRUE(client.connected());
  protocol::ErrorReply error{};

  EXPECT_FALSE(client.call_as<protocol::PublisherReply>(protocol::AddPublisher{0, 1}, &error));
  EXPECT_EQ(code_of(error), ErrorCode::protocol_error);
  EXPECT_NE(text_of(error).find("Hello"), std::string::npos) << text_of(error);

  const auto expect_error = [&](std::span<const std::byte> bytes, ErrorCode code,
                                std::uint32_t request_id) {
    ASSERT_TRUE(client.send_bytes(bytes));
    const auto reply = client.receive();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->request_id, request_id);
    const auto* body = std::get_if<protocol::ErrorReply>(&reply->body);
    ASSERT_NE(body, nullptr);
    EXPECT_EQ(code_of(*body), code) << text_of(*body);
  };
  const std::byte three[3] = {std::byte{1}, std::byte{2}, std::byte{3}};
  expect_error(three, ErrorCode::protocol_error, 0);

  protocol::FrameBuffer frame{};
  const std::size_t size =
      protocol::encode({protocol::MessageType{}, 77, protocol::AddPublisher{0, 1}}, frame);
  protocol::FrameHeader header{};
  std::memcpy(&header, frame.data(), sizeof(header));
  auto with = [&](auto change) {
    protocol::FrameBuffer copy = frame;
    protocol::FrameHeader h = header;
    change(h);
    std::memcpy(copy.data(), &h, sizeof(h));
    return copy;
  };
  auto bad_magic = with([](protocol::FrameHeader& h) { h.magic = 0xdeadbeef; });
  expect_error(std::span(bad_magic.data(), size), ErrorCode::protocol_error, 77);
  auto bad_version = with([](protocol::FrameHeader& h) { h.version = 9; });
  expect_error(std::span(bad_version.data(), size), ErrorCode::version_mismatch, 77);
  auto bad_size = with([](protocol::FrameHeader& h) { h.body_size = 3; });
  expect_error(std::span(bad_size.data(), size), ErrorCode::protocol_error, 77);
  std::vector<std::byte> oversize(protocol::kMaxFrameSize + 100, std::byte{0x55});
  expect_error(oversize, ErrorCode::protocol_error, 0x55555555);
  protocol::FrameBuffer reply_frame{};
  const std::size_t reply_size =
      protocol::encode({protocol::MessageType{}, 78, protocol::OkReply{1}}, reply_frame);
  expect_error(std::span(reply_frame.data(), reply_size), ErrorCode::protocol_error, 78);

  // The connection still serves well-formed requests.
  ASSERT_TRUE(client.hello());
  EXPECT_FALSE(client.hello(0, &error));
  EXPECT_EQ(code_of(error), ErrorCode::protocol_error);

  // A peer that keeps sending garbage is dropped.
  int replies = 0;
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {
    if (!client.send_bytes(three) || !client.receive_bytes()) {
      closed = true;
    } else {
      ++replies;
    }
  }
  EXPECT_TRUE(closed);
  EXPECT_GE(replies, 10);
  // Its client entry went with the connection.
  EXPECT_TRUE(wait_until([&] { return active_clients() == 0; }));
}

TEST_F(SupervisorTest, HelloWithAnotherLayoutVersionIsRefused) {
  EmbeddedSupervisor supervisor(bus_);
  RawClient client(bus_);
  protocol::Hello hello{};
  hello.layout_version = layout::kLayoutVersion + 1;
  protocol::ErrorReply error{};
  EXPECT_FALSE(client.call_as<protocol::HelloReply>(hello, &error));
  EXPECT_EQ(code_of(error), ErrorCode::version_mismatch);
  EXPECT_NE(text_of(error).find("same release"), std::string::npos) << text_of(error);
}

TEST_F(SupervisorTest, RemovalChecksOwnership) {
  EmbeddedSupervisor supervisor(bus_);
  RawClient owner(bus_);
  RawClient intruder(bus_);
  ASSERT_TRUE(owner.hello());
  ASSERT_TRUE(intruder.hello());
  const auto topic = owner.open("orders.in", 64, 8);
  ASSERT_TRUE(topic);
  MappedTopic mapped(*topic);
  const auto publisher = owner.call_as<protocol::PublisherReply>(
      protocol::AddPublisher{topic->topic_id, topic->generation});
  const auto subscriber = owner.call_as<protocol::SubscriberReply>(
      protocol::AddSubscriber{topic->topic_id, topic->generation, 0, 0, 0});
  ASSERT_TRUE(publisher && subscriber);

  protocol::ErrorReply error{};
  EXPECT_FALSE(intruder.call_as<protocol::OkReply>(
      protocol::RemovePublisher{topic->topic_id, topic->generation, publisher->index, 0}, &error));
  EXPECT_EQ(code_of(error), ErrorCode::permission_denied);
  EXPECT_FALSE(intruder.call_as<protocol::OkReply>(
      protocol::RemoveSubscriber{topic->topic_id, topic->generation, subscriber->index, 0},
      &error));
  EXPECT_EQ(code_of(error), ErrorCode::permission_denied);
  EXPECT_FALSE(intruder.call_as<protocol::OkReply>(
      protocol::Reattach{topic->topic_id, topic->generation, 0, publisher->index}, &error));
  EXPECT_EQ(code_of(error), ErrorCode::permission_denied);
  EXPECT_FALSE(intruder.call_as<protocol::OkReply>(
      protocol::RemovePublisher{topic->topic_id, topic->generation, 9999, 0}, &error));
  EXPECT_EQ(code_of(error), ErrorCode::not_found);

  // An uncommitted claim of a publisher that closes its record is aborted.
  auto& record = mapped.view.publishers[publisher->index];
  const std::uint64_t sequence = mapped.view.header->next_sequence.load();
  record.pending.store(sequence + 1);
  mapped.view.header->next_sequence.store(sequence + 1);
  EXPECT_TRUE(owner.call_as<protocol::OkReply>(
      protocol::RemovePublisher{topic->topic_id, topic->generation, publisher->index, 0}));
  EXPECT_EQ(mapped.view.slot(sequence).word.load(),
            layout::slot_word(sequence, layout::SlotState::aborted));
  EXPECT_EQ(record.state.load(), kFree);
  const std::uint32_t epoch = mapped.view.header->subscription_epoch.load();
  EXPECT_TRUE(owner.call_as<protocol::OkReply>(
      protocol::RemoveSubscriber{topic->topic_id, topic->generation, subscriber->index, 0}));
  EXPECT_EQ(mapped.view.subscribers[subscriber->index].state.load(), kFree);
  EXPECT_NE(mapped.view.header->subscription_epoch.load(), epoch);
  EXPECT_FALSE(owner.call_as<protocol::OkReply>(
      protocol::RemoveSubscriber{topic->topic_id, topic->generation, subscriber->index, 0},
      &error));
  EXPECT_EQ(code_of(error), ErrorCode::not_found);
}

TEST_F(SupervisorTest, ClosedConnectionFreesTheClient) {
  EmbeddedSupervisor supervisor(bus_);
  auto client = std::make_unique<RawClient>(bus_);
  ASSERT_TRUE(client->hello());
  const auto topic = client->open("quotes", 64, 8);
  ASSERT_TRUE(topic);
  MappedTopic mapped(*topic);
  const auto subscriber = client->call_as<protocol::SubscriberReply>(
      protocol::AddSubscriber{topic->topic_id, topic->generation, 0, 0, 0});
  const auto publisher = client->call_as<protocol::PublisherReply>(
      protocol::AddPublisher{topic->topic_id, topic->generation});
  ASSERT_TRUE(subscriber && publisher);
  EXPECT_EQ(active_clients(), 1U);
  client.reset();
  EXPECT_TRUE(wait_until([&] {
    return mapped.view.subscribers[subscriber->index].state.load() == kFree &&
           mapped.view.publishers[publisher->index].state.load() == kFree && active_clients() == 0;
  }));
}

// A child registers a publisher and a subscriber, claims a sequence it never commits, and is
// killed: the daemon must abort the slot and free both records at once.
TEST_F(SupervisorTest, ClientDeathAbortsItsClaimedSlot) {
  EmbeddedSupervisor supervisor(bus_);
  RawClient observer(bus_);
  ASSERT_TRUE(observer.hello());
  const auto topic = observer.open("death.topic", 64, 8);
  ASSERT_TRUE(topic);
  MappedTopic mapped(*topic);

  struct Report {
    std::uint32_t publisher = UINT32_MAX;
    std::uint32_t subscriber = UINT32_MAX;
  };
  const auto parked = test::spawn_parked_child<Report>([&](const auto& park) {
    Report report;
    RawClient client(bus_);
    if (client.hello()) {
      if (auto p = client.call_as<protocol::PublisherReply>(
              protocol::AddPublisher{topic->topic_id, topic->generation})) {
        report.publisher = p->index;
      }
      if (auto s = client.call_as<protocol::SubscriberReply>(
              protocol::AddSubscriber{topic->topic_id, topic->generation, 0, 0, 0})) {
        report.subscriber = s->index;
      }
    }
    park(report);
  });
  ASSERT_TRUE(parked);
  const pid_t child = parked->first;
  const Report report = parked->second;
  ASSERT_LT(report.publisher, mapped.view.max_publishers);
  ASSERT_LT(report.subscriber, mapped.view.max_subscribers);
  EXPECT_EQ(active_clients(), 2U);

  // The claim as a publisher makes it: intent first, then the sequence, then the slot word.
  auto& record = mapped.view.publishers[report.publisher];
  const std::uint64_t sequence = mapped.view.header->next_sequence.load();
  record.pending.store(sequence + 1);
  mapped.view.header->next_sequence.store(sequence + 1);
  mapped.view.slot(sequence).word.store(layout::slot_word(sequence, layout::SlotState::writing));

  ::kill(child, SIGKILL);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  EXPECT_TRUE(wait_until([&] {
    return mapped.view.slot(sequence).word.load() ==
               layout::slot_word(sequence, layout::SlotState::aborted) &&
           record.state.load() == kFree &&
           mapped.view.subscribers[report.subscriber].state.load() == kFree;
  }));
  EXPECT_EQ(record.pending.load(), 0U);
  EXPECT_TRUE(wait_until([&] { return active_clients() == 1; }));
}

TEST_F(SupervisorTest, TopicAclIsChecked) {
  const std::filesystem::path file = std::filesystem::temp_directory_path() / (bus_ + ".toml");
  {
    std::ofstream out(file);
    out << fmt::format(
        "[[topic]]\nname = \"acl.topic\"\nslot_size = 128\nslot_count = 16\n"
        "publish_uids = [{}]\nsubscribe_uids = [{}]\nsubscribe_gids = [{}]\n",
        ::getuid(), ::getuid() + 1, ::getgid() + 1);
  }
  EmbeddedSupervisor supervisor(bus_, file);
  std::filesystem::remove(file);
  RawClient client(bus_);
  ASSERT_TRUE(client.hello());
  protocol::ErrorReply error{};
  const auto topic = client.open("acl.topic", 0, 0, protocol::kPolicyUnspecified, &error,
                                 static_cast<std::uint32_t>(protocol::OpenFlags::must_exist));
  ASSERT_TRUE(topic) << text_of(error);  // declared topics exist from the start
  EXPECT_EQ(topic->slot_size, 128U);
  EXPECT_TRUE(client.call_as<protocol::PublisherReply>(
      protocol::AddPublisher{topic->topic_id, topic->generation}));
  EXPECT_FALSE(client.call_as<protocol::SubscriberReply>(
      protocol::AddSubscriber{topic->topic_id, topic->generation, 0, 0, 0}, &error));
  EXPECT_EQ(code_of(error), ErrorCode::permission_denied);
  EXPECT_NE(text_of(error).find("acl.topic"), std::string::npos) << text_of(error);
}

TEST_F(SupervisorTest, EmbeddedSupervisorOwnsTheBusUntilDestroyed) {
  std::string control = naming::control_segment_name(bus_);
  std::string topic_segment;
  {
    EmbeddedSupervisor supervisor(bus_);
    EXPECT_TRUE(segment_exists(control));
    try {
      EmbeddedSupervisor second(bus_);
      ADD_FAILURE() << "a second supervisor started on the same bus";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::daemon_running);
      EXPECT_NE(std::string(e.what()).find(fmt::format("(pid {})", ::getpid())), std::string::npos)
          << e.what();
    }
    RawClient client(bus_);
    ASSERT_TRUE(client.hello());
    const auto topic = client.open("gone.soon");
    ASSERT_TRUE(topic);
    topic_segment = std::string(protocol::view_string(topic->segment_name));
    EXPECT_TRUE(segment_exists(topic_segment));
  }
  EXPECT_FALSE(segment_exists(control));
  EXPECT_FALSE(segment_exists(topic_segment));
  EXPECT_EQ(test::connect_bus(bus_), -1);
  try {
    EmbeddedSupervisor bad("no.dots");
    ADD_FAILURE() << "a bad bus name was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_name);
  }
}

// --- shmbusd as a process ---------------------------------------------------------------------

TEST_F(SupervisorTest, SecondDaemonRefusesToStart) {
  EmbeddedSupervisor supervisor(bus_);
  DaemonProcess second({"--bus", bus_});
  EXPECT_EQ(second.wait(), 1);
  const std::string output = second.output();
  EXPECT_NE(output.find(fmt::format("shmbusd: bus '{}' is already served by a daemon (pid {})",
                                    bus_, ::getpid())),
            std::string::npos)
      << output;
}

TEST_F(SupervisorTest, CorruptedControlSegmentIsRefusedUnlessReset) {
  const std::string name = naming::control_segment_name(bus_);
  {
    auto garbage = shm::Segment::create(name, 8192, 0600);
    std::memset(garbage.address(), 0xab, garbage.size());
  }
  {
    DaemonProcess daemon({"--bus", bus_});
    EXPECT_EQ(daemon.wait(), 1);
    const std::string output = daemon.output();
    EXPECT_NE(output.find("is unusable"), std::string::npos) << output;
    EXPECT_NE(output.find("wrong magic"), std::string::npos) << output;
    EXPECT_NE(output.find("--reset"), std::string::npos) << output;
  }
  // A well-formed header whose segment was cut short.
  shm::Segment::remove(name);
  {
    const auto geometry = layout::control_geometry(256, 256);
    auto segment = shm::Segment::create(name, geometry.segment_size, 0600);
    layout::format_control(segment.address(), bus_, {256, 256, 0, 0600});
  }
  {
    const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 4096), 0);
    ::close(fd);
  }
  {
    DaemonProcess daemon({"--bus", bus_});
    EXPECT_EQ(daemon.wait(), 1);
    const std::string output = daemon.output();
    EXPECT_NE(output.find("truncated"), std::string::npos) << output;
  }
  // A stale topic segment goes with --reset too.
  const std::string stale_topic = naming::topic_segment_name(bus_, 3, 1);
  { auto stale = shm::Segment::create(stale_topic, 4096, 0600); }
  DaemonProcess daemon({"--bus", bus_, "--reset", "--log-level", "warn"});
  ASSERT_TRUE(daemon.wait_ready(bus_)) << daemon.output();
  EXPECT_FALSE(segment_exists(stale_topic));
  {
    auto control = shm::Segment::open(name, shm::Access::read_only);
    EXPECT_FALSE(layout::validate_control(control.address(), control.size()));
  }
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(), 0) << daemon.output();
  EXPECT_FALSE(segment_exists(name));
}

// The daemon dies with SIGKILL; a new one adopts the bus: topics and their data survive, a live
// client resumes its session and records, a client that died meanwhile is reclaimed.
TEST_F(SupervisorTest, RestartedDaemonAdoptsTheSegments) {
  auto first = std::make_unique<DaemonProcess>(
      std::vector<std::string>{"--bus", bus_, "--log-level", "warn"});
  ASSERT_TRUE(first->wait_ready(bus_)) << first->output();

  RawClient client(bus_);
  const auto hello = client.hello();
  ASSERT_TRUE(hello);
  const auto topic =
      client.open("keep.topic", 64, 8, static_cast<std::uint32_t>(layout::FullPolicy::overwrite));
  ASSERT_TRUE(topic);
  const auto publisher = client.call_as<protocol::PublisherReply>(
      protocol::AddPublisher{topic->topic_id, topic->generation});
  ASSERT_TRUE(publisher);
  {
    MappedTopic mapped(*topic);
    std::memcpy(mapped.view.payload(0), "survives", 9);
    mapped.view.slot(0).size = 9;
    mapped.view.slot(0).word.store(layout::committed_word(0));
    mapped.view.header->next_sequence.store(1);
  }

  // A second client subscribes, then dies while no daemon runs.
  const auto parked = test::spawn_parked_child<std::uint32_t>([&](const auto& park) {
    std::uint32_t index = UINT32_MAX;
    RawClient other(bus_);
    if (other.hello()) {
      if (auto s = other.call_as<protocol::SubscriberReply>(
              protocol::AddSubscriber{topic->topic_id, topic->generation, 0, 0, 0})) {
        index = s->index;
      }
    }
    park(index);
  });
  ASSERT_TRUE(parked);
  const pid_t child = parked->first;
  const std::uint32_t orphan_index = parked->second;
  ASSERT_NE(orphan_index, UINT32_MAX);

  first->signal(SIGKILL);
  EXPECT_EQ(first->wait(), 128 + SIGKILL);
  first.reset();
  ::kill(child, SIGKILL);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  ASSERT_TRUE(segment_exists(naming::control_segment_name(bus_)));
  {
    MappedTopic mapped(*topic);
    EXPECT_EQ(mapped.view.subscribers[orphan_index].state.load(), kActive);  // nobody reclaimed it
  }

  DaemonProcess second({"--bus", bus_, "--log-level", "warn"});
  ASSERT_TRUE(second.wait_ready(bus_)) << second.output();
  {
    auto control = shm::Segment::open(naming::control_segment_name(bus_), shm::Access::read_only);
    const auto* header = static_cast<const layout::ControlHeader*>(control.address());
    EXPECT_EQ(header->epoch.load(), 2U);
    EXPECT_EQ(header->daemon_pid.load(), second.pid());
  }
  MappedTopic mapped(*topic);
  EXPECT_TRUE(
      wait_until([&] { return mapped.view.subscribers[orphan_index].state.load() == kFree; }));

  // The live client resumes and takes its publisher back.
  RawClient resumed(bus_);
  const auto again = resumed.hello(hello->client_id);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->client_id, hello->client_id);
  EXPECT_EQ(again->epoch, 2U);
  EXPECT_TRUE(resumed.call_as<protocol::OkReply>(
      protocol::Reattach{topic->topic_id, topic->generation, 0, publisher->index}));
  protocol::ErrorReply error{};
  EXPECT_FALSE(resumed.call_as<protocol::OkReply>(
      protocol::Reattach{topic->topic_id, topic->generation, 1, orphan_index}, &error));
  EXPECT_EQ(code_of(error), ErrorCode::not_found);
  RawClient impostor(bus_);
  EXPECT_FALSE(impostor.hello(hello->client_id, &error));
  EXPECT_EQ(code_of(error), ErrorCode::permission_denied);

  const auto reopened = resumed.open("keep.topic");
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->topic_id, topic->topic_id);
  EXPECT_EQ(reopened->generation, topic->generation);
  EXPECT_EQ(protocol::view_string(reopened->segment_name),
            protocol::view_string(topic->segment_name));
  {
    MappedTopic fresh(*reopened);
    EXPECT_EQ(fresh.view.header->next_sequence.load(), 1U);
    EXPECT_EQ(fresh.view.slot(0).word.load(), layout::committed_word(0));
    EXPECT_STREQ(reinterpret_cast<const char*>(fresh.view.payload(0)), "survives");  // NOLINT
    EXPECT_EQ(fresh.view.publishers[publisher->index].state.load(), kActive);
  }
  // Its records go when it does.
  resumed.close();
  EXPECT_TRUE(
      wait_until([&] { return mapped.view.publishers[publisher->index].state.load() == kFree; }));

  second.signal(SIGTERM);
  EXPECT_EQ(second.wait(), 0) << second.output();
  EXPECT_FALSE(segment_exists(naming::control_segment_name(bus_)));
  EXPECT_FALSE(segment_exists(std::string(protocol::view_string(topic->segment_name))));
}

}  // namespace
}  // namespace shmbus
