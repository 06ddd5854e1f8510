// shmbus_perf_peers: the floors and the peers measured by the same harness as `shmbus perf`
// (same loops, payloads, pinning, histogram and result line):
//   shmbus_perf_peers latency|throughput --system ring|atomic|futex|uds|posix_mq|boost_mq|
//                                                 zeromq|iceoryx [--sizes ...] [--wait ...]
// The other side of a measurement is this executable again (`child`, hidden).
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "latency_histogram.hpp"
#include "peer_system.hpp"

namespace shmbus::peers {

void throw_errno(const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
}

namespace {

const std::vector<std::string> kSystems{"ring",     "atomic",   "futex",  "uds",
                                        "posix_mq", "boost_mq", "zeromq", "iceoryx"};

std::unique_ptr<PeerSystem> make_system(const std::string& name) {
  if (name == "ring") return make_ring();
  if (name == "atomic") return make_line(false);
  if (name == "futex") return make_line(true);
  if (name == "uds") return make_unix_socket();
  if (name == "posix_mq") return make_posix_mq();
  if (name == "boost_mq") return make_boost_mq();
  if (name == "zeromq") return make_zeromq();
  if (name == "iceoryx") return make_iceoryx();
  throw std::invalid_argument("unknown system " + name);
}

struct ChildOptions : perf::ChildCase {
  std::string system;
  std::string mode;
};

perf::ChildProcess spawn(const perf::Case& c, std::uint64_t id, std::uint64_t count, int cpu) {
  std::vector<std::string> args{"shmbus_perf_peers",    "child", "--system", c.system, "--mode",
                                perf::mode_name(c.mode)};
  const auto common = perf::child_case_args({id, c.wait, c.size, count, cpu, c.loan});
  args.insert(args.end(), common.begin(), common.end());
  return perf::ChildProcess(std::move(args));
}

bool run_case(PeerSystem& system, const perf::Case& c, const perf::Options& options,
              std::uint64_t id) {
  const std::uint64_t count = perf::count_for(options, c.size);
  Endpoints e = system.open_main(c, id);
  auto child = spawn(c, id, count, options.cpu_child);
  perf::Result result;
  if (c.mode == perf::Mode::latency) {
    if (!perf::await_ready(*e.rx, {&child})) return false;
    auto histogram = std::make_unique<perf::LatencyHistogram>();
    if (!perf::run_ping(*e.tx, *e.rx, c.size, std::min(options.warmup, count), count, c.loan,
                        *histogram, {&child})) {
      return false;
    }
    perf::send_stop(*e.tx, c.size, c.loan);
    result = perf::latency_result(*histogram);
  } else if (!perf::run_drain(*e.rx, c.size, count, result, {&child})) {
    return false;
  }
  if (const int code = child.wait(); code != perf::kExitOk) {
    perf::print_error(fmt::format("{}: the other process exited with code {}", c.system, code));
    return false;
  }
  perf::print_result(c, result, options.json);
  return true;
}

int run_cases(PeerSystem& system, const std::string& name, perf::Mode mode,
              const std::vector<std::uint32_t>& sizes, const perf::Options& options) {
  int case_number = 0;
  for (const std::uint32_t size : sizes) {
    const perf::Case c{name, mode, options.wait, size, options.loan};
    if (const std::string why = system.unsupported(c); !why.empty()) {
      perf::print_unsupported(c, why, options.json);
      continue;
    }
    // Names of queues, segments and sockets: unique per run and per case.
    const auto id =
        static_cast<std::uint64_t>(getpid()) * 1000 + static_cast<unsigned>(case_number++);
    try {
      if (!run_case(system, c, options, id)) return perf::kExitFailure;
    } catch (const std::exception& e) {
      perf::print_error(fmt::format("{} size {}: {}", name, size, e.what()));
      return perf::kExitFailure;
    }
  }
  return perf::kExitOk;
}

int run(const std::string& name, perf::Mode mode, perf::Options options) {
  const auto sizes = perf::parse_sizes(options.sizes);
  perf::resolve_cpus(options);
  auto system = make_system(name);
  perf::pin_to(options.cpu_main);
  system->start(sizes, mode);
  if (!system->runs_in_subprocess()) {
    const int code = run_cases(*system, name, mode, sizes, options);
    system->stop();
    return code;
  }
  std::fflush(nullptr);
  const pid_t runner = fork();
  if (runner < 0) throw_errno("fork");
  if (runner == 0) {
    int code = perf::kExitFailure;
    try {
      code = run_cases(*system, name, mode, sizes, options);
    } catch (const std::exception& e) {
      perf::print_error(e.what());
    }
    // exit, not return: static destructors deregister the iceoryx runtime from RouDi, while the
    // system object on our stack (a copy of the parent's, owning RouDi) is not destroyed here.
    std::exit(code);
  }
  int status = 0;
  while (waitpid(runner, &status, 0) < 0 && errno == EINTR) {
  }
  system->stop();
  return WIFEXITED(status) ? WEXITSTATUS(status) : perf::kExitFailure;
}

int run_child(const ChildOptions& o) {
  perf::pin_to(o.cpu);
  const perf::Mode mode = o.mode == "latency" ? perf::Mode::latency : perf::Mode::throughput;
  const perf::Case c{o.system, mode, o.wait, o.size, o.loan};
  auto system = make_system(o.system);
  Endpoints e = system->open_child(c, o.id);
  if (mode == perf::Mode::latency) {
    // Only now that this side's receiver exists can no ping be missed.
    if (!perf::send_ready(*e.tx, o.size)) return perf::kExitFailure;
    return perf::run_pong(*e.rx, *e.tx, o.loan);
  }
  return perf::run_stream(*e.tx, o.size, o.count, o.loan);
}

}  // namespace
}  // namespace shmbus::peers

int main(int argc, char** argv) {
  using namespace shmbus;
  CLI::App app{"shmbus_perf_peers: the floors and peers measured by shmbus perf's harness",
               "shmbus_perf_peers"};
  app.require_subcommand(1);
  struct ModeCommand {
    perf::Mode mode;
    CLI::App* command;
    std::shared_ptr<perf::Options> options;
    std::shared_ptr<std::string> system;
  };
  std::vector<ModeCommand> modes;
  for (const perf::Mode mode : {perf::Mode::latency, perf::Mode::throughput}) {
    ModeCommand m{mode, app.add_subcommand(perf::mode_name(mode)),
                  std::make_shared<perf::Options>(), std::make_shared<std::string>()};
    if (mode == perf::Mode::throughput) m.options->count = 1'000'000;
    m.command->add_option("--system", *m.system, "The system to measure")
        ->required()
        ->check(CLI::IsMember(peers::kSystems));
    perf::add_options(*m.command, *m.options, {"spin", "block"});
    modes.push_back(m);
  }
  auto child_options = std::make_shared<peers::ChildOptions>();
  auto* child = app.add_subcommand("child", "internal: the other side of a measurement");
  child->group("");
  child->add_option("--system", child_options->system)->required();
  child->add_option("--mode", child_options->mode)->required();
  perf::add_child_case_options(*child, *child_options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (child->parsed()) return peers::run_child(*child_options);
    for (const auto& m : modes) {
      if (m.command->parsed()) return peers::run(*m.system, m.mode, *m.options);
    }
  } catch (const std::invalid_argument& e) {
    perf::print_error(e.what());
    return perf::kExitUsage;
  } catch (const std::exception& e) {
    perf::print_error(e.what());
    return perf::kExitFailure;
  }
  return perf::kExitUsage;
}
