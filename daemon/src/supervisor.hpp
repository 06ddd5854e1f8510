// The supervisor of one bus: binds the control socket, creates or adopts the bus's segments, serves
// clients and reclaims what they leave behind. shmbusd runs it on its main thread,
// EmbeddedSupervisor on a thread of its own.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "client_registry.hpp"
#include "config.hpp"
#include "control_segment.hpp"
#include "control_server.hpp"
#include "group_registry.hpp"
#include "request_handler.hpp"
#include "stop_signals.hpp"
#include "topic_registry.hpp"

namespace shmbus::daemon {

struct SupervisorOptions {
  std::string bus;
  Config config;
  bool reset = false;           // remove the bus's segments, whatever state they are in
  bool handle_signals = false;  // SIGINT/SIGTERM stop the supervisor (the daemon, not a library)
};

class Supervisor {
 public:
  // Returns once the socket is bound and the segments are ready. Throws shmbus::Error:
  // daemon_running, invalid_name, corrupted_segment / version_mismatch (unusable control segment
  // and no reset), io_error, limit_reached / invalid_argument (configured topics).
  explicit Supervisor(SupervisorOptions options);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Serves until stop() or a signal, then removes the bus's segments.
  void run();
  // Safe from any thread, before or during run().
  void stop();

  [[nodiscard]] const std::string& bus() const noexcept { return options_.bus; }

 private:
  void open_segments();
  void start_orphan_checks();
  void schedule_reclaims();
  void schedule_ack_sweep();
  void shutdown();
  void remove_segments() noexcept;

  SupervisorOptions options_;
  // Declared first so that it is destroyed last: the members below hold handles into it.
  boost::asio::io_context io_;
  std::unique_ptr<ControlServer> server_;
  std::optional<ControlSegment> control_;
  std::unique_ptr<TopicRegistry> topics_;
  std::unique_ptr<ClientRegistry> clients_;
  std::unique_ptr<GroupRegistry> groups_;
  std::unique_ptr<RequestHandler> handler_;
  boost::asio::steady_timer orphan_timer_;
  boost::asio::steady_timer reclaim_timer_;
  boost::asio::steady_timer ack_timer_;
  std::optional<StopSignals> stop_signals_;  // with handle_signals only
  bool fresh_ = false;  // this supervisor created the segments (not adopted them)
  bool reclaim_scheduled_ = false;
  bool ack_sweep_scheduled_ = false;
  bool cleaned_up_ = false;
};

}  // namespace shmbus::daemon
