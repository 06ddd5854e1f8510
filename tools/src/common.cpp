#include "common.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>

#include "layout/naming.hpp"

namespace shmbus::cli {

void add_bus_option(CLI::App& command, std::string& bus) {
  bus = naming::default_bus();
  command.add_option("--bus", bus, "Bus name (default: $SHMBUS_BUS, else 'default')")
      ->capture_default_str();
}

void add_topic_shape_options(CLI::App& command, TopicShape& shape) {
  command.add_option("--slot-size", shape.slot_size,
                     "Payload bytes per slot, used if this creates the topic");
  command.add_option("--slot-count", shape.slot_count,
                     "Slots in the ring (a power of two), used if this creates the topic");
  command.add_option("--policy", shape.policy, "Full policy if this creates the topic")
      ->check(CLI::IsMember({"block", "overwrite"}));
}

TopicOptions to_topic_options(const TopicShape& shape) {
  TopicOptions options;
  options.slot_size = shape.slot_size;
  options.slot_count = shape.slot_count;
  if (!shape.policy.empty()) options.policy = parse_full_policy(shape.policy);
  return options;
}

void check_bus(std::string_view bus) {
  if (auto why = naming::check_bus_name(bus)) throw Error(ErrorCode::invalid_name, *why);
}

void check_topic(std::string_view topic) {
  if (auto why = naming::check_topic_name(topic)) throw Error(ErrorCode::invalid_name, *why);
}

std::string describe_status(Status status, std::string_view topic, std::uint32_t slot_size,
                            double block_timeout_s) {
  switch (status) {
    case Status::ok:
      return "ok";
    case Status::timeout:
      return fmt::format("topic {} is full: the slowest subscriber did not catch up within {:g} s",
                         topic, block_timeout_s);
    case Status::full:
      return fmt::format("topic {} is full", topic);
    case Status::too_large:
      return fmt::format("message is larger than topic {}'s slot size of {} bytes", topic,
                         slot_size);
    case Status::closed:
      return fmt::format("the connection to topic {} was closed", topic);
    case Status::empty:
      return fmt::format("no message on topic {}", topic);
    case Status::not_held:
      return fmt::format("the message of topic {} is not held by this group member", topic);
    case Status::no_responders:
      return fmt::format("no responder serves topic {}", topic);
    case Status::not_a_request:
      return fmt::format("the message of topic {} is not a request (no reply-to)", topic);
    case Status::unreachable:
      return fmt::format("the reply topic of a request on {} cannot be opened", topic);
  }
  return fmt::format("topic {}: status {}", topic, static_cast<int>(status));
}

void print_error(std::string_view message) {
  std::fputs(fmt::format("shmbus: {}\n", message).c_str(), stderr);
}

}  // namespace shmbus::cli
