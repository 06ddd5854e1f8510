#include "shmbus/pattern_subscriber.hpp"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>

#include "client/blocking_wait.hpp"
#include "client/client_core.hpp"
#include "client/pattern_subscriber_core.hpp"
#include "layout/naming.hpp"
#include "layout/segment_format.hpp"
#include "wait/futex_waitv.hpp"

namespace shmbus {
namespace detail {
namespace {

// How long a sleeping pattern subscriber goes without looking at the directory: the daemon does
// not wake anyone when it adds a topic, so this bounds how late a new topic is noticed by a
// subscriber that sleeps. It also bounds the cost of a wake-up lost to a killed publisher.
constexpr std::uint64_t kDirectoryPollNs = 10'000'000;
// Without futex_waitv (more topics than it takes), sleeps are this short and re-check every topic.
constexpr std::uint64_t kFallbackSliceNs = 1'000'000;
constexpr std::uint64_t kRetryRefreshNs = 100'000'000;

std::string terminated(const char* text, std::size_t capacity) {
  return {text, strnlen(text, capacity)};
}

}  // namespace

PatternSubscriberCore::PatternSubscriberCore(std::shared_ptr<ClientCore> client,
                                             std::string_view pattern,
                                             const SubscribeOptions& options)
    : client_(std::move(client)),
      pattern_(pattern),
      options_(options),
      control_(shm::Segment::open(client_->control_segment(), shm::Access::read_only)) {
  if (auto why = check_filter(options_.filter)) throw Error(ErrorCode::invalid_argument, *why);
  if (auto error = layout::validate_control(control_.address(), control_.size())) throw *error;
  header_ = static_cast<const layout::ControlHeader*>(control_.address());
  max_topics_ = header_->max_topics;
  entries_ = layout::topic_entries(control_.address());
  refresh();
  initial_scan_done_ = true;
}

PatternSubscriberCore::~PatternSubscriberCore() {
  notifier_.reset();  // its thread reads members_
}

void PatternSubscriberCore::refresh() {
  std::lock_guard lock(watch_mutex_);
  // acquire: pairs with the daemon's release increment after it rewrote an entry, so the entries
  // read below are at least as new as this generation.
  const std::uint64_t generation = header_->directory_generation.load(std::memory_order_acquire);
  std::map<TopicKey, std::string> wanted;
  for (std::uint32_t i = 0; i < max_topics_; ++i) {
    layout::TopicEntry copy{};
    if (!layout::read_topic_entry(entries_[i], copy)) {
      throw Error(ErrorCode::timeout, "the topic directory kept changing while being read");
    }
    if (copy.state.load(std::memory_order_relaxed) !=
        static_cast<std::uint32_t>(layout::EntryState::active)) {
      continue;
    }
    std::string name = terminated(copy.name, sizeof copy.name);
    if (naming::check_topic_name(name) || !pattern_.matches(name)) continue;
    wanted.emplace(TopicKey{copy.topic_id, copy.generation}, std::move(name));
  }
  // Drop topics that left the directory (or whose index now holds another generation).
  for (auto it = members_.begin(); it != members_.end();) {
    if (wanted.contains({it->topic_id, it->generation})) {
      ++it;
      continue;
    }
    retired_lost_ += it->core->reader().lost();
    retired_filtered_ += it->core->filtered();
    retired_.push_back(it->core->mapped_topic());
    it = members_.erase(it);
  }
  next_member_ = 0;
  for (const auto& entry : wanted) {
    const TopicKey& key = entry.first;
    const bool attached = std::any_of(members_.begin(), members_.end(), [&](const Member& m) {
      return m.topic_id == key.first && m.generation == key.second;
    });
    if (!attached && !skipped_.contains(key)) attach(key, entry.second);
  }
  seen_generation_.store(generation, std::memory_order_relaxed);
}

void PatternSubscriberCore::attach(const TopicKey& key, const std::string& name) {
  SubscribeOptions options = options_;
  // A topic that appears after the subscription is read from its start: whatever was published
  // to it before we noticed it belongs to the subscription too.
  if (initial_scan_done_) options.start = StartPosition::earliest();
  try {
    auto topic = client_->open_topic(name, {}, protocol::OpenFlags::must_exist);
    if (topic->topic_id() != key.first || topic->generation() != key.second) {
      return;  // replaced meanwhile: the directory changed again, the next refresh sees it
    }
    members_.push_back({key.first, key.second,
                        std::make_unique<SubscriberCore>(client_, std::move(topic), options)});
  } catch (const Error& e) {
    switch (e.code()) {
      case ErrorCode::permission_denied:
      case ErrorCode::limit_reached:
        skipped_.insert(key);  // not ours to read, or full: leave it out
        return;
      case ErrorCode::not_found:
        return;  // removed meanwhile
      default:
        throw;
    }
  }
}

void PatternSubscriberCore::maybe_refresh() noexcept {
  // Only a hint (refresh() re-reads it with acquire): relaxed keeps the receive path a plain load.
  const std::uint64_t generation = header_->directory_generation.load(std::memory_order_relaxed);
  if (generation == seen_generation_.load(std::memory_order_relaxed)) return;
  if (!refresh_due()) return;
  // Without a daemon, refresh() would wait for a new one, and this receive with it.
  if (!client_->connected()) {
    retry_at_ns_.store(wait::monotonic_ns() + kRetryRefreshNs, std::memory_order_relaxed);
    return;
  }
  try {
    refresh();
    retry_at_ns_.store(0, std::memory_order_relaxed);
  } catch (...) {
    // The daemon went away meanwhile or the directory is busy: messages of attached topics keep
    // flowing; try again shortly.
    retry_at_ns_.store(wait::monotonic_ns() + kRetryRefreshNs, std::memory_order_relaxed);
  }
}

bool PatternSubscriberCore::refresh_due() const noexcept {
  const std::uint64_t retry_at = retry_at_ns_.load(std::memory_order_relaxed);
  return retry_at == 0 || wait::monotonic_ns() >= retry_at;
}

Status PatternSubscriberCore::poll_members(Message& out) noexcept {
  const std::size_t count = members_.size();
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t index = (next_member_ + i) % count;
    if (members_[index].core->try_receive(out) == Status::ok) {
      next_member_ = (index + 1) % count;
      return Status::ok;
    }
  }
  return Status::empty;
}

Status PatternSubscriberCore::try_receive(Message& out) noexcept {
  maybe_refresh();
  const Status status = poll_members(out);
  if (status == Status::empty && notifier_) notifier_->on_empty();
  return status;
}

Status PatternSubscriberCore::receive_spin(Message& out,
                                           std::chrono::nanoseconds timeout) noexcept {
  return spin_for_message([&] { return try_receive(out) == Status::ok; }, timeout);
}

Status PatternSubscriberCore::receive(Message& out, std::chrono::nanoseconds timeout) noexcept {
  return wait_in_mode(
      options_.wait, options_.spin_time, timeout, [&] { return try_receive(out) == Status::ok; },
      [&](std::uint64_t deadline) { return sleep_until_message(out, deadline); });
}

// Sleeps on every attached topic's futex at once (futex_waitv), with the same handshake as a
// single subscriber: announce in each topic's `waiters`, read each `wake_word`, re-check all
// topics, then sleep until one word moves. The directory has no futex, so each sleep is bounded by
// kDirectoryPollNs and followed by a look at its generation.
Status PatternSubscriberCore::sleep_until_message(Message& out, std::uint64_t deadline) noexcept {
  std::array<wait::FutexWaiter, wait::kMaxFutexWaiters> waiters{};
  ClaimSlices slices;
  for (;;) {
    maybe_refresh();
    const std::size_t count = std::min(members_.size(), wait::kMaxFutexWaiters);
    for (std::size_t i = 0; i < count; ++i) {
      auto& header = *members_[i].core->reader().topic().header;
      waiters[i] = {&header.wake_word, announce_sleeper(header)};
    }
    // seq_cst fence: pairs with the publishers' seq_cst claims, as in sleep_for_message
    // (client/blocking_wait.hpp).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const bool claimed = any_claim_in_flight(count);
    const std::uint64_t slice =
        std::min(members_.size() > count || count == 0 ? kFallbackSliceNs : kDirectoryPollNs,
                 slices.next(claimed));
    Status polled = poll_members(out);
    if (polled != Status::ok &&
        poll_while_claimed(claimed, [&] { return poll_members(out) == Status::ok; })) {
      polled = Status::ok;
    }
    const std::uint64_t now = wait::monotonic_ns();
    if (polled != Status::ok && now < deadline) {
      const std::uint64_t until = std::min(deadline, now + slice);
      if (count > 0) {
        wait::futex_wait_any(std::span(waiters.data(), count), until);
      } else {
        const timespec pause{0, static_cast<long>(until - now)};
        nanosleep(&pause, nullptr);
      }
    }
    for (std::size_t i = 0; i < count; ++i) {
      retire_sleeper(*members_[i].core->reader().topic().header);
    }
    if (polled == Status::ok) return Status::ok;
    if (now >= deadline) return Status::timeout;
  }
}

namespace {

// The notifier's view of a pattern subscriber: every attached topic, and the directory.
class PatternSource final : public WatchedSource {
 public:
  explicit PatternSource(PatternSubscriberCore& core) : core_(core) {}
  bool ready() override { return core_.ready(); }
  void sleep() override { core_.notifier_sleep(interrupt_); }
  void interrupt() override {
    interrupt_.fetch_add(1, std::memory_order_release);  // pairs with notifier_sleep's load
    wait::futex_wake_all(interrupt_);
  }

