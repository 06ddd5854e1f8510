// The measurement harness shared by `shmbus perf` and the peers (bench/peers): options, CPU
// pinning, the other-side process, the result line. Every system is measured by the same drivers
// (perf_driver.hpp) with the same payloads, pinning and histogram, so figures compare directly.
#pragma once

#include <sys/types.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shmbus::perf {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
// A case the system cannot run (a size above a queue's message limit, ...): reported, not failed.
inline constexpr int kExitUnsupported = 3;

// -1: leave the scheduler free; kAutoCpu: pick from the CPUs this process may run on.
inline constexpr int kNoCpu = -1;
inline constexpr int kAutoCpu = -2;

// Every payload starts with the message index; fan-out adds the send time (CLOCK_MONOTONIC, ns)
// because its latency is measured on the receiving side. The rest of the payload is not touched
// by the sender in loan mode, as a zero-copy producer builds its data in place.
inline constexpr std::size_t kIndexBytes = 8;
inline constexpr std::size_t kStampedBytes = 16;
inline constexpr std::uint64_t kReady = ~std::uint64_t{0};
inline constexpr std::uint64_t kStop = kReady - 1;

// How long a driver waits for the other side before checking that it is still alive.
inline constexpr std::chrono::nanoseconds kPollSlice = std::chrono::milliseconds(100);
// Upper bound on a single round trip or message gap before the run is declared stuck.
inline constexpr std::uint64_t kStuckNs = 10'000'000'000ULL;

enum class Mode { latency, throughput, fanout, claim };
const char* mode_name(Mode mode) noexcept;

struct Options {
  std::string sizes = "64";  // "8,64,4K" or "8..4M" (doubling) or "8..4M:4" (times 4)
  std::uint64_t count = 100'000;
  std::uint64_t warmup = 1'000;
  // Caps count per size so that large payloads finish in bounded time: count <= max_bytes / size.
  std::uint64_t max_bytes = 1ULL << 31;
  std::string wait = "spin";
  bool loan = false;
  int cpu_main = kAutoCpu;             // ping, the receiver (throughput) or the publisher (fan-out)
  int cpu_child = kAutoCpu;            // the other side(s)
  unsigned subscribers = 4;            // fan-out
  unsigned publishers = 1;             // claim
  std::uint64_t interval_ns = 20'000;  // fan-out: publish period
  bool json = false;
};

// What one measurement is: printed as the first fields of its result.
struct Case {
  std::string system;
  Mode mode = Mode::latency;
  std::string wait;
  std::uint32_t size = 64;
  bool loan = false;
};

// Registers the options common to every mode (sizes, count, wait, loan, pinning, json).
void add_options(CLI::App& command, Options& options, std::vector<std::string> waits);

// Slots per ring for a payload size, the same for shmbus, the bare ring and BM_Memcpy's
// reference: up to 1024, within ring_budget_bytes(), at least 2.
std::uint32_t slot_count_for(std::uint32_t size);
// A quarter of the last-level cache as /sys describes it (8 MiB where that is not known). A ring
// much larger than that is written into memory the cache has already given up, while a pool that
// hands out the chunk freed last (iceoryx) copies into warm memory; a ring the size of the whole
// cache (8 slots of 4 MiB here) streamed at half the copy rate of a 2-slot one.
std::uint64_t ring_budget_bytes();

// Parses --sizes; throws std::invalid_argument with a message on a bad list.
std::vector<std::uint32_t> parse_sizes(std::string_view text);
// The message count for one size: options.count capped by max_bytes (at least 100).
std::uint64_t count_for(const Options& options, std::uint32_t size);

// Resolves kAutoCpu to the first two CPUs this process may use (the measuring side alone when
// only one is allowed), so that the two sides never share a core when they need not.
void resolve_cpus(Options& options);
std::vector<int> allowed_cpus();
// Pins the calling process; throws std::runtime_error when the CPU cannot be used.
void pin_to(int cpu);

// Another process: `path` (or this executable when empty) with `args`. Killed if this process
// dies (PR_SET_PDEATHSIG), killed and reaped when destroyed.
class ChildProcess {
 public:
  ChildProcess() = default;
  // `log`: a file that takes its stdout and stderr (empty: inherit ours).
  explicit ChildProcess(std::vector<std::string> args, std::string path = {}, std::string log = {});
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  // True while it runs; once it has exited, its status is kept for wait().
  bool alive();
  // Its exit code (128 + signal if killed).
  int wait();
  // Sends `signal` and waits for it to exit.
  int stop(int signal);
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = 0;
  int status_ = 0;
};

// What the measuring process tells the other side of every run (`shmbus perf child` and the
// peers' `child` add their own: bus and role, or system and mode).
struct ChildCase {
  std::uint64_t id = 0;  // names the run's shared resources
  std::string wait = "spin";
  std::uint32_t size = 64;
  std::uint64_t count = 0;
  int cpu = kNoCpu;
  bool loan = false;
};
// Registers --id (required), --wait, --size, --count, --cpu and --loan on a hidden child command.
void add_child_case_options(CLI::App& child, ChildCase& c);
// The same fields as command-line arguments, for spawning the child.
std::vector<std::string> child_case_args(const ChildCase& c);

// The figures of one case.
struct Result {
  std::uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, p9999 = 0, max = 0;
  double msgs_per_s = 0;
  double gb_per_s = 0;
  std::uint64_t samples = 0;
  // Fan-out only: which subscriber (-1: the publisher's own cost per publish) of how many.
  int subscriber = -1;
  unsigned subscribers = 0;
  unsigned publishers = 0;  // claim only
};

class LatencyHistogram;
Result latency_result(const LatencyHistogram& histogram);

// One line per case: a JSON object {"system","mode","wait","size","p50_ns",...,"samples"} (fan-out
// adds "subscriber","subscribers"; a zero-copy case says "loan":true) or a table line.
void print_result(const Case& c, const Result& r, bool json);
// A case the system cannot run: {"system",...,"size","na":"reason"} or a table line saying why.
void print_unsupported(const Case& c, std::string_view reason, bool json);

// Prints "<program>: <message>" on stderr.
void print_error(std::string_view message);

}  // namespace shmbus::perf
