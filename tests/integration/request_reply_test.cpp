// Request/reply across real processes: responders SIGKILLed while they hold requests, requesters
// that check every reply answers its own request exactly once; and the API's edges in one process
// (no responders, timeouts, stray and duplicate replies, a requester that has gone, bad input).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <memory>
#include <random>

#include "bus_fixture.hpp"
#include "layout/fixed_string.hpp"
#include "layout/naming.hpp"
#include "layout/segment_format.hpp"
#include "rpc_peer.hpp"
#include "shm/segment.hpp"
#include "shmbus/shmbus.hpp"
#include "topic_watch.hpp"

namespace shmbus::testing {
namespace {

using namespace std::chrono_literals;
using RequestReply = BusTest;

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

std::string_view text_of(const Message& message) {
  return {reinterpret_cast<const char*>(message.payload().data()),  // NOLINT
          message.payload().size()};
}

// Whether the bus's directory lists `topic` (read from the control segment, as `shmbus ls`).
bool directory_lists(const std::string& bus, std::string_view topic) {
  auto control = shm::Segment::open(naming::control_segment_name(bus), shm::Access::read_only);
  auto* base = const_cast<void*>(control.address());
  const auto& header = *static_cast<const layout::ControlHeader*>(base);
  for (std::uint32_t i = 0; i < header.max_topics; ++i) {
    layout::TopicEntry copy{};
    if (layout::read_topic_entry(layout::topic_entries(base)[i], copy) && copy.state.load() == 1 &&
        layout::terminated_view(copy.name) == topic) {
      return true;
    }
  }
  return false;
}

ChildProcess spawn_peer(std::vector<std::string> argv) {
  argv.insert(argv.begin(), TEST_PEER_PATH);
  ChildProcess child(argv);
  EXPECT_TRUE(child.wait_for_line("READY", kStartTimeout)) << argv[1] << " did not attach";
  return child;
}

void expect_all_answered(ChildProcess& requester, std::uint64_t count,
                         std::uint64_t* redelivered = nullptr, const TopicWatch* watch = nullptr) {
  const auto result = requester.wait_for_line("RESULT", kRunTimeout);
  ASSERT_TRUE(result) << "the requester did not finish";
  EXPECT_EQ(result->find("stuck"), std::string::npos)
      << *result << "\n"
      << (watch ? watch->describe(std::string(kDefaultResponderGroup)) : "");
  EXPECT_EQ(field(*result, "answered"), count) << *result;
  EXPECT_EQ(field(*result, "wrong"), 0U) << *result;
  EXPECT_EQ(field(*result, "duplicates"), 0U) << *result;
  if (redelivered != nullptr) *redelivered += field(*result, "redelivered").value_or(0);
  const auto status = requester.wait(kStartTimeout);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "status " << *status;
}

// A responder takes a request and dies holding it: the request goes to another responder at
// once, flagged as redelivered, and its requester gets exactly one reply.
TEST_F(RequestReply, ResponderKilledMidRequestIsAnsweredByAnother) {
  const std::string service = "it.rpc.stall";
  Client client(ClientOptions{bus_, "test-driver"});
  client.declare_group(service, std::string(kDefaultResponderGroup));
  auto stalled = spawn_peer({"responder", bus_, service, "stall"});
  auto requester = spawn_peer({"requester", bus_, service, "1", "50", "1"});
  const auto holding = stalled.wait_for_line("HOLDING", kRunTimeout);
  ASSERT_TRUE(holding);
  EXPECT_EQ(*holding, "HOLDING 0");
  auto healthy = spawn_peer({"responder", bus_, service, "normal"});
  stalled.kill(SIGKILL);
  std::uint64_t redelivered = 0;
  expect_all_answered(requester, 50, &redelivered);
  EXPECT_EQ(redelivered, 1U) << "the held request was answered after its redelivery";
}

// Many requests from two requesters while responders are killed at random moments (aimed at
// ones that hold requests) and replaced: every request is answered once, correctly.
TEST_F(RequestReply, RespondersKilledAtRandomEveryRequestAnsweredOnce) {
  constexpr std::uint64_t kPerRequester = 20'000;
  const std::string service = "it.rpc.churn";
  Client client(ClientOptions{bus_, "test-driver"});
  // Declared, so requests wait out a moment without any live responder instead of being refused.
  client.declare_group(service, std::string(kDefaultResponderGroup));
  std::vector<std::unique_ptr<ChildProcess>> responders;
  const auto spawn_responder = [&] {
    responders.push_back(
        std::make_unique<ChildProcess>(spawn_peer({"responder", bus_, service, "normal"})));
  };
  for (int i = 0; i < 3; ++i)
    spawn_responder();
  auto requester1 =
      spawn_peer({"requester", bus_, service, "1", std::to_string(kPerRequester), "16"});
  auto requester2 =
      spawn_peer({"requester", bus_, service, "2", std::to_string(kPerRequester), "16"});

  TopicWatch watch(bus_, service);
  const auto* group = watch.group(std::string(kDefaultResponderGroup));
  ASSERT_NE(group, nullptr);
  const auto seed = static_cast<unsigned>(::getpid());
  std::printf("fault injection seed %u\n", seed);
  std::mt19937 random(seed);
  int kills = 0;
  // Progress is the group's floor (every request below it settled), not its `acked` count: a
  // responder killed between settling a request and counting it leaves the count one short.
  const auto settled = [&] { return watch.floor(std::string(kDefaultResponderGroup)); };
  for (; kills < 5; ++kills) {
    const std::uint64_t target = settled() + 2'000 + random() % 4'000;
    if (!eventually([&] { return settled() >= std::min(target, 2 * kPerRequester); },
                    kRunTimeout)) {
      break;
    }
    if (settled() >= 2 * kPerRequester - 1'000) break;
    std::optional<pid_t> holder;
    eventually(
        [&] {
          return (holder = watch.member_holding_messages(std::string(kDefaultResponderGroup)))
              .has_value();
        },
        1s);
    pid_t victim = holder.value_or(responders[random() % responders.size()]->pid());
    for (auto it = responders.begin(); it != responders.end(); ++it) {
      if ((*it)->pid() != victim) continue;
      (*it)->kill(SIGKILL);
      (*it)->wait(kStartTimeout);
      responders.erase(it);
      break;
    }
    spawn_responder();
  }
  std::uint64_t redelivered = 0;
  expect_all_answered(requester1, kPerRequester, &redelivered, &watch);
  expect_all_answered(requester2, kPerRequester, &redelivered, &watch);
  EXPECT_EQ(group->lost.load(), 0U);
  EXPECT_EQ(group->dead_lettered.load(), 0U);
  std::printf("%llu requests answered after their redelivery, %d responder kills\n",
              static_cast<unsigned long long>(redelivered), kills);
}

TEST_F(RequestReply, RequestAndReplyCarryPayloadAndProperties) {
  Client client(ClientOptions{bus_, "test-rpc"});
  auto responder = client.responder("it.rpc.props");
  auto requester = client.requester("it.rpc.props");
  EXPECT_EQ(requester.service(), "it.rpc.props");
  EXPECT_EQ(requester.reply_topic().rfind("_reply.", 0), 0U);

  Properties properties;
  properties.set("op", "upper").content_type("text/plain");
  std::uint64_t id = 0;
  ASSERT_EQ(requester.send(bytes_of("hello"), properties, id), Status::ok);
  Message request;
  ASSERT_EQ(responder.receive(request, 5s), Status::ok);
  EXPECT_EQ(text_of(request), "hello");
  EXPECT_EQ(request.properties().get("op"), "upper");
  EXPECT_EQ(request.properties().get(kReplyToProperty), requester.reply_topic());
  EXPECT_EQ(correlation_id(request), id);
  EXPECT_EQ(responder.in_flight(), 1U);

  Properties reply_properties;
  reply_properties.set("status", "200");
  ASSERT_EQ(responder.reply(request, bytes_of("HELLO"), reply_properties), Status::ok);
  EXPECT_EQ(responder.in_flight(), 0U) << "replying acks the request";
  EXPECT_EQ(responder.reply(request, bytes_of("again")), Status::not_held);

  Message reply;
  ASSERT_EQ(requester.receive_reply(reply, 5s), Status::ok);
  EXPECT_EQ(text_of(reply), "HELLO");
  EXPECT_EQ(reply.properties().get("status"), "200");
  EXPECT_EQ(correlation_id(reply), id);
  EXPECT_EQ(reply.topic(), requester.reply_topic());
  EXPECT_EQ(requester.try_receive_reply(reply), Status::empty);
}

// Replies that are not the awaited one (a duplicate after a redelivery, a late reply to a request
// that timed out, a forged id) never come out of request().
TEST_F(RequestReply, RequestReturnsOnlyItsOwnReply) {
  Client client(ClientOptions{bus_, "test-rpc"});
  client.declare_group("it.rpc.strays", std::string(kDefaultResponderGroup));
  auto requester = client.requester("it.rpc.strays");
  Message reply;

  // Nobody answers yet: the declared group queues the request, the requester times out.
  EXPECT_EQ(requester.request(bytes_of("first"), reply, 20ms), Status::timeout);

  auto responder = client.responder("it.rpc.strays");
  auto forger = client.publisher(requester.reply_topic());
  Message request;
  ASSERT_EQ(responder.receive(request, 5s), Status::ok);
  EXPECT_EQ(text_of(request), "first");
  ASSERT_EQ(responder.reply(request, bytes_of("late")), Status::ok);  // to the timed-out one

  // A forged reply with a future id and one without any id.
  Properties forged;
  forged.set(kCorrelationIdProperty, "00000000000000ff");
  ASSERT_EQ(forger.publish(bytes_of("forged"), forged), Status::ok);
  ASSERT_EQ(forger.publish(bytes_of("no id")), Status::ok);

  std::thread answer([&] {
    Message second;
    if (responder.receive(second, 5s) != Status::ok) return;
    // A duplicate first, as if a responder had died between its reply and its ack.
    Properties duplicate;
    duplicate.set(kCorrelationIdProperty, *second.properties().get(kCorrelationIdProperty));
    (void)forger.publish(bytes_of("echo: second"), duplicate);
    (void)responder.reply(second, bytes_of("echo: second"));
  });
  ASSERT_EQ(requester.request(bytes_of("second"), reply, 5s), Status::ok);
  answer.join();
  EXPECT_EQ(text_of(reply), "echo: second");
  EXPECT_EQ(correlation_id(reply), 2U);
  // The late reply to request 1 was dropped by request(), and so is the duplicate now.
  EXPECT_EQ(requester.try_receive_reply(reply), Status::empty);
}

// A request whose reply is slow keeps its place however many others come and go meanwhile: its
// reply is taken when it comes; send() says full rather than let the window pass over it.
// A request given up with abandon() has its late reply dropped.
TEST_F(RequestReply, SlowReplyKeepsItsPlaceAndAbandonedOneIsDropped) {
  Client client(ClientOptions{bus_, "test-rpc"});
  auto responder = client.responder("it.rpc.slow");
  auto requester = client.requester("it.rpc.slow");
  std::uint64_t slow_id = 0;
  ASSERT_EQ(requester.send(bytes_of("slow"), slow_id), Status::ok);
  Message slow;
  ASSERT_EQ(responder.receive(slow, 5s), Status::ok);

  Message request;
  Message reply;
  std::uint64_t id = 0;
  for (std::uint64_t i = 1; i < Requester::kReplyWindow; ++i) {
    ASSERT_EQ(requester.send(bytes_of("quick"), id), Status::ok) << i;
    ASSERT_EQ(responder.receive(request, 5s), Status::ok);
    ASSERT_EQ(responder.reply(request, bytes_of("quick reply")), Status::ok);
    ASSERT_EQ(requester.receive_reply(reply, 5s), Status::ok);
    ASSERT_EQ(correlation_id(reply), id);
  }
  EXPECT_EQ(requester.send(bytes_of("one too many"), id), Status::full);

  ASSERT_EQ(responder.reply(slow, bytes_of("slow reply")), Status::ok);
  ASSERT_EQ(requester.receive_reply(reply, 5s), Status::ok);
  EXPECT_EQ(correlation_id(reply), slow_id);
  EXPECT_EQ(text_of(reply), "slow reply");

  ASSERT_EQ(requester.send(bytes_of("abandoned"), id), Status::ok);
  EXPECT_TRUE(requester.abandon(id));
  EXPECT_FALSE(requester.abandon(id));
  ASSERT_EQ(responder.receive(request, 5s), Status::ok);
  ASSERT_EQ(responder.reply(request, bytes_of("too late")), Status::ok);
  EXPECT_EQ(requester.receive_reply(reply, 50ms), Status::timeout);
}

// No more requests await replies than the reply topic has slots, so a burst of replies never
// overwrites one unread.
TEST_F(RequestReply, RequestsInFlightAreBoundedByTheReplyTopic) {
  Client client(ClientOptions{bus_, "test-rpc"});
  auto responder = client.responder("it.rpc.bounded");
  RequesterOptions options;
  options.reply_slot_count = 4;
  auto requester = client.requester("it.rpc.bounded", options);
  std::uint64_t id = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 3; ++i)
      ASSERT_EQ(requester.send(bytes_of("burst"), id), Status::ok);
    EXPECT_EQ(requester.send(bytes_of("burst"), id), Status::full);
    // All three replies fit beside the reply the requester still holds from the last round.
    Message request;
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(responder.receive(request, 5s), Status::ok);
      ASSERT_EQ(responder.reply(request, bytes_of("answer")), Status::ok);
    }
    Message reply;
    for (int i = 0; i < 3; ++i)
      ASSERT_EQ(requester.receive_reply(reply, 5s), Status::ok);
  }
  EXPECT_EQ(requester.send(bytes_of("burst"), id), Status::ok);
}