 private:
  PatternSubscriberCore& core_;
  std::atomic<std::uint32_t> interrupt_{0};
};

}  // namespace

int PatternSubscriberCore::fd() {
  if (!notifier_) notifier_ = std::make_unique<Notifier>(std::make_unique<PatternSource>(*this));
  return notifier_->fd();
}

bool PatternSubscriberCore::watched_ready_locked() const noexcept {
  // A changed directory counts as ready: the consumer's next receive attaches new topics, which
  // the notifier could not watch before.
  if (header_->directory_generation.load(std::memory_order_relaxed) !=
          seen_generation_.load(std::memory_order_relaxed) &&
      refresh_due()) {
    return true;
  }
  return std::any_of(members_.begin(), members_.end(),
                     [](const Member& m) { return m.core->reader().ready(); });
}

bool PatternSubscriberCore::ready() {
  std::lock_guard lock(watch_mutex_);
  return watched_ready_locked();
}

void PatternSubscriberCore::notifier_sleep(std::atomic<std::uint32_t>& interrupt) {
  std::array<wait::FutexWaiter, wait::kMaxFutexWaiters> waiters{};
  std::size_t count = 0;
  bool ready = false;
  std::uint64_t slice = kDirectoryPollNs;
  {
    std::lock_guard lock(watch_mutex_);
    // One word stays for `interrupt`; a topic beyond the rest is seen at the directory poll.
    const std::size_t topics = std::min(members_.size(), wait::kMaxFutexWaiters - 1);
    sleeping_on_.clear();
    for (std::size_t i = 0; i < topics; ++i) {
      sleeping_on_.push_back(members_[i].core->mapped_topic());
      auto& header = *members_[i].core->reader().topic().header;
      waiters[count++] = {&header.wake_word, announce_sleeper(header)};
    }
    // acquire: pairs with the destructor's release increment in PatternSource::interrupt.
    waiters[count++] = {&interrupt, interrupt.load(std::memory_order_acquire)};
    // seq_cst fence: pairs with the publishers' seq_cst claims, as in sleep_for_message.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // A claim in flight only shortens the sleep, as in the topic notifier (client/notifier.cpp).
    slice = std::min(slice, notifier_claim_slices_.next(any_claim_in_flight(topics)));
    ready = watched_ready_locked();
  }
  if (!ready) wait::futex_wait_any(std::span(waiters.data(), count), wait::monotonic_ns() + slice);
  for (const auto& topic : sleeping_on_)
    retire_sleeper(*topic->view().header);
  sleeping_on_.clear();
}

bool PatternSubscriberCore::any_claim_in_flight(std::size_t count) const noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    if (members_[i].core->reader().claim_in_flight()) return true;
  }
  return false;
}

