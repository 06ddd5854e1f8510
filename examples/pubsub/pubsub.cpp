// Two processes exchange messages over shmbus: the parent publishes ticks, a forked child
// subscribes and checks that every tick arrived once, in order and intact. Exits 0 only then.
//
//   pubsub [BUS] [COUNT]
//
// When no daemon serves BUS and the program was built with shmbus::embedded, the parent runs the
// supervisor itself (shmbus::EmbeddedSupervisor); otherwise start `shmbusd --bus BUS` first.
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "shmbus/shmbus.hpp"

#ifdef SHMBUS_EXAMPLE_EMBEDDED
#include "shmbus/embedded_supervisor.hpp"
#endif

namespace {

using namespace std::chrono_literals;

struct Tick {
  std::uint64_t index;
  double price;
};

constexpr const char* kTopic = "example.ticks";
// Both sides pass the same shape: whichever comes first creates the topic, and a differing shape
// would be refused with ErrorCode::topic_mismatch. `block`: lossless, a full ring holds the
// publisher back until the subscriber catches up.
const shmbus::TopicOptions kTopicOptions{
    .slot_size = sizeof(Tick), .slot_count = 256, .policy = shmbus::FullPolicy::block};

double price_of(std::uint64_t index) {
  return 100.0 + static_cast<double>(index % 1000) / 100.0;
}

// The child: attach, tell the parent we are subscribed, then check every tick.
int run_subscriber(const std::string& bus, std::uint64_t count, int ready_fd) {
  // The parent may still be starting the embedded supervisor.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!shmbus::daemon_serves(bus)) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "subscriber: no daemon serves bus '%s'\n", bus.c_str());
      return 1;
    }
    std::this_thread::sleep_for(10ms);
  }
  shmbus::Client client({.bus = bus, .name = "pubsub-sub"});
  shmbus::Subscriber subscriber =
      client.subscriber(kTopic, {.start = shmbus::StartPosition::earliest()}, kTopicOptions);
  const char ready = 'r';
  if (write(ready_fd, &ready, 1) != 1) return 1;
  close(ready_fd);

  shmbus::Message message;
  for (std::uint64_t expected = 0; expected < count; ++expected) {
    const shmbus::Status status = subscriber.receive(message, 5s);
    if (status != shmbus::Status::ok) {
      std::fprintf(stderr, "subscriber: receive: %s after %llu ticks\n",
                   std::string(shmbus::to_string(status)).c_str(),
                   static_cast<unsigned long long>(expected));
      return 1;
    }
    const auto tick = message.as<Tick>();
    if (!tick || tick->index != expected || tick->price != price_of(expected)) {
      std::fprintf(stderr, "subscriber: tick %llu is wrong or out of order\n",
                   static_cast<unsigned long long>(expected));
      return 1;
    }
  }
  std::printf("subscriber: received %llu ticks in order, %llu lost\n",
              static_cast<unsigned long long>(count),
              static_cast<unsigned long long>(subscriber.lost()));
  return subscriber.lost() == 0 ? 0 : 1;
}

// The parent: publish half the ticks by copy and half by a zero-copy loan.
int run_publisher(const std::string& bus, std::uint64_t count) {
  shmbus::Client client({.bus = bus, .name = "pubsub-pub"});
  shmbus::Publisher publisher = client.publisher(kTopic, kTopicOptions);
  for (std::uint64_t i = 0; i < count; ++i) {
    shmbus::Status status;
    if (i % 2 == 0) {
      const Tick tick{i, price_of(i)};
      status = publisher.publish(tick);
    } else {
      shmbus::Loan loan = publisher.loan(sizeof(Tick));
      if (!loan) {
        status = loan.status();
      } else {
        const Tick tick{i, price_of(i)};
        std::memcpy(loan.data().data(), &tick, sizeof tick);
        status = loan.commit(sizeof(Tick));
      }
    }
    if (status != shmbus::Status::ok) {
      std::fprintf(stderr, "publisher: tick %llu: %s\n", static_cast<unsigned long long>(i),
                   std::string(shmbus::to_string(status)).c_str());
      return 1;
    }
  }
  std::printf("publisher: published %llu ticks\n", static_cast<unsigned long long>(count));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string bus = argc > 1 ? argv[1] : "example-" + std::to_string(getpid());
  const std::uint64_t count = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 100000;

  int ready[2];
  if (pipe(ready) != 0) return 1;
  std::fflush(stdout);
  // Fork before any thread exists (the embedded supervisor starts one), so the child is clean.
  const pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    close(ready[0]);
    int code = 1;
    try {
      code = run_subscriber(bus, count, ready[1]);
    } catch (const shmbus::Error& e) {
      std::fprintf(stderr, "subscriber: %s\n", e.what());
    }
    std::fflush(stdout);
    _exit(code);
  }
  close(ready[1]);

  int code = 1;
  try {
#ifdef SHMBUS_EXAMPLE_EMBEDDED
    std::unique_ptr<shmbus::EmbeddedSupervisor> supervisor;
    if (!shmbus::daemon_serves(bus)) supervisor = std::make_unique<shmbus::EmbeddedSupervisor>(bus);
#endif
    // Publishing before the subscriber is attached would be lossless too (it starts at the
    // earliest message still held), but only while the ring holds them all: wait for it.
    char byte = 0;
    if (read(ready[0], &byte, 1) == 1) code = run_publisher(bus, count);
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) code = 1;
  } catch (const shmbus::Error& e) {
    std::fprintf(stderr, "publisher: %s\n", e.what());
    kill(child, SIGTERM);
    waitpid(child, nullptr, 0);
  }
  std::printf("pubsub: %s\n", code == 0 ? "ok" : "FAILED");
  return code;
}
