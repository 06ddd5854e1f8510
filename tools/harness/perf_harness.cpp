#include "perf_harness.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>

#include "json.hpp"
#include "latency_histogram.hpp"

namespace shmbus::perf {

const char* mode_name(Mode mode) noexcept {
  switch (mode) {
    case Mode::latency:
      return "latency";
    case Mode::throughput:
      return "throughput";
    case Mode::fanout:
      return "fanout";
    case Mode::claim:
      return "claim";
  }
  return "?";
}

void add_options(CLI::App& command, Options& options, std::vector<std::string> waits) {
  command
      .add_option("--sizes,--size", options.sizes,
                  "Payload bytes: a list (8,64,4K) or a doubling range (8..4M; 8..4M:4 for x4)")
      ->capture_default_str();
  command.add_option("--count", options.count, "Measured messages per size")->capture_default_str();
  command.add_option("--warmup", options.warmup, "Unrecorded round trips first (latency)")
      ->capture_default_str();
  command.add_option("--max-bytes", options.max_bytes, "Caps --count at max-bytes / size")
      ->capture_default_str();
  command.add_option("--wait", options.wait, "How receivers wait")
      ->capture_default_str()
      ->check(CLI::IsMember(std::move(waits)));
  command.add_flag("--loan", options.loan,
                   "Zero copy: write the index in place in a loaned buffer instead of copying "
                   "the payload");
  command.add_option("--cpu-main", options.cpu_main,
                     "CPU of the measuring process (-1: unpinned; default: first allowed CPU)");
  command.add_option("--cpu-child", options.cpu_child,
                     "CPU of the other process(es) (-1: unpinned; default: second allowed CPU)");
  command.add_flag("--json", options.json, "One JSON object per case instead of a table line");
}

namespace {

std::uint64_t parse_one_size(std::string_view text) {
  if (text.empty()) throw std::invalid_argument("empty size in --sizes");
  std::uint64_t multiplier = 1;
  switch (text.back()) {
    case 'k':
    case 'K':
      multiplier = 1024;
      break;
    case 'm':
    case 'M':
      multiplier = 1024 * 1024;
      break;
    default:
      break;
  }
  if (multiplier != 1) text.remove_suffix(1);
  std::uint64_t value = 0;
  for (const char ch : text) {
    if (ch < '0' || ch > '9' || value > (1ULL << 40)) {
      throw std::invalid_argument(fmt::format("bad size '{}' in --sizes", text));
    }
    value = value * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  value *= multiplier;
  if (value < kIndexBytes || value > (64ULL << 20)) {
    throw std::invalid_argument(
        fmt::format("size {} outside {}..64M: the payload carries an index", value, kIndexBytes));
  }
  return value;
}

}  // namespace

std::vector<std::uint32_t> parse_sizes(std::string_view text) {
  std::vector<std::uint32_t> sizes;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (const auto dots = item.find(".."); dots != std::string_view::npos) {
      std::string_view last_text = item.substr(dots + 2);
      std::uint64_t factor = 2;
      if (const auto colon = last_text.find(':'); colon != std::string_view::npos) {
        factor = parse_one_size(last_text.substr(colon + 1));
        last_text = last_text.substr(0, colon);
      }
      const std::uint64_t first = parse_one_size(item.substr(0, dots));
      const std::uint64_t last = parse_one_size(last_text);
      for (std::uint64_t size = first; size <= last; size *= factor)
        sizes.push_back(static_cast<std::uint32_t>(size));
    } else {
      sizes.push_back(static_cast<std::uint32_t>(parse_one_size(item)));
    }
  }
  if (sizes.empty()) throw std::invalid_argument("--sizes is empty");
  return sizes;
}

std::uint64_t count_for(const Options& options, std::uint32_t size) {
  return std::max<std::uint64_t>(std::min(options.count, options.max_bytes / size), 100);
}

// The size of CPU 0's highest-level cache, as the kernel describes it (what lscpu shows), or 0.
// Not sysconf(_SC_LEVEL3_CACHE_SIZE): glibc takes that from CPUID, which in a KVM guest here
// reports the host's whole 384 MiB instead of the guest's 32 MiB.
std::uint64_t last_level_cache_bytes() {
  std::uint64_t best_level = 0;
  std::uint64_t best_size = 0;
  for (int index = 0; index < 8; ++index) {
    const std::string dir = fmt::format("/sys/devices/system/cpu/cpu0/cache/index{}/", index);
    std::ifstream level_file(dir + "level");
    std::ifstream size_file(dir + "size");
    if (!level_file || !size_file) break;
    std::uint64_t level = 0;
    std::string size_text;  // "32768K"
    if (!(level_file >> level) || !(size_file >> size_text) || level < best_level) continue;
    std::uint64_t size = 0;
    const char* end = size_text.data() + size_text.size();
    const auto [unit, error] = std::from_chars(size_text.data(), end, size);
    if (error != std::errc{}) continue;
    const unsigned shift = unit == end ? 0 : *unit == 'K' ? 10 : *unit == 'M' ? 20 : 30;
    best_level = level;
    best_size = size << shift;
  }
  return best_size;
}

std::uint64_t ring_budget_bytes() {
  const std::uint64_t last_level = last_level_cache_bytes();
  return last_level > 0 ? last_level / 4 : 8ULL << 20;
}

std::uint32_t slot_count_for(std::uint32_t size) {
  const std::uint64_t stride = (std::uint64_t{size} + 64 + 63) / 64 * 64;
  const std::uint64_t budget = ring_budget_bytes();
  std::uint32_t slots = 1024;
  while (slots > 2 && slots * stride > budget)
    slots /= 2;
  return slots;
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

void resolve_cpus(Options& options) {
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
    throw std::runtime_error(fmt::format("cannot pin to CPU {}: {}", cpu, std::strerror(errno)));
  }
}

ChildProcess::ChildProcess(std::vector<std::string> args, std::string path, std::string log) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  if (path.empty()) path = "/proc/self/exe";
  std::fflush(nullptr);
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
  if (pid_ == 0) {
    // A child left spinning on a busy-poll receiver would burn a core forever.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(kExitFailure);
    if (!log.empty()) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
      }
    }
    execv(path.c_str(), argv.data());
    _exit(127);
  }
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, 0)), status_(other.status_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) stop(SIGKILL);
    pid_ = std::exchange(other.pid_, 0);
    status_ = other.status_;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) stop(SIGKILL);
}

