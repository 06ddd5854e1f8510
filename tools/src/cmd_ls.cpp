// `shmbus ls`: topics, their counters and the attached clients, read from shared memory.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>

#include "bus_reader.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "json.hpp"

namespace shmbus::cli {
namespace {

struct LsOptions {
  std::string bus;
  bool json = false;
};

std::string to_json(const BusSnapshot& bus) {
  std::string out;
  json::Writer w(out);
  w.begin_object();
  w.field("bus", bus.bus);
  w.field("daemon_pid", bus.daemon_pid);
  w.field("daemon_alive", bus.daemon_alive);
  w.field("daemon_version", format_version(bus.daemon_version));
  w.field("epoch", bus.epoch);
  w.key("topics").begin_array();
  for (const auto& t : bus.topics) {
    w.begin_object();
    w.field("name", t.name);
    w.field("id", t.topic_id);
    w.field("generation", t.generation);
    w.field("slot_size", t.slot_size);
    w.field("slot_count", t.slot_count);
    w.field("policy", to_string(t.policy));
    w.field("published", t.published);
    w.field("lost", t.lost_total);
    if (t.error) w.field("error", *t.error);
    w.key("publishers").begin_array();
    for (const auto& p : t.publishers) {
      w.begin_object();
      w.field("id", p.publisher_id);
      w.field("client", p.owner_client_id);
      w.field("published", p.published);
      w.end_object();
    }
    w.end_array();
    w.key("subscribers").begin_array();
    for (const auto& s : t.subscribers) {
      w.begin_object();
      w.field("index", s.index);
      w.field("client", s.owner_client_id);
      w.field("cursor", s.cursor);
      w.field("lag", s.lag);
      w.field("lost", s.lost);
      w.end_object();
    }
    w.end_array();
    w.key("groups").begin_array();
    for (const auto& g : t.groups) {
      w.begin_object();
      w.field("name", g.name);
      w.field("declared", g.declared);
      w.field("key_ordered", g.key_ordered);
      w.field("dead_letter_topic", g.dead_letter_topic);
      w.field("members", g.members);
      w.field("depth", g.depth);
      w.field("in_flight", g.in_flight);
      w.field("acked", g.acked);
      w.field("redelivered", g.redelivered);
      w.field("dead_lettered", g.dead_lettered);
      w.field("lost", g.lost);
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.key("clients").begin_array();
  for (const auto& c : bus.clients) {
    w.begin_object();
    w.field("id", c.client_id);
    w.field("pid", c.pid);
    w.field("uid", c.uid);
    w.field("gid", c.gid);
    w.field("connected", c.connected);
    w.field("name", c.name);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  out += '\n';
  return out;
}

std::string to_text(const BusSnapshot& bus) {
  std::string out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "bus {}: daemon pid {}{}, version {}, epoch {}\n", bus.bus, bus.daemon_pid,
                 bus.daemon_alive ? "" : " (not running)", format_version(bus.daemon_version),
                 bus.epoch);
  fmt::format_to(it, "\ntopics ({} of {}):\n", bus.topics.size(), bus.max_topics);
  if (!bus.topics.empty()) {
    fmt::format_to(it, "  {:<32} {:>9} {:>7} {:<9} {:>4} {:>4} {:>14} {:>10}\n", "TOPIC",
                   "SLOT_SIZE", "SLOTS", "POLICY", "PUBS", "SUBS", "PUBLISHED", "LOST");
  }
  for (const auto& t : bus.topics) {
    fmt::format_to(it, "  {:<32} {:>9} {:>7} {:<9} {:>4} {:>4} {:>14} {:>10}\n", t.name,
                   t.slot_size, t.slot_count, to_string(t.policy), t.publishers.size(),
                   t.subscribers.size(), t.published, t.lost_total);
    if (t.error) fmt::format_to(it, "    cannot read the topic segment: {}\n", *t.error);
    for (const auto& s : t.subscribers) {
      fmt::format_to(it, "    subscriber {:>3}  client {:>5}  cursor {:>12}  lag {:>10}  lost {}\n",
                     s.index, s.owner_client_id, s.cursor, s.lag, s.lost);
    }
    for (const auto& g : t.groups) {
      fmt::format_to(it,
                     "    group {}{}{}: members {}  depth {}  in flight {}  acked {}  "
                     "redelivered {}  dead-lettered {} (to {})\n",
                     g.name, g.declared ? " (declared)" : "", g.key_ordered ? " (key-ordered)" : "",
                     g.members, g.depth, g.in_flight, g.acked, g.redelivered, g.dead_lettered,
                     g.dead_letter_topic);
    }
  }
  fmt::format_to(it, "\nclients ({} of {}):\n", bus.clients.size(), bus.max_clients);
  if (!bus.clients.empty()) {
    fmt::format_to(it, "  {:>6} {:>8} {:>6} {:<9} {}\n", "ID", "PID", "UID", "STATE", "NAME");
  }
  for (const auto& c : bus.clients) {
    fmt::format_to(it, "  {:>6} {:>8} {:>6} {:<9} {}\n", c.client_id, c.pid, c.uid,
                   c.connected ? "connected" : "detached", c.name);
  }
  return out;
}

int run_ls(const LsOptions& options) {
  const auto bus = read_bus(options.bus);
  const std::string out = options.json ? to_json(bus) : to_text(bus);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  if (!bus.daemon_alive) {
    // Segments left behind by a daemon that died: shown for diagnosis, but the bus is not served.
    print_error(no_daemon_message(options.bus) + " (the segments shown were left by pid " +
                std::to_string(bus.daemon_pid) + ")");
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

Command add_ls(CLI::App& app) {
  auto options = std::make_shared<LsOptions>();
  auto* command = app.add_subcommand("ls", "List the bus's topics, counters and clients");
  add_bus_option(*command, options->bus);
  command->add_flag("--json", options->json, "One JSON object instead of tables");
  return [options] { return run_ls(*options); };
}

}  // namespace shmbus::cli
