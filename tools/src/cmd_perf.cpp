// `shmbus perf`: latency, throughput, fan-out and multi-publisher claims between real processes on
// a running daemon's bus. The measuring process re-executes itself (/proc/self/exe) as the other
// side (`perf child`, hidden), so both ends run the same build. The loops and the result format are
// the shared harness's (tools/harness), which the peers in bench/ use too.
#include <memory>
#include <stdexcept>

#include "commands.hpp"
#include "common.hpp"
#include "perf_harness.hpp"
#include "perf_shmbus.hpp"

namespace shmbus::cli {
namespace {

struct ModeCommand {
  perf::Mode mode;
  CLI::App* command;
  std::shared_ptr<perf::Options> options;
  std::shared_ptr<std::string> bus;
};

ModeCommand add_mode(CLI::App& perf_app, perf::Mode mode, const char* help) {
  ModeCommand m{mode, perf_app.add_subcommand(perf::mode_name(mode), help),
                std::make_shared<perf::Options>(), std::make_shared<std::string>()};
  m.options->wait = "adaptive";
  if (mode != perf::Mode::latency) m.options->count = 1'000'000;
  if (mode == perf::Mode::fanout) m.options->count = 20'000;
  add_bus_option(*m.command, *m.bus);
  perf::add_options(*m.command, *m.options, {"spin", "adaptive", "block"});
  if (mode == perf::Mode::fanout) {
    m.command->add_option("--subscribers", m.options->subscribers, "Subscriber processes")
        ->capture_default_str()
        ->check(CLI::Range(1U, 64U));
    m.command->add_option("--interval", m.options->interval_ns, "Publish period in ns")
        ->capture_default_str();
  }
  if (mode == perf::Mode::claim) {
    m.command->add_option("--publishers", m.options->publishers, "Publisher processes")
        ->capture_default_str()
        ->check(CLI::Range(1U, 64U));
  }
  return m;
}

}  // namespace

Command add_perf(CLI::App& app) {
  auto* perf_app =
      app.add_subcommand("perf", "Measure latency and throughput between real processes");
  perf_app->require_subcommand(1);
  const std::vector<ModeCommand> modes{
      add_mode(*perf_app, perf::Mode::latency,
               "Ping-pong over two topics; one-way latency = round trip / 2"),
      add_mode(*perf_app, perf::Mode::throughput,
               "One-way streaming from a child publisher; every index is checked"),
      add_mode(*perf_app, perf::Mode::fanout,
               "One publisher, K subscriber processes: latency per subscriber, publish cost"),
      add_mode(*perf_app, perf::Mode::claim,
               "P publisher processes claiming on one topic: aggregate claim rate")};

  auto child_options = std::make_shared<PerfChildOptions>();
  auto* child = perf_app->add_subcommand("child", "internal: the other side of a measurement");
  child->group("");  // hidden: started by the perf modes only
  child->add_option("--bus", child_options->bus)->required();
  child->add_option("--role", child_options->role)->required();
  perf::add_child_case_options(*child, *child_options);
  child->add_option("--index", child_options->index);
  child->add_option("--of", child_options->of);
  child->add_flag("--json", child_options->json);

  return [=]() {
    if (child->parsed()) return run_shmbus_child(*child_options);
    for (const auto& m : modes) {
      if (!m.command->parsed()) continue;
      try {
        return run_shmbus(m.mode, *m.options, *m.bus);
      } catch (const std::invalid_argument& e) {
        print_error(e.what());
        return kExitUsage;
      }
    }
    return kExitUsage;
  };
}

}  // namespace shmbus::cli
