// The notifier behind fd(): its eventfd is readable when the consumer has something to read, and
// clear once a receive found nothing, even when that receive races the notifier's own check.
#include "client/notifier.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

#include "wait/futex.hpp"

namespace shmbus::detail {
namespace {

using std::chrono::milliseconds;

// A source the test drives: "publish" and "drain" set whether it has a message, and a held check
// stops the notifier inside ready(), after it has read the answer, until the test opens the gate.
class ScriptedSource final : public WatchedSource {
 public:
  bool ready() override {
    // acquire: pairs with publish()'s and drain()'s release stores.
    const bool has = has_message_.load(std::memory_order_acquire);
    if (hold_next_check_.exchange(false, std::memory_order_relaxed)) {
      checks_held_.fetch_add(1, std::memory_order_release);  // pairs with wait_until_held's load
      wait::futex_wake_all(checks_held_);
      // acquire: pairs with open_gate's release store.
      while (gate_.load(std::memory_order_acquire) == 0)
        wait::futex_wait_forever(gate_, 0);
    }
    return has;
  }

  void sleep() override {
    // acquire: pairs with the release increments of publish() and interrupt().
    const std::uint32_t seen = changes_.load(std::memory_order_acquire);
    if (has_message_.load(std::memory_order_acquire) ||
        interrupted_.load(std::memory_order_relaxed))
      return;
    wait::futex_wait_forever(changes_, seen);
  }

  void interrupt() override {
    interrupted_.store(true, std::memory_order_relaxed);
    changes_.fetch_add(1, std::memory_order_release);  // pairs with sleep()'s load
    wait::futex_wake_all(changes_);
  }

  void publish() {
    has_message_.store(true,
                       std::memory_order_release);     // pairs with ready()'s and sleep()'s loads
    changes_.fetch_add(1, std::memory_order_release);  // pairs with sleep()'s load
    wait::futex_wake_all(changes_);
  }
  void drain() { has_message_.store(false, std::memory_order_release); }  // pairs with ready()

  void hold_next_check() { hold_next_check_.store(true, std::memory_order_relaxed); }
  void wait_until_held() {
    // acquire: pairs with ready()'s release increment.
    while (checks_held_.load(std::memory_order_acquire) == 0)
      wait::futex_wait_forever(checks_held_, 0);
  }
  void open_gate() {
    gate_.store(1, std::memory_order_release);  // pairs with ready()'s gate load
    wait::futex_wake_all(gate_);
  }

 private:
  std::atomic<bool> has_message_{false};
  std::atomic<bool> interrupted_{false};
  std::atomic<bool> hold_next_check_{false};
  std::atomic<std::uint32_t> changes_{0};
  std::atomic<std::uint32_t> checks_held_{0};
  std::atomic<std::uint32_t> gate_{0};
};

bool readable(int fd, milliseconds timeout) {
  pollfd pfd{fd, POLLIN, 0};
  return ::poll(&pfd, 1, static_cast<int>(timeout.count())) == 1;
}

struct NotifierUnderTest {
  NotifierUnderTest() {
    auto owned = std::make_unique<ScriptedSource>();
    source = owned.get();
    notifier = std::make_unique<Notifier>(std::move(owned));
  }
  ScriptedSource* source = nullptr;
  std::unique_ptr<Notifier> notifier;
};

TEST(Notifier, SignalsAMessageAndClearsWhenTheConsumerFindsNothing) {
  NotifierUnderTest t;
  EXPECT_FALSE(readable(t.notifier->fd(), milliseconds(0)));
  for (int round = 0; round < 100; ++round) {
    t.source->publish();
    ASSERT_TRUE(readable(t.notifier->fd(), milliseconds(5000))) << "round " << round;
    t.source->drain();
    t.notifier->on_empty();
    ASSERT_FALSE(readable(t.notifier->fd(), milliseconds(0))) << "round " << round;
  }
}

// The notifier read "ready" for a message the consumer then drained, and is stopped before it
// signals. The consumer's empty receive must not return before that signal is taken back, or its
// event loop wakes for nothing. The test lets on_empty() run alone for up to 50 ms first: an
// on_empty() that does not wait for the check returns in that time, and the signal comes after.
TEST(Notifier, AnEmptyReceiveClearsASignalTheNotifierWasAboutToGive) {
  NotifierUnderTest t;
  t.source->hold_next_check();
  t.source->publish();
  t.source->wait_until_held();
  t.source->drain();

  std::atomic<std::uint32_t> returned{0};
  std::thread consumer([&] {
    t.notifier->on_empty();
    returned.store(1, std::memory_order_release);  // pairs with the test's load below
    wait::futex_wake_all(returned);
  });
  wait::futex_wait(returned, 0, milliseconds(50));
  t.source->open_gate();
  consumer.join();
  // acquire: pairs with the consumer's release store.
  ASSERT_EQ(returned.load(std::memory_order_acquire), 1U);
  // Nothing is left to signal, so the fd stays clear; a late signal would show within the wait.
  EXPECT_FALSE(readable(t.notifier->fd(), milliseconds(100)));

  // Still watching: the next message is signalled.
  t.source->publish();
  EXPECT_TRUE(readable(t.notifier->fd(), milliseconds(5000)));
}

// A message that came after the consumer's empty poll: on_empty() clears the signal, and the
// notifier gives it again, because the message is still there.
TEST(Notifier, AMessageAfterTheEmptyPollIsSignalledAgain) {
  NotifierUnderTest t;
  t.source->publish();
  ASSERT_TRUE(readable(t.notifier->fd(), milliseconds(5000)));
  t.notifier->on_empty();
  EXPECT_TRUE(readable(t.notifier->fd(), milliseconds(5000)));
}

}  // namespace
}  // namespace shmbus::detail
