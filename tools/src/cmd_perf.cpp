// `shmbus perf`: latency and throughput between two real processes on a running daemon's bus.
// The measuring process re-executes itself (/proc/self/exe) as the other side, so both ends run
// the same build and nothing else needs to be installed.
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "json.hpp"
#include "latency_histogram.hpp"
#include "shmbus/client.hpp"
#include "shmbus/message.hpp"
#include "shmbus/publisher.hpp"
#include "shmbus/subscriber.hpp"

namespace shmbus::cli {
namespace {

// -1: leave the scheduler free; kAutoCpu: pick from the CPUs this process may run on.
constexpr int kNoCpu = -1;
constexpr int kAutoCpu = -2;

// Every perf payload starts with this header; the rest of the payload is not touched by the
// sender, as a zero-copy producer would build its data in place.
struct PerfHeader {
  std::uint64_t index;
  std::uint64_t send_ns;
};
constexpr std::uint64_t kReady = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kStop = kReady - 1;
constexpr std::uint32_t kMinSize = sizeof(PerfHeader);
constexpr std::uint32_t kSlotCount = 1024;
constexpr std::uint32_t kMinSlotSize = 64;

// How long the measuring side waits for the other before checking that it is still alive.
constexpr std::chrono::nanoseconds kPollSlice = std::chrono::milliseconds(100);
// Upper bound on a single round trip or message gap before the run is declared stuck.
constexpr std::uint64_t kStuckNs = 10'000'000'000ULL;

struct PerfOptions {
  std::string bus;
  std::uint32_t size = 64;
  std::uint64_t count = 100'000;
  std::uint64_t warmup = 1'000;
  std::string wait = "adaptive";
  int cpu_main = kAutoCpu;   // ping, or the receiver in throughput mode
  int cpu_child = kAutoCpu;  // pong, or the publisher in throughput mode
  bool json = false;
};

// The hidden side started by the measuring process.
struct ChildOptions {
  std::string bus;
  std::uint64_t id = 0;
  std::string wait = "adaptive";
  std::uint32_t size = 64;
  std::uint64_t count = 0;
  int cpu = kNoCpu;
};

WaitMode parse_wait(const std::string& text) {
  if (text == "spin") return WaitMode::spin;
  if (text == "block") return WaitMode::block;
  return WaitMode::adaptive;
}

std::string topic_name(const char* kind, std::uint64_t id) {
  return fmt::format("perf.{}.{}", kind, id);
}

TopicOptions perf_topic(std::uint32_t size) {
  TopicOptions options;
  options.slot_size = std::max(size, kMinSlotSize);
  options.slot_count = kSlotCount;
  options.policy = FullPolicy::block;
  return options;
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

// Defaults to the first two CPUs this process may use, so that the two sides never share a core
// when they need not; with one CPU only the measuring side is pinned.
void resolve_cpus(PerfOptions& options) {
  const auto cpus = allowed_cpus();
  if (options.cpu_main == kAutoCpu) options.cpu_main = cpus.empty() ? kNoCpu : cpus[0];
  if (options.cpu_child == kAutoCpu) options.cpu_child = cpus.size() >= 2 ? cpus[1] : kNoCpu;
}

void pin_to(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(cpu), &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    throw Error(ErrorCode::invalid_argument,
                fmt::format("cannot pin to CPU {}: {}", cpu, std::strerror(errno)));
  }
}

// The other side of a measurement: this executable again, with a hidden subcommand.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& arg : args)
      argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::fflush(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) {
      throw Error(ErrorCode::invalid_argument, fmt::format("fork: {}", std::strerror(errno)));
    }
    if (pid_ == 0) {
      // A child left spinning on a busy-poll subscriber would burn a core forever.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(kExitFailure);
      execv("/proc/self/exe", argv.data());
      _exit(127);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // True while the child runs; once it has exited, its status is kept for wait().
  bool alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      status_ = status;
      return false;
    }
    return true;
  }

  // The child's exit code (128 + signal if killed).
  int wait() {
    if (pid_ > 0) {
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = 0;
      status_ = status;
    }
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
    return kExitFailure;
  }

 private:
  pid_t pid_ = 0;
  int status_ = 0;
};

std::vector<std::string> child_args(const char* mode, const PerfOptions& options,
                                    std::uint64_t id) {
  return {"shmbus",
          "perf",
          mode,
          "--bus",
          options.bus,
          "--id",
          std::to_string(id),
          "--wait",
          options.wait,
          "--size",
          std::to_string(options.size),
          "--count",
          std::to_string(options.count),
          "--cpu",
          std::to_string(options.cpu_child)};
}

