// Shared subscription groups in one process: exactly-once hand-out among members, acks and the
// ack floor, requeue and redelivery counts, dead-letter hand-off, members removed by the daemon,
// ack timeouts and key-ordered routing.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "group/group_admin.hpp"
#include "group/group_reader.hpp"
#include "ring/heap_topic.hpp"

namespace shmbus::testing {
namespace {

using group::Delivery;
using group::GroupReader;
using group::Outcome;
using layout::FullPolicy;

class GroupTopic {
 public:
  GroupTopic(std::uint32_t slot_count, FullPolicy policy, group::GroupSettings settings = {})
      : topic_(64, slot_count, policy) {
    index_ = *group::create_group(topic_.view(), "workers", "test.topic", settings);
  }

  GroupReader member(std::uint32_t prefetch = 64) {
    const auto m = group::add_member(topic_.view(), index_, 1, prefetch);
    EXPECT_TRUE(m.has_value());
    members_.push_back(*m);
    return {topic_.view(), group::GroupView::of(topic_.view(), index_), *m, prefetch};
  }

  [[nodiscard]] std::uint64_t floor() const {
    return group::GroupView::of(topic_.view(), index_).floor->cursor.load();
  }
  [[nodiscard]] layout::GroupRecord& record() const { return topic_.view().groups[index_]; }
  [[nodiscard]] const ring::TopicView& view() const { return topic_.view(); }
  [[nodiscard]] std::uint32_t index() const { return index_; }
  TestTopic& topic() { return topic_; }

