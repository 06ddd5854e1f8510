// Shared subscription groups across real processes: members SIGKILLed at random moments (in plain
// and key-ordered groups), a declared group that outlives its members, dead-lettering, ack
// timeouts and bad input.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "bus_fixture.hpp"
#include "group/group_admin.hpp"
#include "layout/fixed_string.hpp"
#include "layout/naming.hpp"
#include "layout/segment_format.hpp"
#include "peer_protocol.hpp"
#include "ring/topic_view.hpp"
#include "shm/segment.hpp"
#include "shmbus/shmbus.hpp"
#include "topic_watch.hpp"

namespace shmbus::testing {
namespace {

using namespace std::chrono_literals;

// The DeliveryRecords a member process logged (see test_peer member).
std::vector<DeliveryRecord> read_log(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return {};
  DeliveryLogHeader header{};
  std::vector<DeliveryRecord> records;
  if (::pread(fd, &header, sizeof(header), 0) == static_cast<ssize_t>(sizeof(header))) {
    records.resize(header.count);
    const auto bytes = static_cast<ssize_t>(header.count * sizeof(DeliveryRecord));
    if (::pread(fd, records.data(), static_cast<std::size_t>(bytes), sizeof(header)) != bytes) {
      records.clear();
    }
  }
  ::close(fd);
  return records;
}

class MemberPool {
 public:
  // `stamps`: empty for plain members; for members of a key-ordered group, the DeliveryStamps file
  // they share.
  MemberPool(std::string bus, std::string topic, std::string group, std::uint64_t capacity,
             std::string stamps = {})
      : bus_(std::move(bus)),
        topic_(std::move(topic)),
        group_(std::move(group)),
        capacity_(capacity),
        stamps_(std::move(stamps)) {}
  ~MemberPool() {
    for (const auto& path : logs_)
      std::filesystem::remove(path);
  }