TEST_F(RequestReply, NoResponderGroupIsRefusedAtOnce) {
  Client client(ClientOptions{bus_, "test-rpc"});
  auto requester = client.requester("it.rpc.nobody");
  Message reply;
  EXPECT_EQ(requester.request(bytes_of("anyone?"), reply, 5s), Status::no_responders);
  std::uint64_t id = 0;
  EXPECT_EQ(requester.send(bytes_of("anyone?"), id), Status::no_responders);
  {
    auto responder = client.responder("it.rpc.nobody");
    std::thread answer([&] {
      Message request;
      if (responder.receive(request, 5s) == Status::ok) {
        (void)responder.reply(request, bytes_of("here"));
      }
    });
    EXPECT_EQ(requester.request(bytes_of("anyone?"), reply, 5s), Status::ok);
    answer.join();
    EXPECT_EQ(text_of(reply), "here");
  }
  // The last responder left an undeclared group: it is gone, and so is the service.
  EXPECT_EQ(requester.request(bytes_of("anyone?"), reply, 5s), Status::no_responders);
}

// The reply topic is the requester's: deleted with it; a reply to it afterwards is dropped and
// the request acked, since nobody waits for it any more.
TEST_F(RequestReply, ReplyToARequesterThatHasGoneIsDropped) {
  Client client(ClientOptions{bus_, "test-rpc"});
  auto responder = client.responder("it.rpc.gone");
  std::string reply_topic;
  {
    auto requester = client.requester("it.rpc.gone");
    reply_topic = requester.reply_topic();
    EXPECT_TRUE(directory_lists(bus_, reply_topic));
    std::uint64_t id = 0;
    ASSERT_EQ(requester.send(bytes_of("fire and forget"), id), Status::ok);
  }
  EXPECT_FALSE(directory_lists(bus_, reply_topic));
  Message request;
  ASSERT_EQ(responder.receive(request, 5s), Status::ok);
  EXPECT_EQ(responder.reply(request, bytes_of("nobody listens")), Status::ok);
  EXPECT_EQ(responder.in_flight(), 0U);
}

