// Temporary topics (OpenFlags::temporary, the reply topics of request/reply): the daemon deletes
// one when its creator is done with it (removes its last record on it, detaches or dies, also
// across a daemon restart), and never because another client comes or goes.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmbus/embedded_supervisor.hpp"
#include "shmbus/error.hpp"
#include "supervisor_fixture.hpp"

// In the fixture's namespace, so that its helpers need no using-declarations.
namespace shmbus::test {
namespace {

constexpr auto kTemporary = static_cast<std::uint32_t>(protocol::OpenFlags::temporary);
constexpr auto kMustExist = static_cast<std::uint32_t>(protocol::OpenFlags::must_exist);
constexpr auto kOverwrite = static_cast<std::uint32_t>(layout::FullPolicy::overwrite);

std::string segment_of(const protocol::TopicReply& topic) {
  return std::string(protocol::view_string(topic.segment_name));
}

std::optional<protocol::SubscriberReply> subscribe(RawClient& client,
                                                   const protocol::TopicReply& topic) {
  return client.call_as<protocol::SubscriberReply>(
      protocol::AddSubscriber{topic.topic_id, topic.generation, 0, 0, 0});
}

TEST_F(SupervisorTest, TemporaryTopicGoesWhenItsOwnerIsDoneWithIt) {
  EmbeddedSupervisor supervisor(bus_);
  RawClient owner(bus_);
  RawClient other(bus_);
  const auto owner_hello = owner.hello();
  ASSERT_TRUE(owner_hello && other.hello());

  const auto topic = owner.open("_reply.a", 64, 8, kOverwrite, nullptr, kTemporary);
  ASSERT_TRUE(topic);
  const auto entry = topic_entry(topic->topic_id);
  EXPECT_EQ(entry.state, kActive);
  EXPECT_EQ(entry.owner_client_id, owner_hello->client_id);
  const auto subscriber = subscribe(owner, *topic);
  ASSERT_TRUE(subscriber);

  // Another client publishing to it, and leaving, changes nothing.
  ASSERT_TRUE(other.open("_reply.a", 0, 0, protocol::kPolicyUnspecified, nullptr, kMustExist));
  const auto publisher = other.call_as<protocol::PublisherReply>(
      protocol::AddPublisher{topic->topic_id, topic->generation});
  ASSERT_TRUE(publisher);
  ASSERT_TRUE(other.call_as<protocol::OkReply>(
      protocol::RemovePublisher{topic->topic_id, topic->generation, publisher->index, 0}));
  EXPECT_EQ(topic_entry(topic->topic_id).state, kActive);
  const auto again = other.call_as<protocol::PublisherReply>(
      protocol::AddPublisher{topic->topic_id, topic->generation});
  ASSERT_TRUE(again);

  // The owner removes its last record on it: the topic goes at once.
  ASSERT_TRUE(owner.call_as<protocol::OkReply>(
      protocol::RemoveSubscriber{topic->topic_id, topic->generation, subscriber->index, 0}));
  EXPECT_EQ(topic_entry(topic->topic_id).state, kFree);
  EXPECT_FALSE(segment_exists(segment_of(*topic)));
  protocol::ErrorReply error{};
  EXPECT_FALSE(other.open("_reply.a", 0, 0, protocol::kPolicyUnspecified, &error, kMustExist));
  EXPECT_EQ(code_of(error), ErrorCode::not_found);
  EXPECT_FALSE(other.call_as<protocol::PublisherReply>(
      protocol::AddPublisher{topic->topic_id, topic->generation}, &error));
  EXPECT_EQ(code_of(error), ErrorCode::not_found);

  // A record on a deleted topic is refused, not a crash, when its holder lets go of it.
  EXPECT_FALSE(other.call_as<protocol::OkReply>(
      protocol::RemovePublisher{topic->topic_id, topic->generation, again->index, 0}, &error));
  EXPECT_EQ(code_of(error), ErrorCode::not_found);

  // The index is reused with a new generation, so stale (id, generation) pairs name nothing.
  const auto next = owner.open("lasting", 64, 8);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->topic_id, topic->topic_id);
  EXPECT_EQ(next->generation, topic->generation + 1);

