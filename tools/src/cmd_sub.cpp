// `shmbus sub`: prints a topic's messages and, with --stats, their publish-to-receive latency.
#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <memory>
#include <optional>
#include <string>

#include "commands.hpp"
#include "common.hpp"
#include "json.hpp"
#include "latency_histogram.hpp"
#include "routing/topic_pattern.hpp"
#include "shmbus/client.hpp"
#include "shmbus/group.hpp"
#include "shmbus/message.hpp"
#include "shmbus/pattern_subscriber.hpp"
#include "shmbus/subscriber.hpp"

namespace shmbus::cli {
namespace {

struct SubOptions {
  std::string bus;
  std::string topic;                 // a topic name, or a wildcard pattern
  std::vector<std::string> filters;  // KEY=VALUE, or KEY: the key is present
  bool filter_any = false;
  std::string format = "text";
  std::uint64_t count = 0;  // 0: no limit
  double idle_timeout = 0;  // 0: wait forever
  std::string from = "latest";
  std::string wait = "adaptive";
  bool stats = false;
  bool quiet = false;
  std::string group;  // join this shared subscription group instead of a broadcast subscription
  bool no_ack = false;
  std::uint32_t prefetch = 64;
  TopicShape shape;
};

enum class Format : std::uint8_t { text, hex, json };

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int /*signal*/) {
  g_stop.store(true, std::memory_order_relaxed);
}

// Without SA_RESTART, so that a blocked receive returns early and the loop sees the flag.
void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

std::optional<StartPosition> parse_start(const std::string& text) {
  if (text == "latest") return StartPosition::latest();
  if (text == "earliest") return StartPosition::earliest();
  constexpr std::string_view kLast = "last:";
  if (text.starts_with(kLast)) {
    std::uint64_t n = 0;
    const char* first = text.data() + kLast.size();
    const char* last = text.data() + text.size();
    const auto [end, error] = std::from_chars(first, last, n);
    if (error == std::errc{} && end == last && first != last) return StartPosition::last(n);
  }
  return std::nullopt;
}

WaitMode parse_wait(const std::string& text) {
  if (text == "spin") return WaitMode::spin;
  if (text == "block") return WaitMode::block;
  return WaitMode::adaptive;
}

// Text output keeps UTF-8 as it is but shows control bytes as \xNN, so a binary payload cannot
// drive the terminal.
void append_text(std::string& out, std::span<const std::byte> payload) {
  for (const std::byte b : payload) {
    const auto c = static_cast<unsigned char>(b);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
}

// Text when it reads as text: valid UTF-8 without control bytes other than tab and line breaks.
// A binary payload (e.g. one starting with a little-endian index) is clearer in hex.
bool looks_like_text(std::span<const std::byte> payload) {
  for (const std::byte b : payload) {
    const auto c = static_cast<unsigned char>(b);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return false;
  }
  return json::is_valid_utf8(payload);
}

void append_properties(json::Writer& w, const MessageProperties& properties) {
  w.key("properties").begin_object();
  for (const Property& p : properties)
    w.field(p.key, p.value);
  w.end_object();
  if (auto type = properties.content_type()) w.field("content_type", *type);
  if (auto key = properties.key()) w.field("key", *key);
}

// `with_topic`: text and hex lines start with the topic and a tab (a wildcard subscription).
// `group`: the JSON line says whether the message was delivered before, and how often.
void append_message(std::string& out, Format format, bool with_topic, bool group,
                    const Message& message) {
  if (with_topic && format != Format::json) {
    out.append(message.topic());
    out += '\t';
  }
  switch (format) {
    case Format::text:
      append_text(out, message.payload());
      break;
    case Format::hex:
      json::append_hex(out, message.payload());
      break;
    case Format::json: {
      json::Writer w(out);
      w.begin_object();
      w.field("topic", message.topic());
      w.field("seq", message.sequence());
      w.field("publisher", message.publisher_id());
      w.field("time_ns", message.publish_time_ns());
      w.field("size", message.size());
      w.field("lost_before", message.lost_before());
      // Lossless either way, and `encoding` says which.
      if (looks_like_text(message.payload())) {
        w.field("encoding", "text");
        w.key("payload");
        w.value(std::string_view(reinterpret_cast<const char*>(  // NOLINT: byte view
                                     message.payload().data()),
                                 message.payload().size()));
      } else {
        w.field("encoding", "hex");
        std::string hex;
        json::append_hex(hex, message.payload());
        w.field("payload", hex);
      }
      append_properties(w, message.properties());
      if (group) {
        w.field("redelivered", message.redelivered());
        w.field("deliveries", message.deliveries());
      }
      w.end_object();
      break;
    }
  }
  out += '\n';
}

struct Totals {
  std::uint64_t received = 0;
  std::uint64_t lost = 0;
  std::uint64_t torn = 0;  // read while a publisher overwrote the slot (overwrite topics)
  std::uint64_t filtered = 0;
};

void print_stats(const SubOptions& options, Format format, const Totals& totals,
                 const LatencyHistogram& latency) {
  std::string out;
  if (format == Format::json) {
    json::Writer w(out);
    w.begin_object().key("stats").begin_object();
    w.field("topic", options.topic);
    w.field("received", totals.received);
    w.field("lost", totals.lost);
    w.field("torn", totals.torn);
    w.field("filtered", totals.filtered);
    w.field("min_ns", latency.min());
    w.field("mean_ns", latency.mean());
    w.field("p50_ns", latency.percentile(0.50));
    w.field("p90_ns", latency.percentile(0.90));
    w.field("p99_ns", latency.percentile(0.99));
    w.field("p99_9_ns", latency.percentile(0.999));
    w.field("max_ns", latency.max());
    w.end_object().end_object();
    out += '\n';
  } else {
    auto it = std::back_inserter(out);
    fmt::format_to(it, "topic {}: received {}, lost {}", options.topic, totals.received,
                   totals.lost);
    if (totals.torn > 0) fmt::format_to(it, ", torn {}", totals.torn);
    if (totals.filtered > 0) fmt::format_to(it, ", filtered {}", totals.filtered);
    fmt::format_to(
        it,
        "\nlatency (publish to receive, ns): min {} p50 {} p90 {} p99 {} p99.9 {} max {} "
        "mean {:.0f}\n",
        latency.min(), latency.percentile(0.50), latency.percentile(0.90), latency.percentile(0.99),
        latency.percentile(0.999), latency.max(), latency.mean());
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

PropertyFilter parse_filter(const SubOptions& options) {
  PropertyFilter filter;
  filter.match = options.filter_any ? PropertyFilter::Match::any : PropertyFilter::Match::all;
  for (const auto& text : options.filters) {
    const auto eq = text.find('=');
    filter.where(text.substr(0, eq), eq == std::string::npos ? std::string() : text.substr(eq + 1));
  }
  if (auto why = check_filter(filter)) throw Error(ErrorCode::invalid_argument, *why);
  return filter;
}

// A group member as a receive_loop source: a message is acked once its line is written and
// flushed, so a consumer killed at any moment loses nothing (it is redelivered instead).
struct GroupSource {
  GroupConsumer& consumer;
  bool ack;
  Status receive(Message& message, std::chrono::nanoseconds timeout) {
    return consumer.receive(message, timeout);
  }
  void settle(const Message& message) const {
    if (!ack) return;  // left to the group's ack timeout
    const Status status = consumer.ack(message);
    if (status != Status::ok) {
      print_error(fmt::format("ack of message {} of topic {}: {}", message.sequence(),
                              consumer.topic(), to_string(status)));
    }
  }
  [[nodiscard]] std::uint64_t lost() const { return 0; }
  [[nodiscard]] std::uint64_t filtered() const { return 0; }
};

template <typename Source>
void settle(Source& /*subscriber*/, const Message& /*message*/) {}
void settle(GroupSource& source, const Message& message) {
  source.settle(message);
}

// The receive loop, for a Subscriber, a PatternSubscriber or a GroupSource.
template <typename Source>
int receive_loop(const SubOptions& options, Format format, bool wildcard, Source& subscriber) {
  const bool group = !options.group.empty();
  // The loop wakes at least this often to notice a stop signal.
  constexpr std::uint64_t kSliceNs = 100'000'000;
  const auto idle_ns = static_cast<std::uint64_t>(options.idle_timeout * 1e9);
  auto latency = std::make_unique<LatencyHistogram>();  // 30 KiB: not on the stack
  Totals totals;
  std::string line;
  Message message;
  std::uint64_t last_activity = monotonic_ns();
  int exit_code = kExitOk;

  while (!g_stop.load(std::memory_order_relaxed)) {
    std::uint64_t slice = kSliceNs;
    if (idle_ns > 0) {
      const std::uint64_t idle = monotonic_ns() - last_activity;
      if (idle >= idle_ns) break;
      slice = std::min(slice, idle_ns - idle);
    }
    const Status status = subscriber.receive(message, std::chrono::nanoseconds(slice));
    if (status == Status::timeout || status == Status::empty) continue;
    if (status != Status::ok) {
      print_error(describe_status(status, options.topic, 0));
      exit_code = kExitFailure;
      break;
    }
    const std::uint64_t now = monotonic_ns();
    last_activity = now;
    const std::uint64_t published = message.publish_time_ns();
    if (options.stats) latency->record(now > published ? now - published : 0);
    if (!options.quiet) {
      line.clear();
      append_message(line, format, wildcard, group, message);
      // Checked after copying out: an overwrite topic may have reused the slot meanwhile.
      if (message.still_valid()) {
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fflush(stdout);
      } else {
        ++totals.torn;
      }
    }
    settle(subscriber, message);
    ++totals.received;
    if (options.count > 0 && totals.received >= options.count) break;
  }
  totals.lost = subscriber.lost();
  totals.filtered = subscriber.filtered();
  if (options.stats) print_stats(options, format, totals, *latency);
  return exit_code;
}

int run_sub(const SubOptions& options) {
  check_bus(options.bus);
  const bool wildcard = routing::is_pattern(options.topic);
  if (wildcard) {
    if (auto why = routing::check_topic_pattern(options.topic)) {
      throw Error(ErrorCode::invalid_name, *why);
    }
  } else {
    check_topic(options.topic);
  }
  const auto start = parse_start(options.from);
  if (!start) {
    print_error(fmt::format("--from must be earliest, latest or last:N, not '{}'", options.from));
    return kExitUsage;
  }
  const Format format = options.format == "hex"    ? Format::hex
                        : options.format == "json" ? Format::json
                                                   : Format::text;
  SubscribeOptions subscribe_options;
  subscribe_options.start = *start;
  subscribe_options.wait = parse_wait(options.wait);
  subscribe_options.filter = parse_filter(options);
  install_stop_handlers();

  Client client(ClientOptions{options.bus, "shmbus-sub"});
  if (!options.group.empty()) {
    if (wildcard) throw Error(ErrorCode::invalid_argument, "--group needs a topic, not a pattern");
    GroupOptions group_options;
    group_options.prefetch = options.prefetch;
    group_options.wait = subscribe_options.wait;
    auto consumer = client.join_group(options.topic, options.group, group_options,
                                      to_topic_options(options.shape));
    GroupSource source{consumer, !options.no_ack};
    return receive_loop(options, format, false, source);
  }
  if (wildcard) {
    auto subscriber = client.pattern_subscriber(options.topic, subscribe_options);
    return receive_loop(options, format, true, subscriber);
  }
  auto subscriber =
      client.subscriber(options.topic, subscribe_options, to_topic_options(options.shape));
  return receive_loop(options, format, false, subscriber);
}

}  // namespace

Command add_sub(CLI::App& app) {
  auto options = std::make_shared<SubOptions>();
  auto* command = app.add_subcommand("sub", "Print a topic's messages");
  add_bus_option(*command, options->bus);
  command
      ->add_option("TOPIC", options->topic,
                   "Topic name, or a wildcard pattern: '*' one level, '#' zero or more ('md.#')")
      ->required();
  command
      ->add_option("--filter", options->filters,
                   "Only messages with property KEY=VALUE (KEY alone: the key is present); "
                   "repeatable, all must hold")
      ->allow_extra_args(false);
  command->add_flag("--filter-any", options->filter_any,
                    "With several --filter: any one holding is enough");
  command->add_option("--format", options->format, "Output: text, hex or json (one per line)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "hex", "json"}));
  command->add_option("--count", options->count, "Exit after N messages");
  command->add_option("--timeout", options->idle_timeout, "Exit after SEC seconds without messages")
      ->check(CLI::PositiveNumber);
  command->add_option("--from", options->from, "Start at earliest, latest or last:N")
      ->capture_default_str();
  command->add_option("--wait", options->wait, "How to wait: adaptive, spin or block")
      ->capture_default_str()
      ->check(CLI::IsMember({"adaptive", "spin", "block"}));
  command->add_flag("--stats", options->stats,
                    "At exit, print count, lost and latency percentiles (publish to receive)");
  command->add_flag("-q,--quiet", options->quiet, "Print no messages (use with --stats)");
  command->add_option("--group", options->group,
                      "Join shared subscription group G: each message goes to one member; it is "
                      "acked once its line is written");
  command->add_flag("--no-ack", options->no_ack,
                    "With --group: never ack (the group's ack timeout redelivers)");
  command
      ->add_option("--prefetch", options->prefetch,
                   "With --group: most messages held unacked at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  add_topic_shape_options(*command, options->shape);
  return [options] { return run_sub(*options); };
}

}  // namespace shmbus::cli