TEST_F(RequestReply, BadInputGetsClearErrors) {
  Client client(ClientOptions{bus_, "test-rpc"});
  const auto expect_error = [](ErrorCode code, auto&& make) {
    try {
      make();
      ADD_FAILURE() << "no error, expected " << to_string(code);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()), "");
    }
  };
  expect_error(ErrorCode::invalid_name, [&] { (void)client.requester("bad..name"); });
  expect_error(ErrorCode::invalid_name, [&] { (void)client.responder("md.#"); });
  RequesterOptions bad_group;
  bad_group.group = "no spaces";
  expect_error(ErrorCode::invalid_name, [&] { (void)client.requester("it.rpc.bad", bad_group); });
  RequesterOptions no_slots;
  no_slots.reply_slot_count = 1;
  expect_error(ErrorCode::invalid_argument,
               [&] { (void)client.requester("it.rpc.bad", no_slots); });

  auto responder = client.responder("it.rpc.bad", {}, TopicOptions{256, 8, FullPolicy::block});
  auto requester = client.requester("it.rpc.bad");
  Message reply;
  const std::string oversize(300, 'x');
  EXPECT_EQ(requester.request(bytes_of(oversize), reply, 1s), Status::too_large);

  // A plain message on the service topic is no request: the responder cannot answer it, and it
  // stays held until settled otherwise.
  auto plain = client.publisher("it.rpc.bad");
  ASSERT_EQ(plain.publish(bytes_of("not a request")), Status::ok);
  Message message;
  ASSERT_EQ(responder.receive(message, 5s), Status::ok);
  EXPECT_EQ(responder.reply(message, bytes_of("?")), Status::not_a_request);
  EXPECT_EQ(responder.in_flight(), 1U);
  EXPECT_EQ(responder.reject(message, Nack::dead_letter), Status::ok);
  EXPECT_EQ(responder.in_flight(), 0U);

  Requester moved_from;
  EXPECT_EQ(moved_from.request(bytes_of("x"), reply, 1s), Status::closed);
  Responder empty_responder;
  EXPECT_EQ(empty_responder.reply(message, bytes_of("x")), Status::closed);
}

}  // namespace
}  // namespace shmbus::testing