  // A member that has joined. Key-ordered members leave by themselves after `leave_after` records
  // (0: never).
  ChildProcess& spawn(std::uint64_t leave_after = 0) {
    const std::string log = (std::filesystem::temp_directory_path() /
                             (bus_ + "-member" + std::to_string(logs_.size()) + ".log"))
                                .string();
    logs_.push_back(log);
    std::vector<std::string> argv{TEST_PEER_PATH,
                                  stamps_.empty() ? "member" : "keymember",
                                  bus_,
                                  topic_,
                                  group_,
                                  log,
                                  std::to_string(capacity_)};
    if (!stamps_.empty()) {
      argv.push_back(stamps_);
      argv.push_back(std::to_string(leave_after));
    }
    members_.push_back(std::make_unique<ChildProcess>(argv));
    EXPECT_TRUE(members_.back()->wait_for_line("READY", kStartTimeout)) << "member did not join";
    return *members_.back();
  }
  // Kills the member with `pid`; false if it is not one of ours.
  bool kill_pid(pid_t pid) {
    for (std::size_t i = 0; i < members_.size(); ++i) {
      if (members_[i]->pid() == pid) {
        kill(i);
        return true;
      }
    }
    return false;
  }
  void kill(std::size_t live_index) {
    members_[live_index]->kill(SIGKILL);
    const auto status = members_[live_index]->wait(kStartTimeout);
    EXPECT_TRUE(status && WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
        << "member " << members_[live_index]->pid() << " had exited on its own: status "
        << status.value_or(-1);
    members_.erase(members_.begin() + static_cast<std::ptrdiff_t>(live_index));
  }
  // Waits for `member` to leave the group by itself (LEFT, then exit 0) and forgets it.
  bool wait_left(const ChildProcess& member, std::chrono::milliseconds timeout) {
    const auto it = std::find_if(members_.begin(), members_.end(),
                                 [&](const auto& m) { return m.get() == &member; });
    if (it == members_.end()) return false;
    const bool left = (*it)->wait_for_line("LEFT", timeout).has_value();
    const auto status = (*it)->wait(kStartTimeout);
    members_.erase(it);
    return left && status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
  }
  void kill_all() {
    while (!members_.empty())
      kill(0);
  }
  [[nodiscard]] std::size_t live() const { return members_.size(); }
  [[nodiscard]] const std::vector<std::string>& logs() const { return logs_; }

 private:
  std::string bus_, topic_, group_;
  std::uint64_t capacity_;
  std::string stamps_;
  std::vector<std::unique_ptr<ChildProcess>> members_;
  std::vector<std::string> logs_;
};

struct LogCheck {
  std::uint64_t distinct = 0;
  std::uint64_t redeliveries = 0;
};

// Every message of `tags` x [0, per_tag) was received; at most one delivery of each is a first
// delivery (any other is flagged redelivered); each member saw its first deliveries of one
// publisher in publish order.
LogCheck check_logs(const std::vector<std::string>& logs, std::uint32_t tags,
                    std::uint64_t per_tag) {
  LogCheck result;
  std::vector<std::vector<std::uint8_t>> records(tags, std::vector<std::uint8_t>(per_tag, 0));
  std::vector<std::vector<std::uint8_t>> firsts(tags, std::vector<std::uint8_t>(per_tag, 0));
  for (const auto& path : logs) {
    std::map<std::uint32_t, std::uint64_t> last_first_delivery;
    for (const DeliveryRecord& r : read_log(path)) {
      EXPECT_LT(r.tag, tags);
      EXPECT_LT(r.index, per_tag);
      if (r.tag >= tags || r.index >= per_tag) continue;
      records[r.tag][r.index] = 1;
      if (r.deliveries > 1) {
        ++result.redeliveries;
        continue;
      }
      EXPECT_EQ(firsts[r.tag][r.index]++, 0U)
          << "tag " << r.tag << " index " << r.index << " was first-delivered twice";
      const auto it = last_first_delivery.find(r.tag);
      EXPECT_TRUE(it == last_first_delivery.end() || it->second < r.index)
          << "tag " << r.tag << ": first delivery of " << r.index << " after " << it->second;
      last_first_delivery[r.tag] = r.index;
    }
  }
  for (std::uint32_t tag = 0; tag < tags; ++tag) {
    for (std::uint64_t index = 0; index < per_tag; ++index) {
      if (records[tag][index] != 0) {
        ++result.distinct;
      } else {
        ADD_FAILURE() << "tag " << tag << " index " << index << " was never delivered";
        return result;
      }
    }
  }
  return result;
}

class Groups : public BusTest {
 protected:
  // A crash run's bus: the declared group "workers" on a 1024-slot block topic, three members,
  // and two publishers (tags 0 and 1) of `per_publisher` messages each, already streaming.
  struct WorkQueueRun {
    std::unique_ptr<Client> client;
    std::unique_ptr<TopicWatch> watch;
    const layout::GroupRecord* group = nullptr;
    std::unique_ptr<MemberPool> pool;
    std::vector<ChildProcess> publishers;
    std::mt19937 random;
  };

  WorkQueueRun start_work_queue(const std::string& topic, std::uint64_t per_publisher) {
    WorkQueueRun run;
    run.client = std::make_unique<Client>(ClientOptions{bus_, "test-driver"});
    run.client->open_topic(topic, TopicOptions{64, 1024, FullPolicy::block});
    run.client->declare_group(topic, "workers");
    run.watch = std::make_unique<TopicWatch>(bus_, topic);
    run.group = run.watch->group("workers");
    run.pool = std::make_unique<MemberPool>(bus_, topic, "workers", 2 * per_publisher);
    for (int i = 0; i < 3; ++i)
      run.pool->spawn();
    for (std::uint32_t tag = 0; tag < 2; ++tag)
      run.publishers.push_back(spawn_publisher(topic, tag, per_publisher));
    const auto seed = static_cast<unsigned>(::getpid());
    std::printf("fault injection seed %u\n", seed);
    run.random.seed(seed);
    return run;
  }

