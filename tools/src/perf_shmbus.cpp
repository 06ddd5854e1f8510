#include "perf_shmbus.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "common.hpp"
#include "latency_histogram.hpp"
#include "perf_driver.hpp"
#include "shmbus/client.hpp"
#include "shmbus/message.hpp"
#include "shmbus/publisher.hpp"
#include "shmbus/subscriber.hpp"
#include "wait/futex.hpp"

namespace shmbus::cli {
namespace {

using perf::Mode;
using perf::Received;

class BusSender final : public perf::Sender {
 public:
  explicit BusSender(Publisher& publisher) : publisher_(publisher) {}
  bool send(std::span<const std::byte> message) override {
    return check(publisher_.publish(message));
  }
  std::byte* loan(std::size_t size) override {
    loan_ = publisher_.loan(size);
    if (!loan_) {
      check(loan_.status());
      return nullptr;
    }
    return loan_.data().data();
  }
  bool commit(std::size_t size) override { return check(loan_.commit(size)); }

 private:
  bool check(Status status) {
    if (status == Status::ok) return true;
    print_error(describe_status(status, publisher_.topic(), publisher_.max_payload(),
                                static_cast<double>(perf::kStuckNs) / 1e9));
    return false;
  }
  Publisher& publisher_;
  Loan loan_;
};

class BusReceiver final : public perf::Receiver {
 public:
  explicit BusReceiver(Subscriber& subscriber) : subscriber_(subscriber) {}
  Received receive(std::span<const std::byte>& message, std::chrono::nanoseconds slice) override {
    const Status status = subscriber_.receive(message_, slice);
    if (status == Status::ok) {
      message = message_.payload();
      return Received::ok;
    }
    if (status == Status::timeout || status == Status::empty) return Received::empty;
    print_error(describe_status(status, subscriber_.topic(), 0));
    return Received::error;
  }

