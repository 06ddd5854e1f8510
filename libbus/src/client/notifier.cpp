#include "client/notifier.hpp"

#include <fmt/format.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "client/blocking_wait.hpp"
#include "shmbus/error.hpp"
#include "wait/futex.hpp"

namespace shmbus::detail {
namespace {

// One topic's futex, with the handshake of a blocking receive.
class TopicSource final : public WatchedSource {
 public:
  TopicSource(layout::TopicHeader& header, WatchedTopic watched)
      : header_(header), watched_(std::move(watched)) {}

  bool ready() override { return watched_.ready(); }

  void sleep() override {
    const std::uint32_t wake = announce_sleeper(header_);
    // seq_cst fence: pairs with the publisher's seq_cst claim, as in sleep_for_message.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // A claim in flight only shortens the sleep here, without the receive's 2 µs poll: a notifier
    // that sees each commit at once races a consumer that polls by itself, and signals messages
    // that consumer has already drained (Api.WaitSetAndFileDescriptorWakeOnPublish caught it).
    const std::uint64_t bound =
        std::min(kNotifierSleepBoundNs, claim_slices_.next(watched_.claim_in_flight()));
    if (!watched_.ready() && !interrupted_.load(std::memory_order_relaxed)) {
      wait::futex_wait(header_.wake_word, wake, std::chrono::nanoseconds(bound));
    }
    retire_sleeper(header_);
  }

  void interrupt() override {
    interrupted_.store(true, std::memory_order_relaxed);
    header_.wake_word.fetch_add(1, std::memory_order_release);  // pairs with sleep()'s compare
    wait::futex_wake_all(header_.wake_word);
  }

 private:
  layout::TopicHeader& header_;
  WatchedTopic watched_;
  ClaimSlices claim_slices_;
  std::atomic<bool> interrupted_{false};
};

}  // namespace

Notifier::Notifier(std::unique_ptr<WatchedSource> source) : source_(std::move(source)) {
  event_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd_ < 0) {
    throw Error(ErrorCode::io_error, fmt::format("eventfd: {}", std::strerror(errno)));
  }
  thread_ = std::thread([this] { run(); });
}

Notifier::Notifier(layout::TopicHeader& header, WatchedTopic watched)
    : Notifier(std::make_unique<TopicSource>(header, std::move(watched))) {}

Notifier::~Notifier() {
  stop_.store(true, std::memory_order_relaxed);
  source_->interrupt();
  rearm_word_.fetch_add(1, std::memory_order_release);  // pairs with run()'s futex compare
  wait::futex_wake_all(rearm_word_);
  thread_.join();
  ::close(event_fd_);
}

void Notifier::on_empty() noexcept {
  // seq_cst fence: pairs with check_and_signal's. The consumer's cursor moves and empty poll come
  // before it: either the notifier's check sees them and stays quiet, or this load sees its check.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (state_.load(std::memory_order_relaxed) == State::armed) return;
  {
    // Waits out a check in progress: a signal for a message this consumer has drained must be
    // cleared before it returns, not after.
    std::lock_guard lock(signal_mutex_);
    if (state_.load(std::memory_order_relaxed) != State::signaled) return;
    std::uint64_t count = 0;
    if (::read(event_fd_, &count, sizeof(count)) < 0) {
      // EAGAIN: already clear.
    }
    state_.store(State::armed, std::memory_order_relaxed);
  }
  rearm_word_.fetch_add(1, std::memory_order_release);  // pairs with run()'s futex compare
  wait::futex_wake_all(rearm_word_);
}

bool Notifier::check_and_signal() noexcept {
  std::lock_guard lock(signal_mutex_);
  state_.store(State::checking, std::memory_order_relaxed);
  // seq_cst fence: pairs with on_empty's (see there).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!source_->ready()) {
    state_.store(State::armed, std::memory_order_relaxed);
    return false;
  }
  const std::uint64_t one = 1;
  if (::write(event_fd_, &one, sizeof(one)) < 0) {
    // EAGAIN only if the counter overflowed: it is readable anyway.
  }
  state_.store(State::signaled, std::memory_order_relaxed);
  return true;
}

void Notifier::run() noexcept {
  while (!stop_.load(std::memory_order_relaxed)) {
    if (state_.load(std::memory_order_relaxed) == State::signaled) {
      // acquire: pairs with on_empty's release increment, so a re-arm is not missed.
      const std::uint32_t armed = rearm_word_.load(std::memory_order_acquire);
      if (state_.load(std::memory_order_relaxed) == State::signaled) {
        wait::futex_wait(rearm_word_, armed, std::chrono::nanoseconds(kNotifierSleepBoundNs));
      }
      continue;
    }
    if (!check_and_signal()) source_->sleep();
  }
}

}  // namespace shmbus::detail
