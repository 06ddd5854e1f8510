// The supervisor of shmbusd on a thread of this process, for tests, single-binary programs and
// the quick start. Link shmbus::embedded.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

namespace shmbus {

namespace detail {
class SupervisorThread;
}

class EmbeddedSupervisor {
 public:
  // Serves `bus` (empty: $SHMBUS_BUS, else "default") with the configuration in `config_file`
  // (empty: defaults). Throws shmbus::Error if another daemon serves the bus already.
  explicit EmbeddedSupervisor(std::string bus = {}, const std::filesystem::path& config_file = {});
  EmbeddedSupervisor(const EmbeddedSupervisor&) = delete;
  EmbeddedSupervisor& operator=(const EmbeddedSupervisor&) = delete;
  // Stops the supervisor and removes the bus's segments, as shmbusd does on SIGTERM.
  ~EmbeddedSupervisor();

  [[nodiscard]] const std::string& bus() const noexcept;

 private:
  std::unique_ptr<detail::SupervisorThread> thread_;
};

}  // namespace shmbus
