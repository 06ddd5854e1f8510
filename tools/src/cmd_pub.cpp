// `shmbus pub`: one message, stdin lines, or a generated stream at a given rate.
#include <fmt/format.h>
#include <time.h>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bus_reader.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "shmbus/client.hpp"
#include "shmbus/properties.hpp"
#include "shmbus/publisher.hpp"

namespace shmbus::cli {
namespace {

struct PubOptions {
  std::string bus;
  std::string topic;
  std::string message;  // "-": one message per stdin line
  std::uint64_t count = 0;
  std::uint32_t size = 64;
  double rate = 0;  // messages per second, 0: as fast as the topic takes them
  TopicShape shape;
  double block_timeout = 1.0;
  std::uint32_t wait_subscribers = 0;
  double wait_timeout = 10.0;
  bool quiet = false;
  std::vector<std::string> props;  // KEY=VALUE
  std::string key;
  std::string content_type;
  Properties properties;  // built from the three above
};

constexpr std::size_t kIndexBytes = sizeof(std::uint64_t);

// Polls the directory rather than asking the daemon, so that waiting adds no control traffic.
int wait_for_subscribers(const PubOptions& options) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(options.wait_timeout);
  std::uint32_t attached = 0;
  for (;;) {
    attached = count_subscribers(options.bus, options.topic);
    if (attached >= options.wait_subscribers) return kExitOk;
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  print_error(fmt::format("only {} of {} subscribers attached to topic {} within {:g} s", attached,
                          options.wait_subscribers, options.topic, options.wait_timeout));
  return kExitFailure;
}

int fail(Status status, const PubOptions& options, const Publisher& publisher) {
  if (status == Status::too_large && !options.properties.empty()) {
    print_error(fmt::format(
        "the message's properties take {} bytes encoded; with the payload they exceed topic "
        "{}'s slot size of {} bytes",
        options.properties.encoded().size(), options.topic, publisher.max_payload()));
    return kExitFailure;
  }
  print_error(
      describe_status(status, options.topic, publisher.max_payload(), options.block_timeout));
  return kExitFailure;
}

// --prop KEY=VALUE (repeatable), --key, --content-type. Throws Error(invalid_argument): exit 2.
void build_properties(PubOptions& options) {
  for (const auto& prop : options.props) {
    const auto eq = prop.find('=');
    if (eq == std::string::npos) {
      throw Error(ErrorCode::invalid_argument, fmt::format("--prop '{}': write KEY=VALUE", prop));
    }
    options.properties.set(std::string_view(prop).substr(0, eq),
                           std::string_view(prop).substr(eq + 1));
  }
  if (!options.key.empty()) options.properties.key(options.key);
  if (!options.content_type.empty()) options.properties.content_type(options.content_type);
}

int publish_stdin(const PubOptions& options, Publisher& publisher) {
  std::string line;
  while (std::getline(std::cin, line)) {
    const auto status =
        publisher.publish(std::as_bytes(std::span(line.data(), line.size())), options.properties);
    if (status != Status::ok) return fail(status, options, publisher);
  }
  return kExitOk;
}

// Paces by an absolute schedule: sleeping until message i's due time lets a late wake-up be
// caught up with a short burst instead of drifting the average rate.
class Pacer {
 public:
  explicit Pacer(double rate) : period_ns_(rate > 0 ? 1e9 / rate : 0), start_ns_(monotonic_ns()) {}