bool ChildProcess::alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = 0;
    status_ = status;
    return false;
  }
  return true;
}

int ChildProcess::wait() {
  if (pid_ > 0) {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = 0;
    status_ = status;
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return kExitFailure;
}

int ChildProcess::stop(int signal) {
  if (pid_ > 0) kill(pid_, signal);
  return wait();
}

Result latency_result(const LatencyHistogram& histogram) {
  Result r;
  r.p50 = histogram.percentile(0.50);
  r.p90 = histogram.percentile(0.90);
  r.p99 = histogram.percentile(0.99);
  r.p999 = histogram.percentile(0.999);
  r.p9999 = histogram.percentile(0.9999);
  r.max = histogram.max();
  r.samples = histogram.count();
  return r;
}

namespace {

void write_line(const std::string& out) {
  // One write per line: children of a fan-out print to the same stdout.
  std::fflush(stdout);
  (void)!::write(STDOUT_FILENO, out.data(), out.size());
}

void begin_case(cli::json::Writer& w, const Case& c) {
  w.begin_object();
  w.field("system", c.system);
  w.field("mode", mode_name(c.mode));
  w.field("wait", c.wait);
  w.field("size", c.size);
}

}  // namespace

void print_result(const Case& c, const Result& r, bool json) {
  std::string out;
  if (json) {
    cli::json::Writer w(out);
    begin_case(w, c);
    w.field("p50_ns", r.p50);
    w.field("p90_ns", r.p90);
    w.field("p99_ns", r.p99);
    w.field("p999_ns", r.p999);
    w.field("p9999_ns", r.p9999);
    w.field("max_ns", r.max);
    w.field("msgs_per_s", r.msgs_per_s);
    w.field("gb_per_s", r.gb_per_s);
    w.field("samples", r.samples);
    if (c.loan) w.field("loan", true);
    if (c.mode == Mode::claim) w.field("publishers", r.publishers);
    if (c.mode == Mode::fanout) {
      w.field("subscriber", r.subscriber);
      w.field("subscribers", r.subscribers);
    }
    w.end_object();
    out += '\n';
  } else {
    const std::string who =
        c.mode == Mode::fanout
            ? (r.subscriber < 0 ? fmt::format(" publisher/{}", r.subscribers)
                                : fmt::format(" sub {}/{}", r.subscriber, r.subscribers))
            : std::string{};
    fmt::format_to(std::back_inserter(out), "{:<10} {:<10}{} wait={:<8} size={:<8} {}", c.system,
                   mode_name(c.mode), who, c.wait, c.size, c.loan ? "loan " : "copy ");
    if (r.msgs_per_s > 0) {
      fmt::format_to(std::back_inserter(out), "{:.0f} msgs/s  {:.3f} GB/s  ({} messages)\n",
                     r.msgs_per_s, r.gb_per_s, r.samples);
    } else {
      fmt::format_to(std::back_inserter(out),
                     "ns: p50 {} p90 {} p99 {} p99.9 {} p99.99 {} max {}  ({} samples)\n", r.p50,
                     r.p90, r.p99, r.p999, r.p9999, r.max, r.samples);
    }
  }
  write_line(out);
}

void print_unsupported(const Case& c, std::string_view reason, bool json) {
  std::string out;
  if (json) {
    cli::json::Writer w(out);
    begin_case(w, c);
    if (c.loan) w.field("loan", true);
    w.field("na", reason);
    w.end_object();
    out += '\n';
  } else {
    out = fmt::format("{:<10} {:<10} wait={:<8} size={:<8} {}n/a: {}\n", c.system,
                      mode_name(c.mode), c.wait, c.size, c.loan ? "loan " : "copy ", reason);
  }
  write_line(out);
}

void print_error(std::string_view message) {
  const std::string line = fmt::format("{}: {}\n", program_invocation_short_name, message);
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

void add_child_case_options(CLI::App& child, ChildCase& c) {
  child.add_option("--id", c.id)->required();
  child.add_option("--wait", c.wait);
  child.add_option("--size", c.size);
  child.add_option("--count", c.count);
  child.add_option("--cpu", c.cpu);
  child.add_flag("--loan", c.loan);
}

std::vector<std::string> child_case_args(const ChildCase& c) {
  std::vector<std::string> args{
      "--id",   std::to_string(c.id),   "--wait",  c.wait,
      "--size", std::to_string(c.size), "--count", std::to_string(c.count),
      "--cpu",  std::to_string(c.cpu)};
  if (c.loan) args.emplace_back("--loan");
  return args;
}

}  // namespace shmbus::perf