  // A lasting topic stays whoever comes and goes.
  const auto lasting_subscriber = subscribe(owner, *next);
  ASSERT_TRUE(lasting_subscriber);
  ASSERT_TRUE(owner.call_as<protocol::OkReply>(
      protocol::RemoveSubscriber{next->topic_id, next->generation, lasting_subscriber->index, 0}));
  EXPECT_EQ(topic_entry(next->topic_id).state, kActive);
}

TEST_F(SupervisorTest, TemporaryTopicGoesWhenItsOwnerDetaches) {
  EmbeddedSupervisor supervisor(bus_);
  auto owner = std::make_unique<RawClient>(bus_);
  RawClient other(bus_);
  ASSERT_TRUE(owner->hello() && other.hello());
  const auto topic = owner->open("_reply.b", 64, 8, kOverwrite, nullptr, kTemporary);
  ASSERT_TRUE(topic);
  ASSERT_TRUE(subscribe(*owner, *topic));
  const auto publisher = other.call_as<protocol::PublisherReply>(
      protocol::AddPublisher{topic->topic_id, topic->generation});
  ASSERT_TRUE(publisher);
  MappedTopic mapped(*topic);  // a mapping outlives the deletion

  owner.reset();
  EXPECT_TRUE(wait_until([&] { return topic_entry(topic->topic_id).state == kFree; }));
  EXPECT_FALSE(segment_exists(segment_of(*topic)));
  EXPECT_EQ(mapped.view.header->slot_count, 8U);

  // The other client's own departure is uneventful.
  other.close();
  EXPECT_TRUE(wait_until([&] { return active_clients() == 0; }));
}

// The daemon dies; the owner of one temporary topic dies too while none runs, the owner of
// another lives on. The restarted daemon deletes the first and keeps the second for its owner.
TEST_F(SupervisorTest, RestartedDaemonDeletesTemporaryTopicsOfOwnersThatAreGone) {
  auto first = std::make_unique<DaemonProcess>(
      std::vector<std::string>{"--bus", bus_, "--log-level", "warn"});
  ASSERT_TRUE(first->wait_ready(bus_)) << first->output();
  RawClient survivor(bus_);
  const auto hello = survivor.hello();
  ASSERT_TRUE(hello);
  const auto kept = survivor.open("_reply.kept", 64, 8, kOverwrite, nullptr, kTemporary);
  ASSERT_TRUE(kept);
  const auto kept_subscriber = subscribe(survivor, *kept);
  ASSERT_TRUE(kept_subscriber);

  const auto parked = spawn_parked_child<protocol::TopicReply>([&](const auto& park) {
    protocol::TopicReply reply{};
    RawClient client(bus_);
    if (client.hello()) {
      if (auto t = client.open("_reply.doomed", 64, 8, kOverwrite, nullptr, kTemporary)) {
        if (subscribe(client, *t)) reply = *t;
      }
    }
    park(reply);
  });
  ASSERT_TRUE(parked);
  const pid_t child = parked->first;
  const protocol::TopicReply doomed = parked->second;
  ASSERT_FALSE(segment_of(doomed).empty());

  first->signal(SIGKILL);
  EXPECT_EQ(first->wait(), 128 + SIGKILL);
  first.reset();
  ::kill(child, SIGKILL);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  ASSERT_TRUE(segment_exists(segment_of(doomed)));

  DaemonProcess second({"--bus", bus_, "--log-level", "warn"});
  ASSERT_TRUE(second.wait_ready(bus_)) << second.output();
  EXPECT_TRUE(wait_until([&] { return !segment_exists(segment_of(doomed)); }));
  EXPECT_EQ(topic_entry(doomed.topic_id).state, kFree);

  RawClient resumed(bus_);
  ASSERT_TRUE(resumed.hello(hello->client_id));
  ASSERT_TRUE(resumed.call_as<protocol::OkReply>(
      protocol::Reattach{kept->topic_id, kept->generation, 1, kept_subscriber->index}));
  EXPECT_EQ(topic_entry(kept->topic_id).state, kActive);
  EXPECT_TRUE(segment_exists(segment_of(*kept)));
  resumed.close();
  survivor.close();
  EXPECT_TRUE(wait_until([&] { return !segment_exists(segment_of(*kept)); }));

  second.signal(SIGTERM);
  EXPECT_EQ(second.wait(), 0) << second.output();
}

}  // namespace
}  // namespace shmbus::test
