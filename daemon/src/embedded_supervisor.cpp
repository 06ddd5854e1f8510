#include "shmbus/embedded_supervisor.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "config.hpp"
#include "layout/naming.hpp"
#include "supervisor.hpp"

namespace shmbus {
namespace detail {

class SupervisorThread {
 public:
  explicit SupervisorThread(daemon::SupervisorOptions options)
      : supervisor_(std::move(options)), thread_([this] { supervisor_.run(); }) {}
  SupervisorThread(const SupervisorThread&) = delete;
  SupervisorThread& operator=(const SupervisorThread&) = delete;
  ~SupervisorThread() {
    supervisor_.stop();
    thread_.join();
  }

  [[nodiscard]] const std::string& bus() const noexcept { return supervisor_.bus(); }

 private:
  daemon::Supervisor supervisor_;  // before thread_: constructed (socket bound) before it starts
  std::thread thread_;
};

}  // namespace detail

EmbeddedSupervisor::EmbeddedSupervisor(std::string bus, const std::filesystem::path& config_file) {
  daemon::SupervisorOptions options;
  options.bus = bus.empty() ? naming::default_bus() : std::move(bus);
  if (!config_file.empty()) options.config = daemon::load_config(config_file);
  thread_ = std::make_unique<detail::SupervisorThread>(std::move(options));
}

EmbeddedSupervisor::~EmbeddedSupervisor() = default;

const std::string& EmbeddedSupervisor::bus() const noexcept {
  return thread_->bus();
}

}  // namespace shmbus
