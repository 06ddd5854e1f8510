// Waiting on several topics at once: a WaitSet over two subscribers, then the same subscribers'
// file descriptors in poll(), as an event loop (epoll, Boost.Asio) would use them, then one WaitSet
// over a work-queue group consumer and a wildcard subscriber.
//
//   waitset [BUS]
//
// Publisher threads stand in for other processes; the program exits 0 once every message of
// every topic arrived. Without shmbus::embedded, start `shmbusd --bus BUS` first.
#include <poll.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <variant>

#include "../example_main.hpp"
#include "shmbus/shmbus.hpp"

namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kPerTopic = 1000;

void publish_both(shmbus::Publisher& a, shmbus::Publisher& b) {
  for (std::uint64_t i = 0; i < kPerTopic; ++i) {
    (void)a.publish(i);
    (void)b.publish(i);
  }
}

// Drains one subscriber; returns false on a gap.
bool drain(shmbus::Subscriber& subscriber, std::uint64_t& next) {
  shmbus::Message message;
  while (subscriber.try_receive(message) == shmbus::Status::ok) {
    if (message.as<std::uint64_t>() != next) return false;
    ++next;
  }
  return true;
}

int run(const std::string& bus) {
  shmbus::Client client({.bus = bus, .name = "waitset-example"});
  const shmbus::SubscribeOptions from_start{.start = shmbus::StartPosition::earliest()};
  const shmbus::TopicOptions shape{
      .slot_size = 64, .slot_count = 4096, .policy = shmbus::FullPolicy::block};
  shmbus::Subscriber a = client.subscriber("example.a", from_start, shape);
  shmbus::Subscriber b = client.subscriber("example.b", from_start, shape);
  shmbus::Publisher pa = client.publisher("example.a", shape);
  shmbus::Publisher pb = client.publisher("example.b", shape);

  // 1. WaitSet: sleeps until one of its subscribers has messages.
  std::uint64_t next_a = 0;
  std::uint64_t next_b = 0;
  std::thread publisher([&] { publish_both(pa, pb); });
  shmbus::WaitSet wait_set;
  wait_set.add(a);
  wait_set.add(b);
  std::array<shmbus::Subscriber*, 2> ready{};
  while (next_a < kPerTopic || next_b < kPerTopic) {
    const std::size_t n = wait_set.wait(ready, 5s);
    if (n == 0) break;
    for (std::size_t i = 0; i < n; ++i) {
      if (!drain(*ready[i], ready[i] == &a ? next_a : next_b)) return 1;
    }
  }
  publisher.join();
  std::printf("waitset: %llu + %llu messages\n", static_cast<unsigned long long>(next_a),
              static_cast<unsigned long long>(next_b));
  if (next_a != kPerTopic || next_b != kPerTopic) return 1;
  wait_set.remove(a);
  wait_set.remove(b);

  // 2. File descriptors: readable while messages wait; draining re-arms them.
  next_a = next_b = 0;
  publisher = std::thread([&] { publish_both(pa, pb); });
  std::array<pollfd, 2> fds{pollfd{a.fd(), POLLIN, 0}, pollfd{b.fd(), POLLIN, 0}};
  while (next_a < kPerTopic || next_b < kPerTopic) {
    if (poll(fds.data(), fds.size(), 5000) <= 0) break;
    if ((fds[0].revents & POLLIN) != 0 && !drain(a, next_a)) return 1;
    if ((fds[1].revents & POLLIN) != 0 && !drain(b, next_b)) return 1;
  }
  publisher.join();
  std::printf("poll: %llu + %llu messages\n", static_cast<unsigned long long>(next_a),
              static_cast<unsigned long long>(next_b));
  if (next_a != kPerTopic || next_b != kPerTopic) return 1;

  // 3. Other consumers in a WaitSet: a work-queue member and a wildcard subscriber. Each ready
  //    member comes back as its own type (WaitSet::Member is a std::variant of pointers).
  shmbus::GroupConsumer worker = client.join_group("example.jobs", "workers", {}, shape);
  shmbus::PatternSubscriber sensors = client.pattern_subscriber("example.sensor.*", from_start);
  shmbus::Publisher jobs = client.publisher("example.jobs", shape);
  shmbus::Publisher temperature = client.publisher("example.sensor.temperature", shape);
  shmbus::WaitSet mixed;
  mixed.add(worker);
  mixed.add(sensors);
  publisher = std::thread([&] { publish_both(jobs, temperature); });
  std::uint64_t jobs_done = 0;
  std::uint64_t readings = 0;
  std::array<shmbus::WaitSet::Member, 2> members{};
  shmbus::Message message;
  while (jobs_done < kPerTopic || readings < kPerTopic) {
    const std::size_t n = mixed.wait(members, 5s);
    if (n == 0) break;
    for (std::size_t i = 0; i < n; ++i) {
      if (auto* const* group = std::get_if<shmbus::GroupConsumer*>(&members[i])) {
        while ((*group)->try_receive(message) == shmbus::Status::ok) {
          if ((*group)->ack(message) == shmbus::Status::ok) ++jobs_done;
        }
      } else if (auto* const* pattern = std::get_if<shmbus::PatternSubscriber*>(&members[i])) {
        while ((*pattern)->try_receive(message) == shmbus::Status::ok)
          ++readings;
      }
    }
  }
  publisher.join();
  std::printf("mixed waitset: %llu jobs + %llu readings\n",
              static_cast<unsigned long long>(jobs_done),
              static_cast<unsigned long long>(readings));
  return jobs_done == kPerTopic && readings == kPerTopic ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return shmbus_example::example_main(argc, argv, "waitset", run);
}