 private:
  Subscriber& subscriber_;
  Message message_;
};

WaitMode parse_wait(const std::string& text) {
  if (text == "spin") return WaitMode::spin;
  if (text == "block") return WaitMode::block;
  return WaitMode::adaptive;
}

// Topics are per run (pid), per case (size, loan) so that every case starts on a fresh ring.
std::string topic_name(const char* kind, std::uint64_t id, std::uint32_t size) {
  return fmt::format("perf.{}.{}.{}", kind, id, size);
}

TopicOptions perf_topic(std::uint32_t size) {
  TopicOptions options;
  options.slot_size = std::max<std::uint32_t>(size, 64);
  options.slot_count = perf::slot_count_for(size);
  options.policy = FullPolicy::block;
  return options;
}

PublisherOptions publisher_options() {
  PublisherOptions options;
  options.block_timeout = std::chrono::nanoseconds(perf::kStuckNs);
  return options;
}

SubscribeOptions subscribe_options(const std::string& wait) {
  SubscribeOptions options;
  options.wait = parse_wait(wait);
  return options;
}

struct Run {
  std::string bus;
  std::uint64_t id = 0;
  perf::Options options;
};

perf::ChildProcess spawn(const Run& run, const char* role, std::uint32_t size, std::uint64_t count,
                         int cpu, int index = 0, unsigned of = 1) {
  std::vector<std::string> args{"shmbus", "perf", "child", "--bus", run.bus, "--role", role};
  const auto common =
      perf::child_case_args({run.id, run.options.wait, size, count, cpu, run.options.loan});
  args.insert(args.end(), common.begin(), common.end());
  args.insert(args.end(), {"--index", std::to_string(index), "--of", std::to_string(of)});
  if (run.options.json) args.emplace_back("--json");
  return perf::ChildProcess(std::move(args));
}

perf::Case make_case(const Run& run, Mode mode, std::uint32_t size) {
  return perf::Case{"shmbus", mode, run.options.wait, size, run.options.loan};
}

bool latency_case(Client& client, const Run& run, std::uint32_t size) {
  const auto shape = perf_topic(size);
  auto ping = client.publisher(topic_name("ping", run.id, size), shape, publisher_options());
  // Subscribed before the child exists, so its ready message cannot be missed.
  auto pong = client.subscriber(topic_name("pong", run.id, size),
                                subscribe_options(run.options.wait), shape);
  const std::uint64_t count = perf::count_for(run.options, size);
  auto child = spawn(run, "pong", size, count, run.options.cpu_child);
  BusSender tx(ping);
  BusReceiver rx(pong);
  if (!perf::await_ready(rx, {&child})) return false;
  auto histogram = std::make_unique<perf::LatencyHistogram>();  // 30 KiB: not on the stack
  if (!perf::run_ping(tx, rx, size, std::min(run.options.warmup, count), count, run.options.loan,
                      *histogram, {&child})) {
    return false;
  }
  perf::send_stop(tx, size, run.options.loan);
  if (const int code = child.wait(); code != kExitOk) {
    print_error(fmt::format("the pong process exited with code {}", code));
    return false;
  }
  perf::print_result(make_case(run, Mode::latency, size), perf::latency_result(*histogram),
                     run.options.json);
  return true;
}

bool throughput_case(Client& client, const Run& run, std::uint32_t size) {
  auto stream = client.subscriber(topic_name("stream", run.id, size),
                                  subscribe_options(run.options.wait), perf_topic(size));
  const std::uint64_t count = perf::count_for(run.options, size);
  auto child = spawn(run, "stream", size, count, run.options.cpu_child);
  BusReceiver rx(stream);
  perf::Result result;
  if (!perf::run_drain(rx, size, count, result, {&child})) return false;
  if (const int code = child.wait(); code != kExitOk) {
    print_error(fmt::format("the publishing process exited with code {}", code));
    return false;
  }
  perf::print_result(make_case(run, Mode::throughput, size), result, run.options.json);
  return true;
}

// One publisher (this process), K subscriber processes; each subscriber prints its own latency,
// this process the cost of each publish.
bool fanout_case(Client& client, const Run& run, std::uint32_t size) {
  if (size < perf::kStampedBytes) {
    perf::print_unsupported(make_case(run, Mode::fanout, size),
                            "fan-out payloads carry a send time: 16 bytes at least",
                            run.options.json);
    return true;
  }
  const auto shape = perf_topic(size);
  auto fan = client.publisher(topic_name("fan", run.id, size), shape, publisher_options());
  SubscribeOptions ready_options;
  ready_options.wait = WaitMode::block;
  auto ready = client.subscriber(topic_name("fanready", run.id, size), ready_options, shape);
  const std::uint64_t count = perf::count_for(run.options, size);
  const unsigned k = run.options.subscribers;
  std::vector<perf::ChildProcess> children;
  for (unsigned i = 0; i < k; ++i) {
    children.push_back(
        spawn(run, "fanout", size, count, run.options.cpu_child, static_cast<int>(i), k));
  }
  BusReceiver ready_rx(ready);
  for (unsigned i = 0; i < k; ++i) {
    if (!perf::await_ready(ready_rx, {&children[i]})) return false;
  }
  BusSender tx(fan);
  auto cost = std::make_unique<perf::LatencyHistogram>();
  if (!perf::run_fanout_publish(tx, size, count, run.options.loan, run.options.interval_ns,
                                *cost)) {
    return false;
  }
  perf::send_stop(tx, size, run.options.loan);
  for (auto& child : children) {
    if (const int code = child.wait(); code != kExitOk) {
      print_error(fmt::format("a fan-out subscriber exited with code {}", code));
      return false;
    }
  }
  perf::Result result = perf::latency_result(*cost);
  result.subscribers = k;
  perf::print_result(make_case(run, Mode::fanout, size), result, run.options.json);
  return true;
}

// P publisher processes claim and commit on one topic with no subscriber (the ring free-runs):
// the cost of the shared claim counter. Each reports its start and end; the rate is the total
// over the span from the first start to the last end.
bool claim_case(Client& client, const Run& run, std::uint32_t size) {
  const auto shape = perf_topic(size);
  SubscribeOptions ready_options;
  ready_options.wait = WaitMode::block;
  auto ready = client.subscriber(topic_name("claimready", run.id, size), ready_options, shape);
  auto go = client.publisher(topic_name("claimgo", run.id, size), shape, publisher_options());
  const std::uint64_t count = perf::count_for(run.options, size);
  const unsigned p = run.options.publishers;
  std::vector<perf::ChildProcess> children;
  const auto cpus = perf::allowed_cpus();
  for (unsigned i = 0; i < p; ++i) {
    // The first publisher on the child CPU, the next on the main one (this process sleeps).
    const int cpu = i == 0 ? run.options.cpu_child
                           : (cpus.empty() ? perf::kNoCpu
                                           : cpus[(i + (cpus.size() > 1 ? 1 : 0)) % cpus.size()]);
    children.push_back(spawn(run, "claim", size, count, cpu, static_cast<int>(i), p));
  }
  BusReceiver ready_rx(ready);
  for (unsigned i = 0; i < p; ++i) {
    if (!perf::await_ready(ready_rx, {&children[i]})) return false;
  }
  BusSender go_tx(go);
  if (!perf::send_ready(go_tx, size)) return false;
  std::uint64_t first_start = ~std::uint64_t{0};
  std::uint64_t last_end = 0;
  std::span<const std::byte> message;
  for (unsigned done = 0; done < p;) {
    const Received got = ready_rx.receive(message, perf::kPollSlice);
    if (got == Received::error) return false;
    if (got == Received::empty) {
      if (std::none_of(children.begin(), children.end(), [](auto& c) { return c.alive(); })) {
        print_error("the claiming processes exited before reporting");
        return false;
      }
      continue;
    }
    std::uint64_t words[3];
    if (message.size() < sizeof(words)) continue;
    std::memcpy(words, message.data(), sizeof(words));
    first_start = std::min(first_start, words[1]);
    last_end = std::max(last_end, words[2]);
    ++done;
  }
  for (auto& child : children) {
    if (const int code = child.wait(); code != kExitOk) {
      print_error(fmt::format("a claiming process exited with code {}", code));
      return false;
    }
  }
  perf::Result result;
  const double seconds = static_cast<double>(last_end - first_start) / 1e9;
  result.samples = count * p;
  result.msgs_per_s = seconds > 0 ? static_cast<double>(result.samples) / seconds : 0;
  result.gb_per_s = result.msgs_per_s * size / 1e9;
  result.publishers = p;
  perf::print_result(make_case(run, Mode::claim, size), result, run.options.json);
  return true;
}

int child_claim(Client& client, const PerfChildOptions& options) {
  const auto shape = perf_topic(options.size);
  auto go = client.subscriber(topic_name("claimgo", options.id, options.size),
                              subscribe_options("block"), shape);
  auto ready = client.publisher(topic_name("claimready", options.id, options.size), shape,
                                publisher_options());
  auto claim =
      client.publisher(topic_name("claim", options.id, options.size), shape, publisher_options());
  BusSender ready_tx(ready);
  BusReceiver go_rx(go);
  if (!perf::send_ready(ready_tx, options.size)) return kExitFailure;
  if (!perf::await_ready(go_rx, {})) return kExitFailure;
  BusSender tx(claim);
  std::vector<std::byte> buffer(options.size);
  const std::uint64_t start = wait::monotonic_ns();
  for (std::uint64_t i = 0; i < options.count; ++i) {
    std::memcpy(buffer.data(), &i, sizeof(i));
    if (options.loan) {
      std::byte* memory = tx.loan(options.size);
      if (memory == nullptr) return kExitFailure;
      std::memcpy(memory, &i, sizeof(i));
      if (!tx.commit(options.size)) return kExitFailure;
    } else if (!tx.send(std::span<const std::byte>(buffer.data(), options.size))) {
      return kExitFailure;
    }
  }
  const std::uint64_t words[3] = {static_cast<std::uint64_t>(options.index), start,
                                  wait::monotonic_ns()};
  return ready_tx.send(std::as_bytes(std::span(words))) ? kExitOk : kExitFailure;
}

}  // namespace

int run_shmbus(Mode mode, perf::Options options, const std::string& bus) {
  check_bus(bus);
  const auto sizes = perf::parse_sizes(options.sizes);
  perf::resolve_cpus(options);
  // Attaching first makes a missing daemon the clear client error, before any child exists.
  Client client(ClientOptions{bus, "shmbus-perf"});
  perf::pin_to(options.cpu_main);
  const Run run{bus, static_cast<std::uint64_t>(getpid()) * 2 + (options.loan ? 1 : 0), options};
  for (const std::uint32_t size : sizes) {
    bool ok = false;
    switch (mode) {
      case Mode::latency:
        ok = latency_case(client, run, size);
        break;
      case Mode::throughput:
        ok = throughput_case(client, run, size);
        break;
      case Mode::fanout:
        ok = fanout_case(client, run, size);
        break;
      case Mode::claim:
        ok = claim_case(client, run, size);
        break;
    }
    if (!ok) return kExitFailure;
  }
  return kExitOk;
}

int run_shmbus_child(const PerfChildOptions& options) {
  perf::pin_to(options.cpu);
  Client client(ClientOptions{options.bus, "shmbus-perf-" + options.role});
  const auto shape = perf_topic(options.size);
  if (options.role == "pong") {
    auto ping = client.subscriber(topic_name("ping", options.id, options.size),
                                  subscribe_options(options.wait), shape);
    auto pong =
        client.publisher(topic_name("pong", options.id, options.size), shape, publisher_options());
    BusSender tx(pong);
    BusReceiver rx(ping);
    // Only now that the ping subscriber exists can no ping be missed.
    if (!perf::send_ready(tx, options.size)) return kExitFailure;
    return perf::run_pong(rx, tx, options.loan);
  }
  if (options.role == "stream") {
    auto stream = client.publisher(topic_name("stream", options.id, options.size), shape,
                                   publisher_options());
    BusSender tx(stream);
    return perf::run_stream(tx, options.size, options.count, options.loan);
  }
  if (options.role == "fanout") {
    auto fan = client.subscriber(topic_name("fan", options.id, options.size),
                                 subscribe_options(options.wait), shape);
    auto ready = client.publisher(topic_name("fanready", options.id, options.size), shape,
                                  publisher_options());
    BusSender ready_tx(ready);
    BusReceiver rx(fan);
    if (!perf::send_ready(ready_tx, options.size)) return kExitFailure;
    auto histogram = std::make_unique<perf::LatencyHistogram>();
    const int code = perf::run_fanout_receive(rx, *histogram);
    if (code != kExitOk) return code;
    perf::Result result = perf::latency_result(*histogram);
    result.subscriber = options.index;
    result.subscribers = options.of;
    perf::print_result(perf::Case{"shmbus", Mode::fanout, options.wait, options.size, options.loan},
                       result, options.json);
    return kExitOk;
  }
  if (options.role == "claim") return child_claim(client, options);
  print_error(fmt::format("unknown perf child role '{}'", options.role));
  return kExitUsage;
}

}  // namespace shmbus::cli
