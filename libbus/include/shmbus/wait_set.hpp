// Waiting on several subscribers at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <vector>

#include "shmbus/error.hpp"

namespace shmbus {

class Subscriber;

// Spins briefly over its subscribers, then sleeps in epoll on their file descriptors. The
// subscribers must outlive the WaitSet or be removed first.
class WaitSet {
 public:
  WaitSet();
  WaitSet(const WaitSet&) = delete;
  WaitSet& operator=(const WaitSet&) = delete;
  ~WaitSet();

  void add(Subscriber& subscriber);
  void remove(Subscriber& subscriber);
  [[nodiscard]] std::size_t size() const noexcept { return members_.size(); }

  // Fills `ready` with the subscribers that have messages; returns how many, 0 on timeout.
  std::size_t wait(std::span<Subscriber*> ready, std::chrono::nanoseconds timeout);

 private:
  int epoll_fd_ = -1;
  std::vector<Subscriber*> members_;
};

}  // namespace shmbus