 private:
  TestTopic topic_;
  std::uint32_t index_ = 0;
  std::vector<std::uint32_t> members_;
};

std::uint64_t value_of(const Delivery& d) {
  return payload_value(d.read);
}

void publish_keyed(ring::RingWriter& writer, std::uint64_t value, std::uint32_t key_hash) {
  std::uint64_t sequence = 0;
  ASSERT_EQ(writer.claim(sequence, {}), Status::ok);
  std::memcpy(writer.begin_write(sequence), &value, sizeof(value));
  writer.commit(sequence, sizeof(value), 0);
  // Single-threaded test: setting the key after the commit is seen by the next poll.
  writer.topic().slot(sequence).key_hash = key_hash;
}

TEST(Group, EachMessageGoesToExactlyOneMemberAndAcksMoveTheFloor) {
  GroupTopic g(16, FullPolicy::block);
  auto a = g.member();
  auto b = g.member();
  auto writer = g.topic().writer();
  for (std::uint64_t i = 0; i < 10; ++i)
    ASSERT_EQ(publish_value(writer, i), Status::ok);
  std::vector<std::uint64_t> seen;
  Delivery d;
  for (int round = 0; round < 10; ++round) {
    GroupReader& m = round % 2 == 0 ? a : b;
    ASSERT_TRUE(m.poll(d));
    EXPECT_EQ(d.deliveries, 1U);
    EXPECT_FALSE(d.dead_letter);
    seen.push_back(value_of(d));
  }
  EXPECT_FALSE(a.poll(d));
  EXPECT_FALSE(b.poll(d));
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(g.floor(), 0U);
  // Acks out of order: the floor moves only over a settled prefix.
  EXPECT_EQ(b.finish(1, Outcome::acked), Status::ok);
  EXPECT_EQ(g.floor(), 0U);
  EXPECT_EQ(a.finish(0, Outcome::acked), Status::ok);
  EXPECT_EQ(g.floor(), 2U);
  EXPECT_EQ(g.record().acked.load(), 2U);
}

TEST(Group, UnackedMessagesHoldBlockPublishersBack) {
  GroupTopic g(4, FullPolicy::block);
  auto writer = g.topic().writer();
  for (std::uint64_t i = 0; i < 4; ++i)
    ASSERT_EQ(publish_value(writer, i), Status::ok);
  // No member yet: the group keeps its backlog, so the ring is full.
  EXPECT_EQ(publish_value(writer, 4), Status::full);
  auto a = g.member();
  Delivery d;
  ASSERT_TRUE(a.poll(d));
  EXPECT_EQ(publish_value(writer, 4), Status::full);  // delivered is not acked
  ASSERT_EQ(a.finish(0, Outcome::acked), Status::ok);
  EXPECT_EQ(publish_value(writer, 4), Status::ok);
}

TEST(Group, SettlingAForeignOrSettledMessageIsNotHeld) {
  GroupTopic g(8, FullPolicy::block);
  auto a = g.member();
  auto b = g.member();
  auto writer = g.topic().writer();
  ASSERT_EQ(publish_value(writer, 0), Status::ok);
  Delivery d;
  ASSERT_TRUE(a.poll(d));
  EXPECT_EQ(b.finish(0, Outcome::acked), Status::not_held);
  EXPECT_EQ(a.finish(5, Outcome::acked), Status::not_held);
  EXPECT_EQ(a.finish(0, Outcome::acked), Status::ok);
  EXPECT_EQ(a.finish(0, Outcome::acked), Status::not_held);
  EXPECT_EQ(a.finish(0, Outcome::requeued), Status::not_held);
}

TEST(Group, RequeuedMessageIsRedeliveredFirstWithItsCount) {
  GroupTopic g(8, FullPolicy::block);
  auto a = g.member();
  auto b = g.member();
  auto writer = g.topic().writer();
  for (std::uint64_t i = 0; i < 3; ++i)
    ASSERT_EQ(publish_value(writer, i), Status::ok);
  Delivery d;
  ASSERT_TRUE(a.poll(d));
  ASSERT_EQ(value_of(d), 0U);
  ASSERT_EQ(a.finish(0, Outcome::requeued), Status::ok);
  ASSERT_TRUE(b.poll(d));
  EXPECT_EQ(value_of(d), 0U);
  EXPECT_EQ(d.deliveries, 2U);
  ASSERT_TRUE(b.poll(d));
  EXPECT_EQ(value_of(d), 1U);
  EXPECT_EQ(d.deliveries, 1U);
  EXPECT_EQ(g.record().redelivered.load(), 1U);
}

TEST(Group, PastMaxDeliveriesTheMessageIsMarkedForDeadLetter) {
  group::GroupSettings settings;
  settings.max_deliveries = 2;
  GroupTopic g(8, FullPolicy::block, settings);
  auto a = g.member();
  auto writer = g.topic().writer();
  ASSERT_EQ(publish_value(writer, 42), Status::ok);
  Delivery d;
  for (std::uint32_t delivery = 1; delivery <= 2; ++delivery) {
    ASSERT_TRUE(a.poll(d));
    EXPECT_EQ(d.deliveries, delivery);
    EXPECT_FALSE(d.dead_letter);
    ASSERT_EQ(a.finish(0, Outcome::requeued), Status::ok);
  }
  ASSERT_TRUE(a.poll(d));
  EXPECT_TRUE(d.dead_letter);
  EXPECT_EQ(value_of(d), 42U);
  ASSERT_EQ(a.finish(0, Outcome::dead_lettered), Status::ok);
  EXPECT_EQ(g.record().dead_lettered.load(), 1U);
  EXPECT_EQ(g.floor(), 1U);
  EXPECT_FALSE(a.poll(d));
}

TEST(Group, RemovedMemberHasItsMessagesRequeuedToOthers) {
  GroupTopic g(8, FullPolicy::block);
  auto a = g.member();
  auto b = g.member();
  auto writer = g.topic().writer();
  for (std::uint64_t i = 0; i < 3; ++i)
    ASSERT_EQ(publish_value(writer, i), Status::ok);
  Delivery d;
  ASSERT_TRUE(a.poll(d));
  ASSERT_TRUE(a.poll(d));
  ASSERT_EQ(a.finish(1, Outcome::acked), Status::ok);
  // Member 0 (a) dies holding message 0.
  EXPECT_EQ(group::remove_member(g.view(), g.index(), 0), 1U);
  EXPECT_EQ(g.record().member_count.load(), 1U);
  ASSERT_TRUE(b.poll(d));
  EXPECT_EQ(value_of(d), 0U);
  EXPECT_EQ(d.deliveries, 2U);
  ASSERT_TRUE(b.poll(d));
  EXPECT_EQ(value_of(d), 2U);
  EXPECT_EQ(a.finish(0, Outcome::acked), Status::not_held);  // taken back from a
}

TEST(Group, AckTimeoutTakesTheMessageBack) {
  group::GroupSettings settings;
  settings.ack_timeout_ns = 1'000'000;
  GroupTopic g(8, FullPolicy::block, settings);
  auto a = g.member(1);
  auto b = g.member();
  auto writer = g.topic().writer();
  ASSERT_EQ(publish_value(writer, 7), Status::ok);
  ASSERT_EQ(publish_value(writer, 8), Status::ok);
  Delivery d;
  ASSERT_TRUE(a.poll(d));
  EXPECT_FALSE(a.poll(d));  // prefetch 1
  EXPECT_EQ(group::requeue_expired(g.view(), g.index(), wait::monotonic_ns()), 0U);
  EXPECT_EQ(group::requeue_expired(g.view(), g.index(), wait::monotonic_ns() + 2'000'000), 1U);
  ASSERT_TRUE(b.poll(d));
  EXPECT_EQ(value_of(d), 7U);
  EXPECT_EQ(d.deliveries, 2U);
  // a's prefetch slot is free again once it notices the message was taken back.
  ASSERT_TRUE(a.poll(d));
  EXPECT_EQ(value_of(d), 8U);
  EXPECT_EQ(a.finish(0, Outcome::acked), Status::not_held);
}

TEST(Group, KeyOrderedGroupKeepsAKeyWithOneMemberWhileItHoldsMessages) {
  group::GroupSettings settings;
  settings.flags = layout::kGroupKeyOrdered;
  GroupTopic g(16, FullPolicy::block, settings);
  auto a = g.member();
  auto b = g.member();
  auto writer = g.topic().writer();
  publish_keyed(writer, 0, 1);  // key 1
  publish_keyed(writer, 1, 1);  // key 1
  publish_keyed(writer, 2, 2);  // key 2
  Delivery d;
  ASSERT_TRUE(a.poll(d));
  EXPECT_EQ(value_of(d), 0U);
  EXPECT_FALSE(b.poll(d));  // message 1 has a's key: b waits behind it
  ASSERT_TRUE(a.poll(d));
  EXPECT_EQ(value_of(d), 1U);
  ASSERT_TRUE(b.poll(d));
  EXPECT_EQ(value_of(d), 2U);
  // a gives message 0 back while holding 1: the requeued 0 must go out before anything later of
  // key 1, and only to a (who still holds key 1 through message 1).
  ASSERT_EQ(a.finish(0, Outcome::requeued), Status::ok);
  publish_keyed(writer, 3, 2);
  EXPECT_FALSE(b.poll(d));  // fresh messages wait while a requeued one is pending
  ASSERT_TRUE(a.poll(d));
  EXPECT_EQ(value_of(d), 0U);
  ASSERT_TRUE(b.poll(d));
  EXPECT_EQ(value_of(d), 3U);
  // Once a settles all of key 1, the key is free for b.
  ASSERT_EQ(a.finish(0, Outcome::acked), Status::ok);
  ASSERT_EQ(a.finish(1, Outcome::acked), Status::ok);
  publish_keyed(writer, 4, 1);
  ASSERT_TRUE(b.poll(d));
  EXPECT_EQ(value_of(d), 4U);
}

// Two messages of one key; a giver holds the first `held` of them and requeues them, oldest first,
// while a taker polls. Returns in how many of `rounds` the taker got the second message first.
std::uint64_t race_requeue_against_poll(std::uint32_t held, std::uint64_t rounds) {
  group::GroupSettings settings;
  settings.flags = layout::kGroupKeyOrdered;
  GroupTopic g(64, FullPolicy::block, settings);
  auto giver = g.member();
  auto taker = g.member();
  auto writer = g.topic().writer();
  std::atomic<std::uint64_t> polling{0};  // the round the taker polls in
  std::atomic<std::uint64_t> done{0};     // the last round the taker finished
  std::uint64_t out_of_order = 0;
  std::thread taker_thread([&] {
    Delivery first, second;
    for (std::uint64_t round = 1; round <= rounds; ++round) {
      // acquire: pairs with the giver's release store, so this round's messages are published.
      while (polling.load(std::memory_order_acquire) != round) {
      }
      while (!taker.poll(first)) {
      }
      while (!taker.poll(second)) {
      }
      if (value_of(first) > value_of(second)) ++out_of_order;
      EXPECT_EQ(taker.finish(first.read.header.sequence, Outcome::acked), Status::ok);
      EXPECT_EQ(taker.finish(second.read.header.sequence, Outcome::acked), Status::ok);
      // release: pairs with the giver's acquire; its next round reuses the slots.
      done.store(round, std::memory_order_release);
    }
  });
  std::vector<std::uint64_t> sequences;
  for (std::uint64_t round = 1; round <= rounds; ++round) {
    publish_keyed(writer, 2 * round, 1);
    publish_keyed(writer, 2 * round + 1, 1);
    sequences.clear();
    Delivery d;
    for (std::uint32_t i = 0; i < held; ++i) {
      EXPECT_TRUE(giver.poll(d));
      sequences.push_back(d.read.header.sequence);
    }
    // release: pairs with the taker's acquire. It spins on the key the giver holds.
    polling.store(round, std::memory_order_release);
    for (const std::uint64_t sequence : sequences)
      EXPECT_EQ(giver.finish(sequence, Outcome::requeued), Status::ok);
    // acquire: pairs with the taker's release store.
    while (done.load(std::memory_order_acquire) != round) {
    }
  }
  taker_thread.join();
  return out_of_order;
}

// The requeued message goes out before the next fresh one of its key, even when the requeue races
// the poll: a requeue must count the message as waiting before it frees the key's bucket, and a
// poller that takes the freed bucket must look at that count again.
TEST(Group, KeyOrderedRequeueRacingAPollGoesOutBeforeTheKeysNextMessage) {
  EXPECT_EQ(race_requeue_against_poll(1, 20'000), 0U) << "of 20000 rounds";
}

// Requeued messages of one key go out oldest first, even when the poller's scan passed the older
// one just before it was requeued: whoever takes the bucket looks again for an older one waiting.
TEST(Group, KeyOrderedRequeuesRacingAScanGoOutOldestFirst) {
  EXPECT_EQ(race_requeue_against_poll(2, 20'000), 0U) << "of 20000 rounds";
}

TEST(Group, AbortedSlotsAreSkippedAndSettled) {
  GroupTopic g(8, FullPolicy::block);
  auto a = g.member();
  auto writer = g.topic().writer();
  std::uint64_t sequence = 0;
  ASSERT_EQ(writer.claim(sequence, {}), Status::ok);
  writer.abort(sequence);
  ASSERT_EQ(publish_value(writer, 1), Status::ok);
  Delivery d;
  ASSERT_TRUE(a.poll(d));
  EXPECT_EQ(d.read.header.sequence, 1U);
  ASSERT_EQ(a.finish(1, Outcome::acked), Status::ok);
  EXPECT_EQ(g.floor(), 2U);
}

TEST(Group, OverwriteTopicCountsWhatTheGroupLost) {
  GroupTopic g(4, FullPolicy::overwrite);
  auto a = g.member();
  auto writer = g.topic().writer();
  for (std::uint64_t i = 0; i < 10; ++i)
    ASSERT_EQ(publish_value(writer, i), Status::ok);
  Delivery d;
  std::vector<std::uint64_t> seen;
  while (a.poll(d)) {
    seen.push_back(value_of(d));
    ASSERT_EQ(a.finish(d.read.header.sequence, Outcome::acked), Status::ok);
  }
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{6, 7, 8, 9}));
  EXPECT_EQ(g.record().lost.load(), 6U);
}

// Three member threads race for 200k messages: each is acked exactly once, none is lost.
TEST(Group, ConcurrentMembersTakeEveryMessageExactlyOnce) {
  constexpr std::uint64_t kMessages = 200'000;
  GroupTopic g(256, FullPolicy::block);
  std::vector<GroupReader> members;
  for (int i = 0; i < 3; ++i)
    members.push_back(g.member(8));
  std::vector<std::atomic<std::uint32_t>> taken(kMessages);
  std::atomic<std::uint64_t> acked{0};
  std::vector<std::thread> threads;
  for (auto& member : members) {
    threads.emplace_back([&, m = &member] {
      Delivery d;
      while (acked.load(std::memory_order_relaxed) < kMessages) {
        if (!m->poll(d)) {
          std::this_thread::yield();
          continue;
        }
        taken[value_of(d)].fetch_add(1, std::memory_order_relaxed);
        EXPECT_EQ(m->finish(d.read.header.sequence, Outcome::acked), Status::ok);
        acked.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  auto writer = g.topic().writer();
  for (std::uint64_t i = 0; i < kMessages; ++i) {
    ASSERT_EQ(publish_value(writer, i, std::chrono::seconds(10)), Status::ok);
  }
  for (auto& t : threads)
    t.join();
  for (std::uint64_t i = 0; i < kMessages; ++i)
    ASSERT_EQ(taken[i].load(), 1U) << "message " << i;
  EXPECT_EQ(g.floor(), kMessages);
  EXPECT_EQ(g.record().acked.load(), kMessages);
}

TEST(Group, OnlyAnEntryOfAnEarlierSequenceMayBeTaken) {
  using layout::DeliveryState;
  EXPECT_TRUE(layout::delivery_is_older(0, 5));
  EXPECT_TRUE(
      layout::delivery_is_older(layout::delivery_word(4, DeliveryState::released, 0, 1), 5));
  EXPECT_FALSE(
      layout::delivery_is_older(layout::delivery_word(5, DeliveryState::released, 0, 1), 5));
  // A member preempted so long that the ring moved on must not take the later lap's entry.
  EXPECT_FALSE(layout::delivery_is_older(
      layout::delivery_word(5 + 1024, DeliveryState::in_flight, 1, 1), 5));
  // Across the 46-bit tag wrap.
  const std::uint64_t wrap = layout::kDeliveryTagMask;
  EXPECT_TRUE(layout::delivery_is_older(
      layout::delivery_word(wrap - 2, DeliveryState::released, 0, 1), wrap + 5));
  EXPECT_FALSE(layout::delivery_is_older(
      layout::delivery_word(wrap + 7, DeliveryState::released, 0, 1), wrap + 5));
}

TEST(Group, SequenceOfTagRecoversTheSequenceNearTheHead) {
  for (const std::uint64_t s :
       {std::uint64_t{0}, std::uint64_t{5}, layout::kDeliveryTagMask - 1, layout::kDeliveryTagMask,
        layout::kDeliveryTagMask + 3, (std::uint64_t{3} << 46) + 17}) {
    EXPECT_EQ(group::sequence_of_tag(layout::delivery_tag(s), s + 100), s) << s;
    EXPECT_EQ(group::sequence_of_tag(layout::delivery_tag(s), s), s) << s;
  }
}

}  // namespace
}  // namespace shmbus::testing