  // Kills a member caught holding messages within a second (the case redelivery must handle),
  // otherwise a random one.
  static void kill_a_holder(WorkQueueRun& run) {
    std::optional<pid_t> holder;
    eventually([&] { return (holder = run.watch->member_holding_messages("workers")).has_value(); },
               1s);
    if (!holder || !run.pool->kill_pid(*holder)) run.pool->kill(run.random() % run.pool->live());
  }

  // Waits for every message to be settled and the publishers to finish, stops the members, and
  // checks what every crash run must hold: the floor at the head, nothing dead-lettered or lost,
  // and the members' logs (check_logs).
  static LogCheck finish_work_queue(WorkQueueRun& run, std::uint64_t per_publisher) {
    TopicWatch& watch = *run.watch;
    if (!eventually([&] { return watch.floor("workers") >= 2 * per_publisher; }, kRunTimeout)) {
      ADD_FAILURE() << "not every message was settled: " << watch.describe("workers");
      run.pool->kill_all();
      return {};
    }
    for (auto& publisher : run.publishers)
      EXPECT_TRUE(publisher.wait(kStartTimeout));
    run.pool->kill_all();
    EXPECT_EQ(watch.floor("workers"), watch.head());
    EXPECT_EQ(run.group->dead_lettered.load(), 0U);
    EXPECT_EQ(run.group->lost.load(), 0U);
    return check_logs(run.pool->logs(), 2, per_publisher);
  }
};

// Members SIGKILLed at random moments while two publishers stream 10^6 messages: every message is
// acked exactly once in total (the ack floor reaches the head with nothing lost or dead-lettered;
// the delivery entry's CAS admits one ack per delivery), every repeat delivery is flagged, nothing
// is lost. The ack counter may miss the acks of members killed between ack and count.
TEST_F(Groups, MembersKilledAtRandomEveryMessageAckedExactlyOnce) {
  constexpr std::uint64_t kPerPublisher = 500'000;
  constexpr std::uint64_t kTotal = 2 * kPerPublisher;
  auto run = start_work_queue("it.group.work", kPerPublisher);
  ASSERT_NE(run.group, nullptr);
  TopicWatch& watch = *run.watch;
  int kills = 0;
  for (; kills < 6; ++kills) {
    // Wait for some progress, then kill a random member at a random moment and replace it.
    // The floor, not `acked`: a member killed between settling and counting leaves acked short.
    const std::uint64_t target = watch.floor("workers") + 20'000 + run.random() % 60'000;
    if (!eventually([&] { return watch.floor("workers") >= std::min(target, kTotal); }, 120s)) {
      break;
    }
    if (watch.floor("workers") >= kTotal) break;
    kill_a_holder(run);
    run.pool->spawn();
  }
  const LogCheck logs = finish_work_queue(run, kPerPublisher);
  const auto& group = *run.group;
  EXPECT_LE(group.acked.load(), kTotal);
  EXPECT_GE(group.acked.load() + static_cast<std::uint64_t>(kills), kTotal);
  EXPECT_EQ(group.redelivered.load(), logs.redeliveries + group.ready.load())
      << "every requeued message is redelivered (or still waiting)";
  std::printf("%llu redeliveries after %d member kills\n",
              static_cast<unsigned long long>(logs.redeliveries), kills);
}

// The daemon is SIGKILLed while members work through the queue, and a member holding messages
// dies while no daemon runs. Publishers and the other members carry on meanwhile; the next daemon
// adopts the group, finds the dead member and requeues what it held. Every message is acked, every
// repeat delivery is flagged, nothing is lost.
TEST_F(Groups, DaemonKilledWhileMembersWorkAndAMemberDiesMeanwhile) {
  constexpr std::uint64_t kPerPublisher = 100'000;
  constexpr std::uint64_t kTotal = 2 * kPerPublisher;
  auto run = start_work_queue("it.group.restart", kPerPublisher);
  ASSERT_NE(run.group, nullptr);
  TopicWatch& watch = *run.watch;
  const std::uint64_t target = 10'000 + run.random() % 40'000;
  ASSERT_TRUE(eventually([&] { return watch.floor("workers") >= target; }, kRunTimeout));

  daemon().kill(SIGKILL);
  ASSERT_TRUE(daemon().wait(kStartTimeout));
  daemon_.reset();
  // The others keep acking without a daemon: the floor moves on.
  const std::uint64_t floor_without_daemon = watch.floor("workers");
  ASSERT_TRUE(eventually([&] { return watch.floor("workers") > floor_without_daemon + 1'000; },
                         kRunTimeout))
      << watch.describe("workers");
  kill_a_holder(run);

  start_daemon();
  run.pool->spawn();
  const LogCheck logs = finish_work_queue(run, kPerPublisher);
  EXPECT_EQ(logs.distinct, kTotal);
  std::printf("%llu redeliveries after the member killed without a daemon\n",
              static_cast<unsigned long long>(logs.redeliveries));
}

// The DeliveryStamps file the members of a key-ordered run share, zeroed; removed at the end.
class StampFile {
 public:
  explicit StampFile(const std::string& bus)
      : path_((std::filesystem::temp_directory_path() / (bus + "-stamps")).string()) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT_GE(fd, 0) << path_;
    if (fd >= 0) {
      EXPECT_EQ(::ftruncate(fd, sizeof(DeliveryStamps)), 0);
      ::close(fd);
    }
  }
  ~StampFile() { std::filesystem::remove(path_); }
  StampFile(const StampFile&) = delete;
  StampFile& operator=(const StampFile&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct KeyOrderCheck {
  std::uint64_t records = 0;
  std::uint64_t redeliveries = 0;  // records with deliveries > 1
  std::uint64_t repeats = 0;       // the same message again, right after itself
  std::uint32_t keys_redelivered = 0;
};

// Per-key order in a key-ordered group, from the stamped logs of all its members.
//
// The guarantee: a key bucket belongs to one member from the first message it takes until it
// holds none of that bucket in flight; fresh messages are handed out in topic order; while
// requeued messages wait, no fresh one is handed out. So a member that dies (or leaves) holding
// messages of a key has them requeued, and the key's next holder gets them again, oldest first,
// before any later message of that key: a key's messages are consumed as a Kafka partition's,
// replaying only what its last holder had not acked.
//
// What the logs show of it: each member takes its messages one by one in the order received,
// takes a stamp from the counter all members share, logs the delivery and then acks it. A key
// changes hands only after its holder logged and acked (or died holding) everything of it, and the
// next holder stamps after it received, so per key the stamps order the logged deliveries as they
// happened. All logged deliveries of a member are acked except perhaps its last one (killed
// between log and ack); what it received after that was never logged.
//
// Checked: per key, the logged deliveries of all members merged by stamp go through the key's
// messages in topic order, hence in publish order per publisher. The only repeat allowed is a
// message again right after itself with a higher delivery count (its holder died between logging
// and acking it). A step back to an earlier message is a violation: an older message of the key
// was still unsettled elsewhere, or was requeued and went out after a later one of its key. With
// check_logs (every message logged) this also rules out gaps.
KeyOrderCheck check_key_order(const std::vector<std::string>& logs, std::uint32_t keys,
                              std::uint32_t tags) {
  struct Delivery {
    DeliveryRecord record;
    std::size_t log;
  };
  KeyOrderCheck result;
  std::vector<std::vector<Delivery>> by_key(keys);
  std::vector<std::uint64_t> stamps;
  for (std::size_t log = 0; log < logs.size(); ++log) {
    for (const DeliveryRecord& r : read_log(logs[log])) {
      ++result.records;
      stamps.push_back(r.stamp);
      if (r.key != key_of(r.index, keys) || r.tag >= tags) {
        ADD_FAILURE() << "tag " << r.tag << " index " << r.index << " arrived with key " << r.key
                      << ", published with " << key_of(r.index, keys);
        continue;
      }
      if (r.deliveries > 1) ++result.redeliveries;
      by_key[r.key].push_back({r, log});
    }
  }
  std::sort(stamps.begin(), stamps.end());
  EXPECT_TRUE(stamps.empty() || stamps.front() != 0) << "a delivery was logged without a stamp";
  EXPECT_EQ(std::adjacent_find(stamps.begin(), stamps.end()), stamps.end())
      << "two deliveries share a stamp";

  const auto describe = [](const Delivery& d) {
    return "seq " + std::to_string(d.record.sequence) + " (tag " + std::to_string(d.record.tag) +
           " index " + std::to_string(d.record.index) + ", delivery " +
           std::to_string(d.record.deliveries) + ", member " + std::to_string(d.log) + ", stamp " +
           std::to_string(d.record.stamp) + ")";
  };
  for (std::uint32_t key = 0; key < keys; ++key) {
    auto& deliveries = by_key[key];
    std::sort(deliveries.begin(), deliveries.end(),
              [](const Delivery& a, const Delivery& b) { return a.record.stamp < b.record.stamp; });
    bool redelivered = false;
    std::vector<std::optional<std::uint64_t>> last_index(tags);
    for (std::size_t i = 0; i < deliveries.size(); ++i) {
      const DeliveryRecord& r = deliveries[i].record;
      redelivered = redelivered || r.deliveries > 1;
      auto& last = last_index[r.tag];
      const bool publish_order = !last || *last <= r.index;
      last = r.index;
      if (i == 0) continue;
      const DeliveryRecord& previous = deliveries[i - 1].record;
      const bool repeat = r.sequence == previous.sequence;
      if (repeat) ++result.repeats;
      if (r.sequence < previous.sequence || !publish_order ||
          (repeat && r.deliveries <= previous.deliveries)) {
        ADD_FAILURE() << "key " << key << ": " << describe(deliveries[i]) << " delivered after "
                      << describe(deliveries[i - 1]);
        break;  // one report per key
      }
    }
    if (redelivered) ++result.keys_redelivered;
  }
  return result;
}

// A key-ordered group under member churn: two publishers stream messages over kKeys ordering keys
// while members are SIGKILLed at random moments holding messages and replaced, one more joins
// late and one leaves by itself mid-batch. Nothing is lost, the ack floor reaches the head, every
// message is delivered and every repeat is flagged (check_logs), and per key the deliveries keep
// topic order across the churn (check_key_order says exactly what that means).
TEST_F(Groups, KeyOrderedGroupKeepsPerKeyOrderAcrossMemberChurn) {
  constexpr std::uint64_t kPerPublisher = 250'000;
  constexpr std::uint64_t kTotal = 2 * kPerPublisher;
  constexpr std::uint32_t kKeys = 32;
  constexpr int kKills = 12;
  const std::string topic = "it.group.keyed";
  Client client(ClientOptions{bus_, "test-driver"});
  client.open_topic(topic, TopicOptions{64, 1024, FullPolicy::block});
  GroupSettings settings;
  settings.key_ordered = true;
  client.declare_group(topic, "keyed", settings);
  TopicWatch watch(bus_, topic);
  const auto* group = watch.group("keyed");
  ASSERT_NE(group, nullptr);

  StampFile stamps(bus_);
  // A member may see every message, and some twice.
  MemberPool pool(bus_, topic, "keyed", 2 * kTotal, stamps.path());
  for (int i = 0; i < 3; ++i)
    pool.spawn();
  auto publisher0 = spawn_publisher(topic, 0, kPerPublisher, 32, kKeys);
  auto publisher1 = spawn_publisher(topic, 1, kPerPublisher, 32, kKeys);

  const auto seed = static_cast<unsigned>(::getpid());
  std::printf("fault injection seed %u\n", seed);
  std::mt19937 random(seed);
  int kills = 0;
  bool joined_late = false, left = false;
  for (int round = 0; round < kKills; ++round) {
    // The floor, not `acked`: a member killed between settling and counting leaves acked short.
    const std::uint64_t target = watch.floor("keyed") + 10'000 + random() % 25'000;
    if (!eventually([&] { return watch.floor("keyed") >= std::min(target, kTotal); }, 120s)) {
      break;
    }
    if (watch.floor("keyed") >= kTotal) break;
    if (round == 2) {
      pool.spawn();  // one more member than before: buckets move to it as they fall free
      joined_late = true;
    }
    if (round == 4) {
      // Leaves after 1000 records, dropping the rest of its batch: a clean leave that requeues.
      ChildProcess& leaver = pool.spawn(1'000);
      ASSERT_TRUE(pool.wait_left(leaver, 60s)) << watch.describe("keyed");
      left = true;
    }
    std::optional<pid_t> holder;
    eventually([&] { return (holder = watch.member_holding_messages("keyed")).has_value(); }, 1s);
    if (!holder || !pool.kill_pid(*holder)) pool.kill(random() % pool.live());
    ++kills;
    pool.spawn();
  }
  ASSERT_TRUE(eventually([&] { return watch.floor("keyed") >= kTotal; }, kRunTimeout))
      << watch.describe("keyed");
  for (ChildProcess* publisher : {&publisher0, &publisher1}) {
    const auto status = publisher->wait(kStartTimeout);
    ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "a publisher failed";
  }
  pool.kill_all();

  EXPECT_TRUE(joined_late && left) << "the run ended before the churn did";
  EXPECT_EQ(watch.floor("keyed"), watch.head());
  EXPECT_EQ(group->dead_lettered.load(), 0U);
  EXPECT_EQ(group->lost.load(), 0U);
  EXPECT_EQ(group->ready.load(), 0U);
  const LogCheck logs = check_logs(pool.logs(), 2, kPerPublisher);
  EXPECT_EQ(logs.distinct, kTotal);
  // Each requeue adds one delivery; those that went to a member killed before it logged them are
  // not in the logs.
  EXPECT_LE(logs.redeliveries, group->redelivered.load());
  const KeyOrderCheck order = check_key_order(pool.logs(), kKeys, 2);
  EXPECT_GT(order.redeliveries, 0U) << "the churn requeued nothing: the test tested no replay";
  std::printf(
      "%d member kills, 1 late join, 1 leave: %llu deliveries, %llu redeliveries over %u keys, "
      "%llu repeats of a logged message\n",
      kills, static_cast<unsigned long long>(order.records),
      static_cast<unsigned long long>(order.redeliveries), order.keys_redelivered,
      static_cast<unsigned long long>(order.repeats));
}

// A declared group keeps what is published while it has no member; the next member drains it.
TEST_F(Groups, DeclaredGroupAccumulatesWithoutMembersAndDrainsLater) {
  constexpr std::uint64_t kCount = 500;
  const std::string topic = "it.group.shaving";
  Client client(ClientOptions{bus_, "test-driver"});
  client.open_topic(topic, TopicOptions{64, 512, FullPolicy::block});
  client.declare_group(topic, "backlog");
  {
    auto publisher = client.publisher(topic);
    for (std::uint64_t i = 0; i < kCount; ++i) {
      TestPayloadHeader header{0, sizeof(TestPayloadHeader), i};
      ASSERT_EQ(publisher.publish(header), Status::ok);
    }
    // The ring holds 512: twelve more fit, then the unconsumed backlog holds publishers back.
    for (std::uint64_t i = kCount; i < 512; ++i) {
      TestPayloadHeader header{0, sizeof(TestPayloadHeader), i};
      ASSERT_EQ(publisher.publish(header), Status::ok);
    }
    TestPayloadHeader header{0, sizeof(TestPayloadHeader), 512};
    EXPECT_EQ(publisher.try_publish(header), Status::full);
  }
  TopicWatch watch(bus_, topic);
  const auto* group = watch.group("backlog");
  ASSERT_NE(group, nullptr);
  MemberPool pool(bus_, topic, "backlog", 1024);
  pool.spawn();
  ASSERT_TRUE(eventually([&] { return group->acked.load() >= 512; }, kRunTimeout));
  pool.kill_all();
  check_logs(pool.logs(), 1, 512);
}

// Nacked past max_deliveries, a message goes to the dead-letter topic, flagged; a nack with
// Nack::dead_letter sends it there at once.
TEST_F(Groups, DeadLetterAfterMaxDeliveriesAndOnRequest) {
  const std::string topic = "it.group.dlq";
  Client client(ClientOptions{bus_, "test-driver"});
  GroupOptions options;
  options.group.max_deliveries = 2;
  auto member = client.join_group(topic, "picky", options);
  EXPECT_EQ(member.dead_letter_topic(), topic + ".dlq");
  auto dead = client.subscriber(topic + ".dlq");
  auto publisher = client.publisher(topic);
  ASSERT_EQ(publisher.publish(std::uint64_t{41}, Properties().set("origin", "test")), Status::ok);
  ASSERT_EQ(publisher.publish(std::uint64_t{42}), Status::ok);

  Message message;
  for (std::uint32_t delivery = 1; delivery <= 2; ++delivery) {
    ASSERT_EQ(member.receive(message, 5s), Status::ok);
    EXPECT_EQ(message.as<std::uint64_t>(), 41U);
    EXPECT_EQ(message.deliveries(), delivery);
    EXPECT_EQ(message.redelivered(), delivery > 1);
    ASSERT_EQ(member.nack(message), Status::ok);
  }
  // The third delivery would exceed max_deliveries: 41 goes to the dead-letter topic instead.
  ASSERT_EQ(member.receive(message, 5s), Status::ok);
  EXPECT_EQ(message.as<std::uint64_t>(), 42U);
  ASSERT_EQ(member.nack(message, Nack::dead_letter), Status::ok);
  EXPECT_EQ(member.ack(message), Status::not_held);

  Message letter;
  ASSERT_EQ(dead.receive(letter, 5s), Status::ok);
  EXPECT_EQ(letter.as<std::uint64_t>(), 41U);
  EXPECT_TRUE(letter.dead_letter());
  EXPECT_EQ(letter.properties().get(kDeathReasonProperty), "max-deliveries");
  EXPECT_EQ(letter.properties().get(kOriginalTopicProperty), topic);
  EXPECT_EQ(letter.properties().get(kDeliveriesProperty), "2");
  EXPECT_EQ(letter.properties().get("origin"), "test");
  ASSERT_EQ(dead.receive(letter, 5s), Status::ok);
  EXPECT_EQ(letter.as<std::uint64_t>(), 42U);
  EXPECT_TRUE(letter.dead_letter());
  EXPECT_EQ(letter.properties().get(kDeathReasonProperty), "nack");
  EXPECT_EQ(member.try_receive(message), Status::empty);

  TopicWatch watch(bus_, topic);
  EXPECT_EQ(watch.group("picky")->dead_lettered.load(), 2U);
  EXPECT_EQ(watch.floor("picky"), 2U);
}

// A message not acked within the group's ack timeout is taken back by the daemon and delivered
// to another member, flagged; the slow member's late ack is refused.
TEST_F(Groups, AckTimeoutRedeliversToAnotherMember) {
  const std::string topic = "it.group.timeout";
  Client client(ClientOptions{bus_, "test-driver"});
  GroupOptions options;
  options.group.ack_timeout = 50ms;
  auto slow = client.join_group(topic, "timed", options);
  auto publisher = client.publisher(topic);
  ASSERT_EQ(publisher.publish(std::uint64_t{7}), Status::ok);
  Message held;
  ASSERT_EQ(slow.receive(held, 5s), Status::ok);
  auto fast = client.join_group(topic, "timed", options);
  Message again;
  ASSERT_EQ(fast.receive(again, 10s), Status::ok);
  EXPECT_EQ(again.as<std::uint64_t>(), 7U);
  EXPECT_TRUE(again.redelivered());
  EXPECT_EQ(again.deliveries(), 2U);
  EXPECT_EQ(slow.ack(held), Status::not_held);
  EXPECT_EQ(fast.ack(again), Status::ok);
}

// A member leaving hands back what it holds; an undeclared group goes with its last member and
// stops holding publishers back.
TEST_F(Groups, LeavingRequeuesAndLastMemberDeletesUndeclaredGroup) {
  const std::string topic = "it.group.leave";
  Client client(ClientOptions{bus_, "test-driver"});
  client.open_topic(topic, TopicOptions{64, 8, FullPolicy::block});
  auto stays = client.join_group(topic, "temp");
  auto publisher = client.publisher(topic);
  {
    auto leaves = client.join_group(topic, "temp");
    ASSERT_EQ(publisher.publish(std::uint64_t{1}), Status::ok);
    Message message;
    ASSERT_EQ(leaves.receive(message, 5s), Status::ok);
  }
  Message message;
  ASSERT_EQ(stays.receive(message, 5s), Status::ok);
  EXPECT_EQ(message.as<std::uint64_t>(), 1U);
  EXPECT_TRUE(message.redelivered());
  ASSERT_EQ(stays.ack(message), Status::ok);
  stays = GroupConsumer();
  TopicWatch watch(bus_, topic);
  EXPECT_EQ(watch.group("temp"), nullptr);
  for (std::uint64_t i = 0; i < 32; ++i)
    ASSERT_EQ(publisher.try_publish(i), Status::ok);
}

TEST_F(Groups, BadInputGetsClearErrors) {
  Client client(ClientOptions{bus_, "test-driver"});
  const auto expect_error = [](auto&& call, ErrorCode code, const std::string& fragment) {
    try {
      call();
      ADD_FAILURE() << "no error; expected " << to_string(code);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_error([&] { client.join_group("it.group.bad", "bad name"); }, ErrorCode::invalid_name,
               "group name");
  expect_error([&] { client.join_group("it.group.bad", ""); }, ErrorCode::invalid_name, "empty");
  GroupOptions zero_prefetch;
  zero_prefetch.prefetch = 0;
  expect_error([&] { client.join_group("it.group.bad", "g", zero_prefetch); },
               ErrorCode::invalid_argument, "prefetch");
  GroupOptions too_many;
  too_many.group.max_deliveries = 300;
  expect_error([&] { client.join_group("it.group.bad", "g", too_many); },
               ErrorCode::invalid_argument, "max deliveries");
  GroupOptions bad_dlq;
  bad_dlq.group.dead_letter_topic = "no#hash";
  expect_error([&] { client.join_group("it.group.bad", "g", bad_dlq); }, ErrorCode::invalid_name,
               "dead-letter");

  // Settling what this member does not hold.
  auto a = client.join_group("it.group.bad", "g");
  auto b = client.join_group("it.group.bad", "g");
  auto plain = client.subscriber("it.group.bad");
  auto publisher = client.publisher("it.group.bad");
  ASSERT_EQ(publisher.publish(std::uint64_t{1}), Status::ok);
  Message message;
  ASSERT_EQ(a.receive(message, 5s), Status::ok);
  EXPECT_EQ(b.ack(message), Status::not_held);
  Message broadcast;
  ASSERT_EQ(plain.receive(broadcast, 5s), Status::ok);
  EXPECT_EQ(a.ack(broadcast), Status::not_held);
  EXPECT_EQ(a.ack(message), Status::ok);
  EXPECT_EQ(a.ack(message), Status::not_held);
  EXPECT_EQ(GroupConsumer().ack(message), Status::closed);
}

}  // namespace
}  // namespace shmbus::testing
