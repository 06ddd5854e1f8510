#include "shmbus/wait_set.hpp"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "client/subscriber_core.hpp"
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
  if (std::find(members_.begin(), members_.end(), &subscriber) != members_.end()) return;
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = &subscriber;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, subscriber.fd(), &event) != 0) {
    throw Error(ErrorCode::io_error, fmt::format("epoll_ctl: {}", std::strerror(errno)));
  }
  members_.push_back(&subscriber);
}

void WaitSet::remove(Subscriber& subscriber) {
  const auto it = std::find(members_.begin(), members_.end(), &subscriber);
  if (it == members_.end()) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, subscriber.fd(), nullptr);
  members_.erase(it);
}

std::size_t WaitSet::wait(std::span<Subscriber*> ready, std::chrono::nanoseconds timeout) {
  const auto collect = [&] {
    std::size_t count = 0;
    for (Subscriber* member : members_) {
      if (count == ready.size()) break;
      if (member->ready()) ready[count++] = member;
    }
    return count;
  };
  if (ready.empty() || members_.empty()) return 0;
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
