#include "shmbus/wait_set.hpp"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <variant>

#include "shmbus/group.hpp"
#include "shmbus/pattern_subscriber.hpp"
#include "shmbus/subscriber.hpp"
#include "wait/futex.hpp"

namespace shmbus {
namespace {

constexpr std::uint64_t kSpinNs = 20'000;

}  // namespace

WaitSet::WaitSet() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    throw Error(ErrorCode::io_error, fmt::format("epoll_create1: {}", std::strerror(errno)));
  }
}

WaitSet::~WaitSet() {
  ::close(epoll_fd_);
}

void WaitSet::add(Subscriber& subscriber) {
  if (!subscriber) throw Error(ErrorCode::invalid_argument, "WaitSet::add: closed subscriber");
  add_member(&subscriber, subscriber.fd());
}

void WaitSet::add(GroupConsumer& consumer) {
  if (!consumer) throw Error(ErrorCode::invalid_argument, "WaitSet::add: closed group consumer");
  add_member(&consumer, consumer.fd());
}

void WaitSet::add(PatternSubscriber& subscriber) {
  if (!subscriber) {
    throw Error(ErrorCode::invalid_argument, "WaitSet::add: closed pattern subscriber");
  }
  add_member(&subscriber, subscriber.fd());
}

void WaitSet::remove(Subscriber& subscriber) {
  remove_member(&subscriber);
}

void WaitSet::remove(GroupConsumer& consumer) {
  remove_member(&consumer);
}

void WaitSet::remove(PatternSubscriber& subscriber) {
  remove_member(&subscriber);
}

void WaitSet::add_member(Member member, int fd) {
  const auto same = [&](const Entry& entry) { return entry.member == member; };
  if (std::any_of(members_.begin(), members_.end(), same)) return;
  epoll_event event{};
  event.events = EPOLLIN;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    throw Error(ErrorCode::io_error, fmt::format("epoll_ctl: {}", std::strerror(errno)));
  }
  members_.push_back(Entry{member, fd});
}

void WaitSet::remove_member(Member member) {
  const auto it = std::find_if(members_.begin(), members_.end(),
                               [&](const Entry& entry) { return entry.member == member; });
  if (it == members_.end()) return;
  // Fails harmlessly when the member was closed: epoll dropped its descriptor with it.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->fd, nullptr);
  members_.erase(it);
}

std::size_t WaitSet::wait(std::span<Member> ready, std::chrono::nanoseconds timeout) {
  return wait_until_ready(
      [&](Member member, std::size_t index) {
        ready[index] = member;
        return true;
      },
      ready.size(), timeout);
}

std::size_t WaitSet::wait(std::span<Subscriber*> ready, std::chrono::nanoseconds timeout) {
  // A member it could not report would wake epoll without end while it stays ready.
  for (const Entry& entry : members_) {
    if (!std::holds_alternative<Subscriber*>(entry.member)) {
      throw Error(ErrorCode::invalid_argument,
                  "WaitSet::wait(span<Subscriber*>): the set has group consumers or pattern "
                  "subscribers; wait with a span<WaitSet::Member>");
    }
  }
  return wait_until_ready(
      [&](Member member, std::size_t index) {
        ready[index] = std::get<Subscriber*>(member);
        return true;
      },
      ready.size(), timeout);
}

template <typename Take>
std::size_t WaitSet::wait_until_ready(Take&& take, std::size_t capacity,
                                      std::chrono::nanoseconds timeout) {
  // Only what `take` takes counts: a ready member the caller does not want must not end the wait.
  const auto collect = [&] {
    std::size_t taken = 0;
    for (const Entry& entry : members_) {
      if (taken == capacity) break;
      if (std::visit([](auto* consumer) { return consumer->ready(); }, entry.member) &&
          take(entry.member, taken)) {
        ++taken;
      }
    }
    return taken;
  };
  if (capacity == 0 || members_.empty()) return 0;
  const std::uint64_t start = wait::monotonic_ns();
  const std::uint64_t deadline =
      start + static_cast<std::uint64_t>(std::max<std::int64_t>(timeout.count(), 0));
  // Spin first: a message that comes within microseconds costs no system call.
  const std::uint64_t spin_until = std::min(deadline, start + kSpinNs);
  do {
    if (const std::size_t count = collect(); count > 0) return count;
    wait::cpu_relax();
  } while (wait::monotonic_ns() < spin_until);
  for (;;) {
    if (const std::size_t count = collect(); count > 0) return count;
    const std::uint64_t now = wait::monotonic_ns();
    if (now >= deadline) return 0;
    const auto left_ms = static_cast<int>(
        std::min<std::uint64_t>((deadline - now + 999'999) / 1'000'000, 1'000'000));
    epoll_event events[16];
    const int n = ::epoll_wait(epoll_fd_, events, 16, left_ms);
    if (n < 0 && errno != EINTR) {
      throw Error(ErrorCode::io_error, fmt::format("epoll_wait: {}", std::strerror(errno)));
    }
  }
}

}  // namespace shmbus
