// The ring on its own: wrap-around, full rings in both policies, lapping, aborted slots, reclaim.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "ring/heap_topic.hpp"

namespace shmbus::testing {
namespace {

using layout::FullPolicy;
using std::chrono::milliseconds;

TEST(Ring, DeliversInOrderAcrossManyWraps) {
  TestTopic topic(64, 8, FullPolicy::block);
  auto writer = topic.writer();
  auto reader = topic.reader();
  ring::ReadResult result;
  for (std::uint64_t i = 0; i < 100; ++i) {
    ASSERT_EQ(publish_value(writer, i), Status::ok);
    ASSERT_TRUE(reader->poll(result));
    EXPECT_EQ(result.header.sequence, i);
    EXPECT_EQ(payload_value(result), i);
    EXPECT_EQ(result.header.size, sizeof(std::uint64_t));
    EXPECT_EQ(result.header.publisher_id, 7U);
    EXPECT_EQ(result.lost_before, 0U);
  }
  EXPECT_FALSE(reader->poll(result));
}

TEST(Ring, BlockPolicyReportsFullAtCapacityAndResumesAfterReceive) {
  TestTopic topic(64, 8, FullPolicy::block);
  auto writer = topic.writer();
  auto reader = topic.reader();
  for (std::uint64_t i = 0; i < 8; ++i)
    ASSERT_EQ(publish_value(writer, i), Status::ok);
  EXPECT_EQ(publish_value(writer, 8), Status::full);
  EXPECT_EQ(publish_value(writer, 8, milliseconds(5)), Status::timeout);

  ring::ReadResult result;
  ASSERT_TRUE(reader->poll(result));  // holds message 0: its slot stays reserved
  EXPECT_EQ(publish_value(writer, 8), Status::full);
  ASSERT_TRUE(reader->poll(result));  // releases 0
  EXPECT_EQ(publish_value(writer, 8), Status::ok);
  for (std::uint64_t expected = 2; expected <= 8; ++expected) {
    ASSERT_TRUE(reader->poll(result));
    EXPECT_EQ(payload_value(result), expected);
  }
}

TEST(Ring, BlockPolicyWithoutSubscribersNeverWaits) {
  TestTopic topic(64, 4, FullPolicy::block);
  auto writer = topic.writer();
  for (std::uint64_t i = 0; i < 100; ++i)
    ASSERT_EQ(publish_value(writer, i), Status::ok);
}

TEST(Ring, ReleasedSubscriberStopsGating) {
  TestTopic topic(64, 4, FullPolicy::block);
  auto writer = topic.writer();
  auto reader = topic.reader();
  for (std::uint64_t i = 0; i < 4; ++i)
    ASSERT_EQ(publish_value(writer, i), Status::ok);
  ASSERT_EQ(publish_value(writer, 4), Status::full);
  ring::release_subscriber(topic.view(), 0);
  EXPECT_EQ(publish_value(writer, 4), Status::ok);
}

TEST(Ring, OverwritePolicyCountsExactLossAndResumesAtOldest) {
  TestTopic topic(64, 8, FullPolicy::overwrite);
  auto writer = topic.writer();
  auto reader = topic.reader();
  for (std::uint64_t i = 0; i < 20; ++i)
    ASSERT_EQ(publish_value(writer, i), Status::ok);
  ring::ReadResult result;
  ASSERT_TRUE(reader->poll(result));
  EXPECT_EQ(result.header.sequence, 12U);  // 20 published, 8 held: 12..19
  EXPECT_EQ(result.lost_before, 12U);
  EXPECT_EQ(reader->lost(), 12U);
  for (std::uint64_t expected = 13; expected < 20; ++expected) {
    ASSERT_TRUE(reader->poll(result));
    EXPECT_EQ(payload_value(result), expected);
    EXPECT_EQ(result.lost_before, 0U);
  }
  EXPECT_FALSE(reader->poll(result));
  EXPECT_EQ(topic.view().subscribers[0].lost.load(), 12U);
}

TEST(Ring, AbortedSlotsAreSkippedWithoutCountingLoss) {
  TestTopic topic(64, 8, FullPolicy::block);
  auto writer = topic.writer();
  auto reader = topic.reader();
  ASSERT_EQ(publish_value(writer, 100), Status::ok);
  std::uint64_t sequence = 0;
  ASSERT_EQ(writer.claim(sequence, {}), Status::ok);
  writer.abort(sequence);
  ASSERT_EQ(publish_value(writer, 102), Status::ok);
  ring::ReadResult result;
  ASSERT_TRUE(reader->poll(result));
  EXPECT_EQ(payload_value(result), 100U);
  ASSERT_TRUE(reader->poll(result));
  EXPECT_EQ(payload_value(result), 102U);
  EXPECT_EQ(result.header.sequence, 2U);
  EXPECT_EQ(reader->lost(), 0U);
}

TEST(Ring, UnpublishedClaimBlocksReadersUntilReclaimAbortsIt) {
  TestTopic topic(64, 8, FullPolicy::block);
  const auto dead_index = topic.add_publisher_index(9);
  ring::RingWriter dead(topic.view(), &topic.view().publishers[dead_index], 9);
  auto writer = topic.writer();
  auto reader = topic.reader();
  std::uint64_t held = 0;
  ASSERT_EQ(dead.claim(held, {}), Status::ok);  // "killed" before commit
  ASSERT_EQ(publish_value(writer, 1), Status::ok);
  ring::ReadResult result;
  EXPECT_FALSE(reader->poll(result));  // per-topic order: sequence 0 must come first
  EXPECT_EQ(ring::reclaim_publisher(topic.view(), dead_index), ring::ReclaimResult::done);
  ASSERT_TRUE(reader->poll(result));
  EXPECT_EQ(payload_value(result), 1U);
  EXPECT_EQ(topic.view().publishers[dead_index].state.load(),
            static_cast<std::uint32_t>(layout::EntryState::free));
}

TEST(Ring, ReclaimLeavesCommittedMessagesAlone) {
  TestTopic topic(64, 8, FullPolicy::block);
  const auto index = topic.add_publisher_index(9);
  ring::RingWriter writer(topic.view(), &topic.view().publishers[index], 9);
  auto reader = topic.reader();
  ASSERT_EQ(publish_value(writer, 5), Status::ok);
  EXPECT_EQ(ring::reclaim_publisher(topic.view(), index), ring::ReclaimResult::done);
  ring::ReadResult result;
  ASSERT_TRUE(reader->poll(result));
  EXPECT_EQ(payload_value(result), 5U);
}

TEST(Ring, ReclaimWaitsWhileALivePublisherAnnouncedTheSameSequence) {
  TestTopic topic(64, 8, FullPolicy::block);
  const auto dead_index = topic.add_publisher_index(9);
  const auto live_index = topic.add_publisher_index(10);
  auto& view = topic.view();
  // Both announced sequence 0; the live one won the CAS and is still writing.
  view.publishers[dead_index].pending.store(1);
  view.publishers[live_index].pending.store(1);
  view.header->next_sequence.store(1);
  EXPECT_EQ(ring::reclaim_publisher(view, dead_index), ring::ReclaimResult::retry_later);
  view.slot(0).word.store(layout::committed_word(0));
  EXPECT_EQ(ring::reclaim_publisher(view, dead_index), ring::ReclaimResult::done);
}

TEST(Ring, StartPositions) {
  TestTopic topic(64, 8, FullPolicy::overwrite);
  auto writer = topic.writer();
  for (std::uint64_t i = 0; i < 20; ++i)
    ASSERT_EQ(publish_value(writer, i), Status::ok);
  EXPECT_EQ(ring::start_sequence(topic.view(), protocol::StartFrom::latest, 0), 20U);
  EXPECT_EQ(ring::start_sequence(topic.view(), protocol::StartFrom::earliest, 0), 12U);
  EXPECT_EQ(ring::start_sequence(topic.view(), protocol::StartFrom::last_n, 3), 17U);
  EXPECT_EQ(ring::start_sequence(topic.view(), protocol::StartFrom::last_n, 100), 12U);
  auto reader = topic.reader(protocol::StartFrom::last_n, 3);
  ring::ReadResult result;
  for (std::uint64_t expected = 17; expected < 20; ++expected) {
    ASSERT_TRUE(reader->poll(result));
    EXPECT_EQ(payload_value(result), expected);
  }
}

TEST(Ring, OversizeSizeFieldInACorruptedSlotIsSkippedNotRead) {
  TestTopic topic(64, 8, FullPolicy::block);
  auto writer = topic.writer();
  auto reader = topic.reader();
  ASSERT_EQ(publish_value(writer, 1), Status::ok);
  ASSERT_EQ(publish_value(writer, 2), Status::ok);
  topic.view().slot(0).size = 1U << 30;
  ring::ReadResult result;
  ASSERT_TRUE(reader->poll(result));
  EXPECT_EQ(payload_value(result), 2U);
  EXPECT_EQ(reader->corrupt(), 1U);
}

// Two publisher threads and two subscriber threads on a small block ring: every subscriber gets
// every message once, and each publisher's messages in order.
TEST(Ring, ConcurrentPublishersAndSubscribersLoseNothingInBlockMode) {
  constexpr std::uint64_t kPerPublisher = 20000;
  TestTopic topic(64, 16, FullPolicy::block);
  std::vector<std::unique_ptr<ring::RingReader>> readers;
  readers.push_back(topic.reader());
  readers.push_back(topic.reader());
  std::vector<ring::RingWriter> writers{topic.writer(1), topic.writer(2)};
  std::vector<std::thread> threads;
  std::vector<std::vector<std::uint64_t>> next_per_publisher(2, std::vector<std::uint64_t>(3, 0));
  std::vector<std::uint64_t> received(2, 0);
  for (std::size_t r = 0; r < readers.size(); ++r) {
    threads.emplace_back([&, r] {
      ring::ReadResult result;
      while (received[r] < 2 * kPerPublisher) {
        if (!readers[r]->poll(result)) {
          std::this_thread::yield();
          continue;
        }
        const std::uint64_t value = payload_value(result);
        const std::uint64_t publisher = result.header.publisher_id;
        ASSERT_TRUE(publisher == 1 || publisher == 2);
        ASSERT_EQ(value, next_per_publisher[r][publisher]);
        ++next_per_publisher[r][publisher];
        ++received[r];
      }
    });
  }
  for (std::size_t w = 0; w < writers.size(); ++w) {
    threads.emplace_back([&, w] {
      for (std::uint64_t i = 0; i < kPerPublisher; ++i) {
        ASSERT_EQ(publish_value(writers[w], i, std::chrono::seconds(10)), Status::ok);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  for (std::size_t r = 0; r < readers.size(); ++r) {
    EXPECT_EQ(received[r], 2 * kPerPublisher);
    EXPECT_EQ(readers[r]->lost(), 0U);
  }
}

}  // namespace
}  // namespace shmbus::testing