// Waits for the child's first message; fails if it exits or stays silent too long.
bool await_ready(Subscriber& subscriber, Message& message, Child& child) {
  const std::uint64_t deadline = monotonic_ns() + kStuckNs;
  while (monotonic_ns() < deadline) {
    const Status status = subscriber.receive(message, kPollSlice);
    if (status == Status::ok) {
      PerfHeader header{};
      if (message.size() >= sizeof(header))
        std::memcpy(&header, message.payload().data(), sizeof(header));
      if (header.index == kReady) return true;
      continue;
    }
    if (status != Status::timeout && status != Status::empty) break;
    if (!child.alive()) break;
  }
  print_error(fmt::format("the perf child did not start (exit code {})", child.wait()));
  return false;
}

struct Result {
  const char* mode = "latency";
  std::uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, p9999 = 0, max = 0;
  double msgs_per_s = 0;
  double gb_per_s = 0;
  std::uint64_t samples = 0;
};

void print_result(const PerfOptions& options, const Result& r) {
  std::string out;
  if (options.json) {
    json::Writer w(out);
    w.begin_object();
    w.field("system", "shmbus");
    w.field("mode", r.mode);
    w.field("wait", options.wait);
    w.field("size", options.size);
    w.field("p50_ns", r.p50);
    w.field("p90_ns", r.p90);
    w.field("p99_ns", r.p99);
    w.field("p999_ns", r.p999);
    w.field("p9999_ns", r.p9999);
    w.field("max_ns", r.max);
    w.field("msgs_per_s", r.msgs_per_s);
    w.field("gb_per_s", r.gb_per_s);
    w.field("samples", r.samples);
    w.end_object();
    out += '\n';
  } else if (std::string_view(r.mode) == "latency") {
    fmt::format_to(std::back_inserter(out),
                   "shmbus latency  wait={:<8} size={:<8} one-way ns: p50 {} p90 {} p99 {} "
                   "p99.9 {} p99.99 {} max {}  ({} samples)\n",
                   options.wait, options.size, r.p50, r.p90, r.p99, r.p999, r.p9999, r.max,
                   r.samples);
  } else {
    fmt::format_to(std::back_inserter(out),
                   "shmbus throughput  wait={:<8} size={:<8} {:.0f} msgs/s  {:.3f} GB/s  "
                   "({} messages)\n",
                   options.wait, options.size, r.msgs_per_s, r.gb_per_s, r.samples);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

int check_size(const PerfOptions& options) {
  if (options.size < kMinSize) {
    print_error(
        fmt::format("--size must be at least {} bytes: the payload carries an index and "
                    "a timestamp",
                    kMinSize));
    return kExitUsage;
  }
  return kExitOk;
}

int run_latency(PerfOptions options) {
  check_bus(options.bus);
  if (const int code = check_size(options); code != kExitOk) return code;
  resolve_cpus(options);
  // Attaching first makes a missing daemon the clear client error, before any child exists.
  Client client(ClientOptions{options.bus, "shmbus-perf"});
  const auto id = static_cast<std::uint64_t>(getpid());
  const auto shape = perf_topic(options.size);
  PublisherOptions publisher_options;
  publisher_options.block_timeout = std::chrono::nanoseconds(kStuckNs);
  auto ping = client.publisher(topic_name("ping", id), shape, publisher_options);
  SubscribeOptions subscribe_options;
  subscribe_options.wait = parse_wait(options.wait);
  // Subscribed before the child exists, so its ready message cannot be missed.
  auto pong = client.subscriber(topic_name("pong", id), subscribe_options, shape);
  pin_to(options.cpu_main);

  Child child(child_args("pong", options, id));
  Message message;
  if (!await_ready(pong, message, child)) return kExitFailure;

  auto histogram = std::make_unique<LatencyHistogram>();  // 30 KiB: not on the stack
  const std::uint64_t total = options.warmup + options.count;
  const auto stuck = std::chrono::nanoseconds(kStuckNs);
  for (std::uint64_t i = 0; i < total; ++i) {
    Loan loan = ping.loan(options.size);
    if (!loan) {
      print_error(describe_status(loan.status(), ping.topic(), ping.max_payload()));
      return kExitFailure;
    }
    const PerfHeader header{i, monotonic_ns()};
    std::memcpy(loan.data().data(), &header, sizeof(header));
    if (const Status status = loan.commit(); status != Status::ok) {
      print_error(describe_status(status, ping.topic(), ping.max_payload()));
      return kExitFailure;
    }
    const Status status = pong.receive(message, stuck);
    const std::uint64_t now = monotonic_ns();
    if (status != Status::ok) {
      print_error(fmt::format("no echo for round trip {}: {}", i,
                              describe_status(status, pong.topic(), 0)));
      return kExitFailure;
    }
    PerfHeader echo{};
    std::memcpy(&echo, message.payload().data(), sizeof(echo));
    if (echo.index != i) {
      print_error(fmt::format("echo {} came back for round trip {}", echo.index, i));
      return kExitFailure;
    }
    if (i >= options.warmup) histogram->record((now - echo.send_ns) / 2);
  }

  Loan stop = ping.loan(kMinSize);
  if (stop) {
    const PerfHeader header{kStop, 0};
    std::memcpy(stop.data().data(), &header, sizeof(header));
    (void)stop.commit();
  }
  if (const int code = child.wait(); code != kExitOk) {
    print_error(fmt::format("the pong process exited with code {}", code));
    return kExitFailure;
  }

  Result result;
  result.mode = "latency";
  result.p50 = histogram->percentile(0.50);
  result.p90 = histogram->percentile(0.90);
  result.p99 = histogram->percentile(0.99);
  result.p999 = histogram->percentile(0.999);
  result.p9999 = histogram->percentile(0.9999);
  result.max = histogram->max();
  result.samples = histogram->count();
  print_result(options, result);
  return kExitOk;
}

int run_pong(const ChildOptions& options) {
  pin_to(options.cpu);
  Client client(ClientOptions{options.bus, "shmbus-perf-pong"});
  SubscribeOptions subscribe_options;
  subscribe_options.wait = parse_wait(options.wait);
  auto ping = client.subscriber(topic_name("ping", options.id), subscribe_options);
  PublisherOptions publisher_options;
  publisher_options.block_timeout = std::chrono::nanoseconds(kStuckNs);
  auto pong = client.publisher(topic_name("pong", options.id), {}, publisher_options);

  // Only now that the ping subscriber exists can no ping be missed.
  const PerfHeader ready{kReady, monotonic_ns()};
  if (const Status status = pong.publish(ready); status != Status::ok) {
    print_error(describe_status(status, pong.topic(), pong.max_payload()));
    return kExitFailure;
  }
  Message message;
  for (;;) {
    const Status status = ping.receive(message, kPollSlice);
    if (status == Status::timeout || status == Status::empty) continue;
    if (status != Status::ok) {
      print_error(describe_status(status, ping.topic(), 0));
      return kExitFailure;
    }
    const auto payload = message.payload();
    PerfHeader header{};
    std::memcpy(&header, payload.data(), sizeof(header));
    if (header.index == kStop) return kExitOk;
    Loan loan = pong.loan(payload.size());
    if (!loan) {
      print_error(describe_status(loan.status(), pong.topic(), pong.max_payload()));
      return kExitFailure;
    }
    std::memcpy(loan.data().data(), payload.data(), payload.size());
    if (const Status committed = loan.commit(); committed != Status::ok) {
      print_error(describe_status(committed, pong.topic(), pong.max_payload()));
      return kExitFailure;
    }
  }
}

int run_throughput(PerfOptions options) {
  check_bus(options.bus);
  if (const int code = check_size(options); code != kExitOk) return code;
  resolve_cpus(options);
  Client client(ClientOptions{options.bus, "shmbus-perf"});
  const auto id = static_cast<std::uint64_t>(getpid());
  SubscribeOptions subscribe_options;
  subscribe_options.wait = parse_wait(options.wait);
  auto stream =
      client.subscriber(topic_name("stream", id), subscribe_options, perf_topic(options.size));
  pin_to(options.cpu_main);

  Child child(child_args("stream", options, id));
  Message message;
  if (!await_ready(stream, message, child)) return kExitFailure;
  // Timed from the ready message, which the publisher sends just before its first data message,
  // so that process start-up is not counted.
  const std::uint64_t start = monotonic_ns();
  std::uint64_t expected_sequence = message.sequence() + 1;
  std::uint64_t errors = 0;
  const auto stuck = std::chrono::nanoseconds(kStuckNs);
  for (std::uint64_t expected = 0; expected < options.count; ++expected) {
    const Status status = stream.receive(message, stuck);
    if (status != Status::ok) {
      print_error(fmt::format("message {} of {} did not arrive: {}", expected, options.count,
                              describe_status(status, stream.topic(), 0)));
      return kExitFailure;
    }
    PerfHeader header{};
    std::memcpy(&header, message.payload().data(), sizeof(header));
    // Resynchronise on a gap, so that one lost message counts once, not for every later one.
    if (header.index != expected || message.sequence() != expected_sequence ||
        message.size() != options.size) {
      ++errors;
      if (header.index > expected && header.index < options.count) expected = header.index;
    }
    expected_sequence = message.sequence() + 1;
  }
  const std::uint64_t elapsed = monotonic_ns() - start;
  if (const int code = child.wait(); code != kExitOk) {
    print_error(fmt::format("the publishing process exited with code {}", code));
    return kExitFailure;
  }

  Result result;
  result.mode = "throughput";
  const double seconds = static_cast<double>(elapsed) / 1e9;
  result.msgs_per_s = seconds > 0 ? static_cast<double>(options.count) / seconds : 0;
  result.gb_per_s = result.msgs_per_s * static_cast<double>(options.size) / 1e9;
  result.samples = options.count;
  print_result(options, result);
  if (errors > 0) {
    print_error(fmt::format("{} of {} messages were out of sequence", errors, options.count));
    return kExitFailure;
  }
  return kExitOk;
}

int run_stream(const ChildOptions& options) {
  pin_to(options.cpu);
  Client client(ClientOptions{options.bus, "shmbus-perf-stream"});
  PublisherOptions publisher_options;
  publisher_options.block_timeout = std::chrono::nanoseconds(kStuckNs);
  auto stream = client.publisher(topic_name("stream", options.id), {}, publisher_options);
  std::vector<std::byte> payload(options.size);
  PerfHeader header{kReady, monotonic_ns()};
  for (std::uint64_t i = 0;; ++i) {
    std::memcpy(payload.data(), &header, sizeof(header));
    // The ready message has the data messages' size, so the receiver's size check holds for all.
    if (const Status status = stream.publish(std::span<const std::byte>(payload));
        status != Status::ok) {
      print_error(describe_status(status, stream.topic(), stream.max_payload()));
      return kExitFailure;
    }
    if (i == options.count) return kExitOk;
    header = PerfHeader{i, 0};
  }
}

void add_common(CLI::App& command, PerfOptions& options, const char* main_cpu,
                const char* child_cpu) {
  add_bus_option(command, options.bus);
  command.add_option("--size", options.size, "Payload bytes (>= 16)")->capture_default_str();
  command.add_option("--count", options.count, "Measured messages")->capture_default_str();
  command.add_option("--wait", options.wait, "How receivers wait: spin, adaptive or block")
      ->capture_default_str()
      ->check(CLI::IsMember({"spin", "adaptive", "block"}));
  command.add_option(main_cpu, options.cpu_main,
                     "CPU for this process (-1: unpinned; default: the first allowed CPU)");
  command.add_option(child_cpu, options.cpu_child,
                     "CPU for the other process (-1: unpinned; default: the second allowed CPU)");
  command.add_flag("--json", options.json, "One JSON object per case instead of a table line");
}

CLI::App* add_child(CLI::App& perf, const char* name, ChildOptions& options) {
  auto* command = perf.add_subcommand(name, "internal: the other side of a measurement");
  command->group("");  // hidden: started by `perf latency` / `perf throughput` only
  command->add_option("--bus", options.bus)->required();
  command->add_option("--id", options.id)->required();
  command->add_option("--wait", options.wait);
  command->add_option("--size", options.size);
  command->add_option("--count", options.count);
  command->add_option("--cpu", options.cpu);
  return command;
}

}  // namespace

Command add_perf(CLI::App& app) {
  auto* perf = app.add_subcommand("perf", "Measure latency and throughput between two processes");
  perf->require_subcommand(1);

  auto latency_options = std::make_shared<PerfOptions>();
  auto* latency = perf->add_subcommand(
      "latency", "Ping-pong over two topics; one-way latency = round trip / 2");
  add_common(*latency, *latency_options, "--cpu-ping", "--cpu-pong");
  latency->add_option("--warmup", latency_options->warmup, "Unrecorded round trips first")
      ->capture_default_str();

  auto throughput_options = std::make_shared<PerfOptions>();
  throughput_options->count = 1'000'000;
  auto* throughput = perf->add_subcommand(
      "throughput", "One-way streaming from a child publisher; every sequence is checked");
  add_common(*throughput, *throughput_options, "--cpu-sub", "--cpu-pub");

  auto child_options = std::make_shared<ChildOptions>();
  auto* pong = add_child(*perf, "pong", *child_options);
  auto* stream = add_child(*perf, "stream", *child_options);

  return [=] {
    if (latency->parsed()) return run_latency(*latency_options);
    if (throughput->parsed()) return run_throughput(*throughput_options);
    if (pong->parsed()) return run_pong(*child_options);
    if (stream->parsed()) return run_stream(*child_options);
    return kExitUsage;
  };
}

}  // namespace shmbus::cli