std::vector<std::string> PatternSubscriberCore::topics() const {
  std::vector<std::string> names;
  names.reserve(members_.size());
  for (const auto& member : members_)
    names.push_back(member.core->topic().name());
  std::sort(names.begin(), names.end());
  return names;
}

std::uint64_t PatternSubscriberCore::lost() const noexcept {
  std::uint64_t total = retired_lost_;
  for (const auto& member : members_)
    total += member.core->reader().lost();
  return total;
}

std::uint64_t PatternSubscriberCore::filtered() const noexcept {
  std::uint64_t total = retired_filtered_;
  for (const auto& member : members_)
    total += member.core->filtered();
  return total;
}

}  // namespace detail

PatternSubscriber::PatternSubscriber(std::unique_ptr<detail::PatternSubscriberCore> core)
    : core_(std::move(core)) {}
PatternSubscriber::PatternSubscriber(PatternSubscriber&&) noexcept = default;
PatternSubscriber& PatternSubscriber::operator=(PatternSubscriber&&) noexcept = default;
PatternSubscriber::~PatternSubscriber() = default;

Status PatternSubscriber::try_receive(Message& out) noexcept {
  return core_ ? core_->try_receive(out) : Status::closed;
}
Status PatternSubscriber::receive(Message& out, std::chrono::nanoseconds timeout) noexcept {
  return core_ ? core_->receive(out, timeout) : Status::closed;
}
Status PatternSubscriber::receive_spin(Message& out, std::chrono::nanoseconds timeout) noexcept {
  return core_ ? core_->receive_spin(out, timeout) : Status::closed;
}
bool PatternSubscriber::ready() {
  return core_ && core_->ready();
}
int PatternSubscriber::fd() {
  if (!core_) throw Error(ErrorCode::invalid_argument, "fd() of a moved-from PatternSubscriber");
  return core_->fd();
}
const std::string& PatternSubscriber::pattern() const noexcept {
  static const std::string none;
  return core_ ? core_->pattern() : none;
}
std::vector<std::string> PatternSubscriber::topics() const {
  return core_ ? core_->topics() : std::vector<std::string>{};
}
std::uint64_t PatternSubscriber::lost() const noexcept {
  return core_ ? core_->lost() : 0;
}
std::uint64_t PatternSubscriber::filtered() const noexcept {
  return core_ ? core_->filtered() : 0;
}

}  // namespace shmbus
