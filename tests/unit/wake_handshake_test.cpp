// The futex handshake between publishers and sleeping subscribers: a sleeper pairs with the
// publisher's claim (seq_cst CAS), the commit is a plain release store, and a sleeper that sees a
// claim in flight never sleeps long on it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "client/blocking_wait.hpp"
#include "ring/claim_in_flight.hpp"
#include "ring/heap_topic.hpp"
#include "wait/clock.hpp"

namespace shmbus::testing {
namespace {

using layout::FullPolicy;

TEST(ClaimInFlight, ReportsClaimedSequencesNotYetCommittedOrAborted) {
  TestTopic topic(64, 8, FullPolicy::overwrite);
  auto first = topic.writer(1);
  auto second = topic.writer(2);
  EXPECT_FALSE(ring::claim_in_flight(topic.view(), 0)) << "nothing claimed";

  std::uint64_t a = 0;
  ASSERT_EQ(first.claim(a, {}), Status::ok);
  EXPECT_TRUE(ring::claim_in_flight(topic.view(), 0)) << "claimed, slot not begun";
  first.begin_write(a);
  EXPECT_TRUE(ring::claim_in_flight(topic.view(), 0)) << "being written";

  std::uint64_t b = 0;
  ASSERT_EQ(second.claim(b, {}), Status::ok);
  second.begin_write(b);
  second.commit(b, 0, 0);
  EXPECT_TRUE(ring::claim_in_flight(topic.view(), 0)) << "an older claim is still open";
  EXPECT_FALSE(ring::claim_in_flight(topic.view(), 1)) << "the consumer waits past it";

  first.abort(a);
  EXPECT_FALSE(ring::claim_in_flight(topic.view(), 0)) << "aborted counts as finished";
  EXPECT_FALSE(ring::claim_in_flight(topic.view(), 5)) << "from beyond the head";
}

TEST(ClaimInFlight, LooksOnlyAtTheLastLapOfTheRing) {
  TestTopic topic(64, 8, FullPolicy::overwrite);
  auto writer = topic.writer();
  for (std::uint64_t i = 0; i < 20; ++i)
    ASSERT_EQ(publish_value(writer, i), Status::ok);
  // A consumer lapped long ago: the sequences it missed are gone, not in flight.
  EXPECT_FALSE(ring::claim_in_flight(topic.view(), 0));
}

// One publisher thread, one sleeping subscriber thread. Each message is published while the
// subscriber sleeps or is about to: right after it counted itself in `waiters`, with the claim
// taken before that and committed after, or at once. The subscriber's sleeps are unbounded (only
// the 30 s deadline ends them), so a lost wake-up shows as a receive that ran into its deadline.
TEST(WakeHandshake, SleeperIsWokenForEveryMessageWhateverTheInterleaving) {
  constexpr std::uint64_t kMessages = 3000;
  constexpr std::uint64_t kDeadlineNs = 30'000'000'000;
  TestTopic topic(64, 64, FullPolicy::block);
  auto reader = topic.reader();
  auto writer = topic.writer();
  auto& header = *topic.view().header;
  std::atomic<std::uint64_t> received{0};
  std::atomic<bool> failed{false};

  std::thread publisher([&] {
    // Then a pause of 0 to 63 µs, so that the subscriber is sometimes already in the futex and
    // sometimes still polling or spinning on the claim.
    std::uint64_t jitter = 88172645463325252ULL;  // xorshift64
    const auto await_sleeper = [&] {
      while (header.waiters.load(std::memory_order_relaxed) == 0)
        wait::cpu_relax();
      jitter ^= jitter << 13;
      jitter ^= jitter >> 7;
      jitter ^= jitter << 17;
      const std::uint64_t until = wait::monotonic_ns() + (jitter % 64) * 1000;
      while (wait::monotonic_ns() < until)
        wait::cpu_relax();
    };
    for (std::uint64_t i = 0; i < kMessages; ++i) {
      // Lockstep: message i goes out while the subscriber waits for it, not while it finishes i-1.
      // acquire: pairs with the subscriber's release store of `received` below.
      while (received.load(std::memory_order_acquire) != i) {
        if (failed.load(std::memory_order_relaxed)) return;
        wait::cpu_relax();
      }
      switch (i % 3) {
        case 0:
          await_sleeper();
          ASSERT_EQ(publish_value(writer, i, std::chrono::seconds(30)), Status::ok);
          break;
        case 1: {
          std::uint64_t sequence = 0;
          ASSERT_EQ(writer.claim(sequence, std::chrono::seconds(30)), Status::ok);
          std::memcpy(writer.begin_write(sequence), &i, sizeof(i));
          await_sleeper();
          writer.commit(sequence, sizeof(i), 0);
          break;
        }
        default:
          ASSERT_EQ(publish_value(writer, i, std::chrono::seconds(30)), Status::ok);
          break;
      }
    }
  });

  std::uint64_t late = 0;
  for (std::uint64_t i = 0; i < kMessages; ++i) {
    ring::ReadResult result;
    const std::uint64_t deadline = wait::monotonic_ns() + kDeadlineNs;
    const Status status = detail::sleep_for_message(
        header, [&] { return reader->poll(result); }, [&] { return reader->claim_in_flight(); },
        deadline, /*max_sleep_ns=*/kDeadlineNs);
    if (status != Status::ok || wait::monotonic_ns() >= deadline) {
      ++late;
      failed.store(true, std::memory_order_relaxed);
      break;
    }
    if (payload_value(result) != i) {
      ADD_FAILURE() << "message " << i << " came as " << payload_value(result);
      failed.store(true, std::memory_order_relaxed);
      break;
    }
    // release: pairs with the publisher's acquire load; message i is read before i + 1 goes out.
    received.store(i + 1, std::memory_order_release);
  }
  publisher.join();
  EXPECT_EQ(late, 0U) << "a sleeper was not woken for a message published as it slept";
  EXPECT_EQ(header.waiters.load(), 0U);
}

// The one wake-up the handshake may lose: a publisher whose claim preceded the sleeper's fence may
// read `waiters` before the sleeper's increment reaches it. Played here by committing the slot
// with no look at `waiters` at all, long after the sleeper saw the claim in flight: the sleeper
// must still get the message from its short slices, not sleep out its (here unbounded) sleep.
TEST(WakeHandshake, SleeperThatSawAClaimInFlightNeedsNoWakeUp) {
  constexpr std::uint64_t kDeadlineNs = 30'000'000'000;
  TestTopic topic(64, 64, FullPolicy::block);
  auto reader = topic.reader();
  auto writer = topic.writer();
  auto& header = *topic.view().header;
  for (std::uint64_t round = 0; round < 20; ++round) {
    std::uint64_t sequence = 0;
    ASSERT_EQ(writer.claim(sequence, std::chrono::seconds(1)), Status::ok);
    std::memcpy(writer.begin_write(sequence), &round, sizeof(round));
    std::thread silent_committer([&] {
      while (header.waiters.load(std::memory_order_relaxed) == 0)
        wait::cpu_relax();
      // Past the sleeper's 2 µs poll: it is in (or on its way to) the futex.
      const std::uint64_t until = wait::monotonic_ns() + 1'000'000;
      while (wait::monotonic_ns() < until)
        wait::cpu_relax();
      auto& slot = topic.view().slot(sequence);
      slot.size = sizeof(round);
      slot.sequence = sequence;
      // release: pairs with the reader's acquire load of the word, as a commit does.
      slot.word.store(layout::committed_word(sequence), std::memory_order_release);
    });
    ring::ReadResult result;
    const std::uint64_t deadline = wait::monotonic_ns() + kDeadlineNs;
    const Status status = detail::sleep_for_message(
        header, [&] { return reader->poll(result); }, [&] { return reader->claim_in_flight(); },
        deadline, /*max_sleep_ns=*/kDeadlineNs);
    const bool in_time = wait::monotonic_ns() < deadline;
    silent_committer.join();
    ASSERT_EQ(status, Status::ok);
    EXPECT_TRUE(in_time) << "round " << round << ": the sleeper waited for a wake-up";
    EXPECT_EQ(payload_value(result), round);
  }
}

TEST(ClaimSlices, DoubleWhileTheClaimStaysOpenAndStartAgainWithoutOne) {
  detail::ClaimSlices slices;
  std::uint64_t expected = detail::kClaimSliceNs;
  for (int sleep = 0; sleep < 10; ++sleep) {
    EXPECT_EQ(slices.next(true), expected) << "sleep " << sleep;
    expected = std::min(expected * 2, detail::kClaimSliceMaxNs);
  }
  EXPECT_EQ(expected, detail::kClaimSliceMaxNs);
  EXPECT_EQ(slices.next(false), ~std::uint64_t{0});
  EXPECT_EQ(slices.next(true), detail::kClaimSliceNs);
}

// A publisher that claimed a slot and never commits it (descheduled, or dead with no daemon to
// abort its slot): its sleeper wakes a few dozen times in 150 ms, not once per 200 µs slice.
TEST(WakeHandshake, SleeperOfAClaimThatStaysOpenBacksOff) {
  TestTopic topic(64, 64, FullPolicy::block);
  auto reader = topic.reader();
  auto writer = topic.writer();
  std::uint64_t sequence = 0;
  ASSERT_EQ(writer.claim(sequence, std::chrono::seconds(1)), Status::ok);
  int sleeps = 0;
  ring::ReadResult result;
  const Status status = detail::sleep_for_message(
      *topic.view().header, [&] { return reader->poll(result); },
      [&] {
        ++sleeps;
        return reader->claim_in_flight();
      },
      wait::monotonic_ns() + 150'000'000, /*max_sleep_ns=*/~std::uint64_t{0});
  EXPECT_EQ(status, Status::timeout);
  // 7 doubling slices make 25.4 ms, then 12.8 ms each: about 17. Fixed slices would make 750.
  EXPECT_GE(sleeps, 2);
  EXPECT_LE(sleeps, 40);
  writer.abort(sequence);
}

}  // namespace
}  // namespace shmbus::testing
