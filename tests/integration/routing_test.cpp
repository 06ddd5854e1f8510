// Wildcard subscriptions and message properties across real processes (test_peer over shmbusd),
// and their bad input against a real daemon.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "bus_fixture.hpp"
#include "peer_protocol.hpp"
#include "shmbus/shmbus.hpp"

namespace shmbus::testing {
namespace {

using std::chrono::milliseconds;
using Routing = BusTest;

void expect_exit_ok(ChildProcess& child) {
  const auto status = child.wait(kRunTimeout);
  ASSERT_TRUE(status) << "child did not finish";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "status " << *status;
}

ChildProcess spawn_peer(const std::vector<std::string>& args) {
  std::vector<std::string> argv{TEST_PEER_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess child(argv);
  EXPECT_TRUE(child.wait_for_line("READY", kStartTimeout)) << "peer did not attach";
  return child;
}

// A wildcard subscriber started before any of its topics exists attaches to matching topics that
// other processes create later, and to none of the others; each topic's messages arrive complete
// and in order, named by their topic.
TEST_F(Routing, WildcardAttachesToTopicsCreatedLaterByOtherProcesses) {
  // Below the default ring size: a topic's messages published before the subscriber noticed the
  // topic are still in its ring (it attaches from earliest).
  constexpr std::uint64_t kFirst = 1000;
  constexpr std::uint64_t kSecond = 50'000;  // published once attached: gated, lossless
  auto wsub = spawn_peer({"wsub", bus_, "md.*.tick", std::to_string(2 * kFirst + kSecond),
                          std::to_string(2 * kFirst), "block"});

  // Topics that do not match: one level too few, another second level, another root.
  for (const char* topic : {"md.tick", "md.a.quote", "other.a.tick", "md.a.b.tick"}) {
    auto publisher = spawn_publisher(topic, 9, 100);
    expect_exit_ok(publisher);
  }
  auto pub_a = spawn_publisher("md.a.tick", 0, kFirst);
  auto pub_b = spawn_publisher("md.b.tick", 1, kFirst);
  expect_exit_ok(pub_a);
  expect_exit_ok(pub_b);
  ASSERT_TRUE(wsub.wait_for_line("CHECKPOINT", kRunTimeout)) << "first messages did not arrive";

  auto pub_a2 = spawn_publisher("md.a.tick", 2, kSecond);
  expect_exit_ok(pub_a2);

  std::map<std::string, std::uint64_t> per_topic;
  std::optional<std::string> result;
  while (auto line = wsub.read_line(kRunTimeout)) {
    if (line->starts_with("TOPIC ")) {
      const auto space = line->rfind(' ');
      per_topic[line->substr(6, space - 6)] = std::stoull(line->substr(space + 1));
    } else if (line->starts_with("RESULT")) {
      result = line;
      break;
    }
  }
  ASSERT_TRUE(result) << "wildcard subscriber produced no result";
  EXPECT_EQ(field(*result, "received"), 2 * kFirst + kSecond) << *result;
  EXPECT_EQ(field(*result, "gaps"), 0U) << *result;
  EXPECT_EQ(field(*result, "duplicates"), 0U) << *result;
  EXPECT_EQ(field(*result, "corrupt"), 0U) << *result;
  EXPECT_EQ(field(*result, "lost"), 0U) << *result;
  EXPECT_EQ(per_topic, (std::map<std::string, std::uint64_t>{{"md.a.tick", kFirst + kSecond},
                                                             {"md.b.tick", kFirst}}));
  expect_exit_ok(wsub);
}

struct FilterCase {
  std::vector<std::string> args;  // all|any, then KEY=VALUE conditions
  std::uint64_t expect_received;
};

// A `ppub` stream of 100 messages (alternately copied and loaned) with properties idx, parity,
// mod3, content-type and key, read by a filtered subscriber in another process.
void run_filter_case(BusTest& test, const std::string& bus, const std::string& topic,
                     const FilterCase& c) {
  constexpr std::uint64_t kCount = 100;
  std::vector<std::string> args{"fsub", bus, topic, c.args[0], std::to_string(c.expect_received)};
  args.insert(args.end(), c.args.begin() + 1, c.args.end());
  auto subscriber = spawn_peer(args);
  auto publisher = spawn_peer({"ppub", bus, topic, std::to_string(kCount)});
  expect_exit_ok(publisher);
  const auto result = subscriber.wait_for_line("RESULT", kRunTimeout);
  ASSERT_TRUE(result) << "filtered subscriber produced no result";
  EXPECT_EQ(field(*result, "received"), c.expect_received) << *result;
  // Every case's filter passes the last message (99), so all 100 were looked at by then.
  EXPECT_EQ(field(*result, "last"), kCount - 1) << *result;
  EXPECT_EQ(field(*result, "filtered"), kCount - c.expect_received) << *result;
  EXPECT_EQ(field(*result, "property_errors"), 0U) << *result;
  EXPECT_EQ(field(*result, "filter_errors"), 0U) << *result;
  EXPECT_EQ(field(*result, "order_errors"), 0U) << *result;
  expect_exit_ok(subscriber);
  (void)test;
}

TEST_F(Routing, PropertiesOfCopiedAndLoanedMessagesReachAnotherProcess) {
  run_filter_case(*this, bus_, "props.all", {{"all"}, 100});
}

TEST_F(Routing, FilterAllSkipsNonMatchingMessagesWithoutDeliveringThem) {
  run_filter_case(*this, bus_, "props.odd",
                  {{"all", "parity=odd", "content-type=application/x-index"}, 50});
}

TEST_F(Routing, FilterAnyDeliversMessagesMatchingOneCondition) {
  // mod3=0: 0, 3, ..., 99 (34 messages); idx=1: one more.
  run_filter_case(*this, bus_, "props.any", {{"any", "mod3=0", "idx=1"}, 35});
}

TEST_F(Routing, FilterOnKeyPresenceAndValue) {
  // key present (all) and key k4: indices 4, 9, ..., 99.
  run_filter_case(*this, bus_, "props.key", {{"all", "key", "key=k4"}, 20});
}

// In one process against the daemon: start positions of a pattern subscriber, round robin, and
// the topic of each message.
TEST_F(Routing, PatternSubscriberStartsExistingTopicsAtTheOptionsStart) {
  Client client(ClientOptions{bus_, "routing"});
  auto old_a = client.publisher("rt.old.a");
  auto old_b = client.publisher("rt.old.b");
  ASSERT_EQ(old_a.publish(std::uint64_t{1}), Status::ok);
  ASSERT_EQ(old_b.publish(std::uint64_t{2}), Status::ok);

  auto latest = client.pattern_subscriber("rt.#");
  auto earliest = client.pattern_subscriber(
      "rt.#", SubscribeOptions{.start = StartPosition::earliest(), .wait = WaitMode::block});
  EXPECT_EQ(latest.topics(), (std::vector<std::string>{"rt.old.a", "rt.old.b"}));
  EXPECT_EQ(latest.pattern(), "rt.#");

  Message message;
  EXPECT_EQ(latest.try_receive(message), Status::empty);  // history is not for `latest`
  std::map<std::string, std::uint64_t> got;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(earliest.receive(message, milliseconds(2000)), Status::ok);
    got[std::string(message.topic())] = message.as<std::uint64_t>().value_or(0);
  }
  EXPECT_EQ(got, (std::map<std::string, std::uint64_t>{{"rt.old.a", 1}, {"rt.old.b", 2}}));

  // A topic created later: both subscribers read it from its start.
  auto fresh = client.publisher("rt.new");
  ASSERT_EQ(fresh.publish(std::uint64_t{3}), Status::ok);
  for (auto* subscriber : {&latest, &earliest}) {
    ASSERT_EQ(subscriber->receive(message, milliseconds(2000)), Status::ok);
    EXPECT_EQ(message.topic(), "rt.new");
    EXPECT_EQ(message.as<std::uint64_t>(), 3U);
  }
  EXPECT_EQ(latest.topics().size(), 3U);
}

TEST_F(Routing, PatternSubscriberTakesTopicsInTurn) {
  Client client(ClientOptions{bus_, "routing"});
  auto a = client.publisher("rr.a");
  auto b = client.publisher("rr.b");
  auto subscriber = client.pattern_subscriber("rr.*");
  for (std::uint64_t i = 0; i < 3; ++i) {
    ASSERT_EQ(a.publish(i), Status::ok);
    ASSERT_EQ(b.publish(i), Status::ok);
  }
  Message message;
  std::string order;
  while (subscriber.try_receive(message) == Status::ok)
    order += message.topic().back();
  EXPECT_EQ(order, "ababab");
}

bool readable(int fd, int timeout_ms) {
  pollfd pfd{fd, POLLIN, 0};
  return ::poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN) != 0;
}

// An event loop waits on the pattern subscriber's fd: it becomes readable for a message on an
// attached topic, and for a matching topic that another process creates while the loop sleeps.
TEST_F(Routing, PatternSubscriberFdWakesAnEventLoopForMessagesAndNewTopics) {
  Client client(ClientOptions{bus_, "routing"});
  auto existing = client.publisher("loop.a");
  auto subscriber = client.pattern_subscriber("loop.#");
  const int fd = subscriber.fd();
  EXPECT_FALSE(readable(fd, 0));
  Message message;

  ASSERT_EQ(existing.publish(std::uint64_t{1}), Status::ok);
  ASSERT_TRUE(readable(fd, 5000));
  ASSERT_EQ(subscriber.try_receive(message), Status::ok);
  EXPECT_EQ(message.topic(), "loop.a");
  EXPECT_EQ(subscriber.try_receive(message), Status::empty);  // drained: re-armed
  EXPECT_FALSE(readable(fd, 0));

  // Another process creates a matching topic and publishes to it.
  auto publisher = spawn_peer({"pub", bus_, "loop.b", "7", "3", "32"});
  ASSERT_TRUE(readable(fd, 5000));
  std::uint64_t from_new_topic = 0;
  for (int round = 0; round < 100 && from_new_topic < 3; ++round) {
    while (subscriber.try_receive(message) == Status::ok) {
      TestPayloadHeader header{};
      ASSERT_TRUE(read_payload(message.payload(), header));
      EXPECT_EQ(message.topic(), "loop.b");
      EXPECT_EQ(header.index, from_new_topic++);
    }
    if (from_new_topic < 3) {
      ASSERT_TRUE(readable(fd, 5000));
    }
  }
  EXPECT_EQ(from_new_topic, 3U);
  expect_exit_ok(publisher);
  EXPECT_FALSE(readable(fd, 0));
}

// The daemon dies after a matching topic appeared and before the pattern subscriber read the
// directory: its receives go on at once for the topics it has (a refresh does not wait for a new
// daemon), its fd does not wake an event loop without end, and once a new daemon serves the bus
// it attaches the new topic.
TEST_F(Routing, PatternSubscriberCarriesOnWhileTheDaemonIsDown) {
  Client client(ClientOptions{bus_, "routing"});
  auto attached = client.publisher("down.a");
  auto subscriber = client.pattern_subscriber("down.*");
  const int fd = subscriber.fd();
  Message message;
  EXPECT_EQ(subscriber.try_receive(message), Status::empty);
  auto appeared = client.publisher("down.b");  // the directory changes; nobody has read it yet
  daemon().kill(SIGKILL);
  ASSERT_TRUE(daemon().wait(kStartTimeout));
  daemon_.reset();

  // A receive that waited for a daemon would take 2 s; these 200 must not add up to that.
  const auto started = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < 200; ++i) {
    ASSERT_EQ(attached.publish(i), Status::ok);
    ASSERT_EQ(subscriber.try_receive(message), Status::ok);
    EXPECT_EQ(message.topic(), "down.a");
    EXPECT_EQ(message.as<std::uint64_t>(), i);
    EXPECT_EQ(subscriber.try_receive(message), Status::empty);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));

  // For 300 ms an event loop serves the fd: it may wake a few times (each retry of the directory
  // is due 100 ms after the last), not on every turn as a directory always "changed" would.
  int wakes = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  while (std::chrono::steady_clock::now() < until) {
    if (!readable(fd, 10)) continue;
    ++wakes;
    EXPECT_EQ(subscriber.try_receive(message), Status::empty);
  }
  std::printf("%d fd wake-ups in 300 ms without a daemon\n", wakes);
  EXPECT_LE(wakes, 10);

  start_daemon();
  ASSERT_EQ(appeared.publish(std::uint64_t{77}), Status::ok);
  ASSERT_EQ(subscriber.receive(message, std::chrono::milliseconds(10'000)), Status::ok);
  EXPECT_EQ(message.topic(), "down.b");
  EXPECT_EQ(message.as<std::uint64_t>(), 77U);
}

TEST_F(Routing, PatternSubscriberAppliesItsFilterToEveryTopic) {
  Client client(ClientOptions{bus_, "routing"});
  SubscribeOptions options;
  options.wait = WaitMode::block;
  options.filter.where("keep", "yes");
  auto subscriber = client.pattern_subscriber("flt.#", options);
  Properties keep;
  keep.set("keep", "yes");
  Properties drop;
  drop.set("keep", "no");
  // Topics created after the subscription, from another thread while the subscriber sleeps.
  std::thread publisher([&] {
    auto a = client.publisher("flt.a");
    auto b = client.publisher("flt.b.c");
    for (std::uint64_t i = 0; i < 10; ++i) {
      ASSERT_EQ(a.publish(i, i % 2 == 0 ? keep : drop), Status::ok);
      ASSERT_EQ(b.publish(i, drop), Status::ok);
    }
    ASSERT_EQ(a.publish(std::uint64_t{100}, keep), Status::ok);  // end markers
    ASSERT_EQ(b.publish(std::uint64_t{100}, keep), Status::ok);
  });
  std::vector<std::uint64_t> from_a;
  std::vector<std::uint64_t> from_b;
  Message message;
  while (from_a.empty() || from_a.back() != 100 || from_b.empty()) {
    if (subscriber.receive(message, milliseconds(5000)) != Status::ok) {
      ADD_FAILURE() << "no message; filtered so far " << subscriber.filtered();
      break;  // and join the publisher below
    }
    const auto value = message.as<std::uint64_t>().value_or(0);
    (message.topic() == "flt.a" ? from_a : from_b).push_back(value);
  }
  publisher.join();
  EXPECT_EQ(from_a, (std::vector<std::uint64_t>{0, 2, 4, 6, 8, 100}));
  EXPECT_EQ(from_b, (std::vector<std::uint64_t>{100}));
  EXPECT_EQ(subscriber.filtered(), 15U);
}

TEST_F(Routing, BadPatternsAndFiltersGiveClearErrors) {
  Client client(ClientOptions{bus_, "routing"});
  for (const char* bad : {"", "a*", "#x", "a..b", "md.*x"}) {
    try {
      (void)client.pattern_subscriber(bad);
      ADD_FAILURE() << "accepted pattern '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_name) << bad;
      EXPECT_NE(std::string(e.what()).find("pattern"), std::string::npos) << e.what();
    }
  }
  SubscribeOptions options;
  options.filter.where("bad key", "x");
  try {
    (void)client.subscriber("rt.filter", options);
    ADD_FAILURE() << "accepted a bad filter";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("filter: property key"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)client.pattern_subscriber("rt.#", options), Error);
}

TEST_F(Routing, OversizePropertiesAreRefusedAndNothingIsPublished) {
  Client client(ClientOptions{bus_, "routing"});
  const TopicOptions shape{.slot_size = 64, .slot_count = 8, .policy = FullPolicy::block};
  auto subscriber = client.subscriber("rt.small", {}, shape);
  auto publisher = client.publisher("rt.small", shape);

  Properties properties;
  properties.set("note", std::string(50, 'n'));  // 2 + 3 + 4 + 50 = 59 bytes encoded
  EXPECT_THROW(properties.set("big", std::string(300, 'x')), Error);

  const std::array<std::byte, 8> payload{};
  EXPECT_EQ(publisher.publish(payload, properties), Status::too_large);  // 8 + 59 > 64
  EXPECT_EQ(publisher.try_publish(payload, properties), Status::too_large);
  {
    Loan loan = publisher.loan(8);
    ASSERT_TRUE(loan);
    loan.properties() = properties;
    EXPECT_EQ(loan.commit(), Status::too_large);  // kept; dropped below, so aborted
  }
  Message message;
  EXPECT_EQ(subscriber.try_receive(message), Status::empty);

  // What fits goes through: 5 + 59 = 64.
  const std::array<std::byte, 5> small{};
  ASSERT_EQ(publisher.publish(small, properties), Status::ok);
  ASSERT_EQ(subscriber.receive(message, milliseconds(2000)), Status::ok);
  EXPECT_EQ(message.size(), 5U);
  EXPECT_EQ(message.properties().get("note"), std::string(50, 'n'));
  EXPECT_EQ(message.topic(), "rt.small");
}

}  // namespace
}  // namespace shmbus::testing
