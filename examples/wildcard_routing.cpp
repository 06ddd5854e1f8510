// Wildcard subscriptions: one subscriber for every topic matching "example.md.*.trades", including
// topics created after it subscribed. Each message names its topic; each topic's messages arrive in
// order.
//
//   wildcard_routing [BUS]
//
// A publisher thread stands in for other processes: it creates the topics one after another while
// the subscriber runs. Without shmbus::embedded, start `shmbusd --bus BUS` first.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "example_main.hpp"
#include "shmbus/shmbus.hpp"

namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kPerTopic = 500;
const std::vector<std::string> kMatching = {"example.md.AAPL.trades", "example.md.MSFT.trades",
                                            "example.md.GOOG.trades"};
const std::vector<std::string> kOthers = {"example.md.AAPL.quotes", "example.md.trades"};

void publish_all(shmbus::Client& client) {
  // Non-matching topics first: the subscriber must never see them.
  for (const auto& topic : kOthers)
    (void)client.publisher(topic).publish(std::uint64_t{0});
  for (const auto& topic : kMatching) {
    shmbus::Publisher publisher = client.publisher(topic);  // creates the topic now
    for (std::uint64_t i = 0; i < kPerTopic; ++i)
      (void)publisher.publish(i);
  }
}

int run(const std::string& bus) {
  shmbus::Client client({.bus = bus, .name = "wildcard-example"});
  // '*' matches exactly one level, '#' zero or more ("example.md.#" would take the quotes too).
  shmbus::PatternSubscriber subscriber = client.pattern_subscriber(
      "example.md.*.trades",
      {.start = shmbus::StartPosition::earliest(), .wait = shmbus::WaitMode::block});

  std::thread publisher([&] { publish_all(client); });
  std::map<std::string, std::uint64_t> next;  // per topic: the value expected next
  std::uint64_t received = 0;
  bool in_order = true;
  shmbus::Message message;
  while (received < kMatching.size() * kPerTopic &&
         subscriber.receive(message, 5s) == shmbus::Status::ok) {
    auto& expected = next[std::string(message.topic())];  // which topic it came from
    in_order = in_order && message.as<std::uint64_t>() == expected;
    ++expected;
    ++received;
  }
  publisher.join();
  for (const auto& [topic, count] : next) {
    std::printf("%s: %llu messages\n", topic.c_str(), static_cast<unsigned long long>(count));
  }
  return received == kMatching.size() * kPerTopic && next.size() == kMatching.size() && in_order
             ? 0
             : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return shmbus_example::example_main(argc, argv, "wildcard_routing", run);
}
