// `shmbus group declare`: creates a durable shared subscription group, so that work published
// while no consumer runs is kept (up to the topic's capacity) for the next one.
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <string>

#include "commands.hpp"
#include "common.hpp"
#include "shmbus/client.hpp"
#include "shmbus/group.hpp"

namespace shmbus::cli {
namespace {

struct DeclareOptions {
  std::string bus;
  std::string topic;
  std::string group;
  std::uint32_t max_deliveries = 0;
  std::uint32_t ack_timeout_ms = 0;
  bool key_ordered = false;
  std::string dead_letter_topic;
  TopicShape shape;
};

int run_declare(const DeclareOptions& options) {
  check_bus(options.bus);
  check_topic(options.topic);
  GroupSettings settings;
  settings.declare = true;
  settings.key_ordered = options.key_ordered;
  settings.max_deliveries = options.max_deliveries;
  settings.ack_timeout = std::chrono::milliseconds(options.ack_timeout_ms);
  settings.dead_letter_topic = options.dead_letter_topic;
  Client client(ClientOptions{options.bus, "shmbus-group"});
  client.declare_group(options.topic, options.group, settings, to_topic_options(options.shape));
  std::fputs(
      fmt::format("group {} on topic {} is declared\n", options.group, options.topic).c_str(),
      stdout);
  return kExitOk;
}

}  // namespace

Command add_group(CLI::App& app) {
  auto options = std::make_shared<DeclareOptions>();
  auto* command = app.add_subcommand("group", "Manage shared subscription groups");
  command->require_subcommand(1);
  auto* declare = command->add_subcommand(
      "declare", "Create a durable group: it keeps its backlog while no member runs");
  add_bus_option(*declare, options->bus);
  declare->add_option("TOPIC", options->topic, "Topic name")->required();
  declare->add_option("GROUP", options->group, "Group name")->required();
  declare
      ->add_option("--max-deliveries", options->max_deliveries,
                   "Deliveries before a message goes to the dead-letter topic (0: unlimited)")
      ->check(CLI::Range(0, 254));
  declare->add_option("--ack-timeout", options->ack_timeout_ms,
                      "Milliseconds before an unacked message is redelivered (0: never)");
  declare->add_flag("--key-ordered", options->key_ordered,
                    "Messages with the same key (pub --key) go to the same live member");
  declare->add_option("--dead-letter", options->dead_letter_topic,
                      "Dead-letter topic (default: TOPIC.dlq)");
  add_topic_shape_options(*declare, options->shape);
  return [options] { return run_declare(*options); };
}

}  // namespace shmbus::cli
