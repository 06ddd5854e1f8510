// Waiting on several consumers at once: subscribers, group consumers and pattern subscribers.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <variant>
#include <vector>

#include "shmbus/error.hpp"

namespace shmbus {

class GroupConsumer;
class PatternSubscriber;
class Subscriber;

// Spins briefly over its members, then sleeps in epoll on their file descriptors. The members
// must outlive the WaitSet or be removed first.
class WaitSet {
 public:
  // A member, as the object that was added.
  using Member = std::variant<Subscriber*, GroupConsumer*, PatternSubscriber*>;

  WaitSet();
  WaitSet(const WaitSet&) = delete;
  WaitSet& operator=(const WaitSet&) = delete;
  ~WaitSet();

  // Adding a member twice adds it once. Throws Error(invalid_argument) for a closed (moved-from)
  // one, Error(io_error) when epoll refuses its descriptor.
  void add(Subscriber& subscriber);
  void add(GroupConsumer& consumer);
  void add(PatternSubscriber& subscriber);
  void remove(Subscriber& subscriber);
  void remove(GroupConsumer& consumer);
  void remove(PatternSubscriber& subscriber);
  [[nodiscard]] std::size_t size() const noexcept { return members_.size(); }

  // Fills `ready` with the members that have something to read (a pattern subscriber also when
  // its topics changed: its next receive attaches them); returns how many, 0 on timeout.
  std::size_t wait(std::span<Member> ready, std::chrono::nanoseconds timeout);
  // The same for a set of subscribers only; Error(invalid_argument) if it has other members.
  std::size_t wait(std::span<Subscriber*> ready, std::chrono::nanoseconds timeout);

 private:
  struct Entry {
    Member member;
    int fd;  // the member's descriptor, registered in epoll_fd_
  };

  void add_member(Member member, int fd);
  void remove_member(Member member);
  // Offers each ready member to `take(member, index)` (true: taken as ready[index]) until
  // `capacity` are taken; waits up to `timeout` for the first. Returns how many were taken.
  template <typename Take>
  std::size_t wait_until_ready(Take&& take, std::size_t capacity, std::chrono::nanoseconds timeout);

  int epoll_fd_ = -1;
  std::vector<Entry> members_;
};

}  // namespace shmbus