  void wait_for(std::uint64_t index) const {
    if (period_ns_ <= 0) return;
    const auto due = start_ns_ + static_cast<std::uint64_t>(
                                     std::llround(static_cast<double>(index) * period_ns_));
    if (monotonic_ns() >= due) return;
    timespec until{};
    until.tv_sec = static_cast<time_t>(due / 1'000'000'000ULL);
    until.tv_nsec = static_cast<long>(due % 1'000'000'000ULL);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) != 0) {
    }
  }

 private:
  double period_ns_;
  std::uint64_t start_ns_;
};

int publish_generated(const PubOptions& options, Publisher& publisher) {
  if (options.size < kIndexBytes) {
    print_error(
        fmt::format("--size must be at least {} bytes: the payload starts with the "
                    "message index",
                    kIndexBytes));
    return kExitUsage;
  }
  if (options.size + options.properties.encoded().size() > publisher.max_payload()) {
    return fail(Status::too_large, options, publisher);
  }
  // The filler is readable in text and hex output, so a glance shows where a payload is torn.
  std::vector<std::byte> payload(options.size);
  for (std::size_t i = kIndexBytes; i < payload.size(); ++i) {
    payload[i] = static_cast<std::byte>('a' + (i - kIndexBytes) % 26);
  }
  const Pacer pacer(options.rate);
  const auto start = monotonic_ns();
  for (std::uint64_t index = 0; index < options.count; ++index) {
    pacer.wait_for(index);
    // Little-endian whatever the host, so that readers on any host decode the index alike.
    for (std::size_t k = 0; k < kIndexBytes; ++k) {
      payload[k] = static_cast<std::byte>((index >> (8 * k)) & 0xffU);
    }
    const auto status = publisher.publish(std::span<const std::byte>(payload), options.properties);
    if (status != Status::ok) {
      print_error(fmt::format("{} messages published before the failure", index));
      return fail(status, options, publisher);
    }
  }
  if (!options.quiet) {
    const double seconds = static_cast<double>(monotonic_ns() - start) / 1e9;
    const double rate = seconds > 0 ? static_cast<double>(options.count) / seconds : 0;
    std::fputs(fmt::format("published {} messages of {} bytes to {} in {:.3f} s ({:.0f} msg/s)\n",
                           options.count, options.size, options.topic, seconds, rate)
                   .c_str(),
               stderr);
  }
  return kExitOk;
}

int run_pub(PubOptions& options, bool have_message, bool have_count) {
  check_bus(options.bus);
  check_topic(options.topic);
  build_properties(options);
  if (have_message == have_count) {
    print_error(have_message ? "give either MESSAGE (or '-') or --count, not both"
                             : "give a MESSAGE, '-' to publish stdin lines, or --count N");
    return kExitUsage;
  }

  Client client(ClientOptions{options.bus, "shmbus-pub"});
  PublisherOptions publisher_options;
  publisher_options.block_timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(options.block_timeout));
  auto publisher =
      client.publisher(options.topic, to_topic_options(options.shape), publisher_options);

  if (options.wait_subscribers > 0) {
    if (const int code = wait_for_subscribers(options); code != kExitOk) return code;
  }
  if (have_count) return publish_generated(options, publisher);
  if (options.message == "-") return publish_stdin(options, publisher);
  const auto status = publisher.publish(
      std::as_bytes(std::span(options.message.data(), options.message.size())), options.properties);
  return status == Status::ok ? kExitOk : fail(status, options, publisher);
}

}  // namespace

Command add_pub(CLI::App& app) {
  auto options = std::make_shared<PubOptions>();
  auto* command = app.add_subcommand("pub", "Publish one message, stdin lines, or generated ones");
  add_bus_option(*command, options->bus);
  command->add_option("TOPIC", options->topic, "Topic name, e.g. md.equities.AAPL")->required();
  auto* message = command->add_option("MESSAGE", options->message,
                                      "The message; '-' publishes each stdin line as one message");
  auto* count = command->add_option("--count", options->count,
                                    "Publish N generated messages (payload starts with the "
                                    "message index, uint64 little-endian)");
  command->add_option("--size", options->size, "Payload bytes of generated messages (>= 8)")
      ->capture_default_str()
      ->needs(count);
  command->add_option("--rate", options->rate, "Messages per second (default: unpaced)")
      ->check(CLI::NonNegativeNumber);
  add_topic_shape_options(*command, options->shape);
  command
      ->add_option("--block-timeout", options->block_timeout,
                   "Seconds a publish on a full 'block' topic waits for the slowest subscriber")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  auto* wait = command->add_option("--wait-subscribers", options->wait_subscribers,
                                   "Wait until N subscribers are attached before publishing");
  command
      ->add_option("--timeout", options->wait_timeout, "Seconds --wait-subscribers waits at most")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->needs(wait);
  command->add_flag("-q,--quiet", options->quiet, "No summary of generated messages on stderr");
  command
      ->add_option("--prop", options->props,
                   "A message property KEY=VALUE (repeatable; at most 16, 1024 bytes encoded)")
      ->allow_extra_args(false);
  command->add_option("--key", options->key, "The ordering key (the property 'key')");
  command->add_option("--content-type", options->content_type,
                      "The content type (the property 'content-type')");
  return [options, message, count] {
    return run_pub(*options, message->count() > 0, count->count() > 0);
  };
}

}  // namespace shmbus::cli
