#include "supervisor.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include "layout/naming.hpp"
#include "shmbus/error.hpp"
#include "shmbus/version.hpp"

namespace shmbus::daemon {
namespace {

using namespace std::chrono_literals;
// How often orphans (clients of a previous daemon) are checked for a dead process.
constexpr auto kOrphanCheckInterval = 100ms;
// How soon a publisher reclaim that found a possibly live claimer is retried.
constexpr auto kReclaimRetryInterval = 1ms;

}  // namespace

Supervisor::Supervisor(SupervisorOptions options)
    : options_(std::move(options)), orphan_timer_(io_), reclaim_timer_(io_), ack_timer_(io_) {
  if (auto why = naming::check_bus_name(options_.bus)) throw Error(ErrorCode::invalid_name, *why);
  // Before the socket listens: a client may connect and signal us the moment it does, and a
  // SIGTERM that came before the signals were blocked would kill the daemon without its clean
  // shutdown. The signal is read from io_.run(), once everything below is up.
  if (options_.handle_signals) {
    stop_signals_.emplace(io_, [this](int signal) {
      spdlog::info("signal {} received: shutting down", signal);
      stop();
    });
  }
  // The socket first: whoever binds it owns the bus, so two daemons never race on the segments.
  server_ = std::make_unique<ControlServer>(io_, options_.bus);
  try {
    open_segments();
    topics_->create_configured();
    groups_ = std::make_unique<GroupRegistry>(*topics_);
    groups_->declare_configured(options_.config);
  } catch (...) {
    // A fresh bus we could not finish is removed; an adopted one is left for another attempt.
    if (fresh_) {
      remove_segments();
    } else if (control_) {
      control_->release();
    }
    throw;
  }
  handler_ = std::make_unique<RequestHandler>(
      *control_, *topics_, *clients_, *groups_, [this] { schedule_reclaims(); },
      [this] { schedule_ack_sweep(); });
  server_->listen(*handler_);
  if (clients_->has_pending_reclaims()) schedule_reclaims();
  schedule_ack_sweep();
  start_orphan_checks();
  spdlog::info("shmbusd {} serving bus '{}' (pid {}, epoch {}, control segment {})", kVersionString,
               options_.bus, ::getpid(), control_->epoch(), control_->name());
}

Supervisor::~Supervisor() {
  shutdown();
}

void Supervisor::open_segments() {
  const std::string& bus = options_.bus;
  const Config& config = options_.config;
  const std::string control_name = naming::control_segment_name(bus);
  if (options_.reset) {
    const bool had_control = shm::Segment::remove(control_name);
    const std::size_t topics = TopicRegistry::remove_stale_segments(bus);
    if (had_control || topics != 0) {
      spdlog::warn("--reset: removed {} control and {} topic segment(s) of bus '{}'",
                   had_control ? 1 : 0, topics, bus);
    }
  }
  if (shm::Segment::exists(control_name)) {
    try {
      control_.emplace(ControlSegment::open_existing(bus));
    } catch (const Error& e) {
      throw Error(e.code(), fmt::format("the control segment '{}' of bus '{}' is unusable: {}. "
                                        "Start shmbusd with --reset to remove the bus's segments "
                                        "and start afresh (attached clients lose the bus)",
                                        control_name, bus, e.what()));
    }
    const std::int32_t previous = control_->header().daemon_pid.load(std::memory_order_relaxed);
    control_->take_over(::getpid());
    spdlog::warn("adopting the segments of bus '{}' left by daemon pid {} (epoch now {})", bus,
                 previous, control_->epoch());
    if (control_->max_topics() != config.max_topics ||
        control_->max_clients() != config.max_clients) {
      // The tables' sizes are fixed in the segment; changing them takes a restart with --reset.
      spdlog::warn(
          "bus '{}' keeps its {} topic and {} client slots; the config's {} and {} apply "
          "after a restart with --reset",
          bus, control_->max_topics(), control_->max_clients(), config.max_topics,
          config.max_clients);
    }
    topics_ = std::make_unique<TopicRegistry>(bus, *control_, config);
    clients_ = std::make_unique<ClientRegistry>(*control_, *topics_);
    try {
      topics_->adopt();
    } catch (const Error& e) {
      throw Error(e.code(), fmt::format("cannot adopt bus '{}': {}. Start shmbusd with --reset to "
                                        "remove the bus's segments and start afresh",
                                        bus, e.what()));
    }
    clients_->adopt();
    return;
  }
  // No control segment, so no topic segment of the bus can be in use by a directory reader.
  if (const std::size_t stale = TopicRegistry::remove_stale_segments(bus)) {
    spdlog::warn("removed {} stale topic segment(s) of bus '{}'", stale, bus);
  }
  control_.emplace(
      ControlSegment::create(bus, config.max_topics, config.max_clients, config.permissions));
  fresh_ = true;
  control_->take_over(::getpid());
  topics_ = std::make_unique<TopicRegistry>(bus, *control_, config);
  clients_ = std::make_unique<ClientRegistry>(*control_, *topics_);
}

void Supervisor::start_orphan_checks() {
  if (!clients_->has_orphans()) return;
  orphan_timer_.expires_after(kOrphanCheckInterval);
  orphan_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    clients_->reap_dead_orphans();
    if (clients_->has_pending_reclaims()) schedule_reclaims();
    start_orphan_checks();
  });
}

void Supervisor::schedule_reclaims() {
  if (reclaim_scheduled_) return;
  reclaim_scheduled_ = true;
  reclaim_timer_.expires_after(kReclaimRetryInterval);
  reclaim_timer_.async_wait([this](const boost::system::error_code& ec) {
    reclaim_scheduled_ = false;
    if (ec) return;
    if (clients_->run_pending_reclaims()) schedule_reclaims();
  });
}

// Runs while some group has an ack timeout, as often as the shortest one needs.
void Supervisor::schedule_ack_sweep() {
  if (ack_sweep_scheduled_) return;
  const auto interval = groups_->sweep_ack_timeouts();
  if (!interval) return;
  ack_sweep_scheduled_ = true;
  ack_timer_.expires_after(*interval);
  ack_timer_.async_wait([this](const boost::system::error_code& ec) {
    ack_sweep_scheduled_ = false;
    if (ec) return;
    schedule_ack_sweep();
  });
}

void Supervisor::run() {
  try {
    io_.run();
  } catch (const std::exception& e) {
    spdlog::critical("the supervisor of bus '{}' failed: {}", options_.bus, e.what());
  }
  shutdown();
}

void Supervisor::stop() {
  boost::asio::post(io_, [this] {
    server_->close();
    orphan_timer_.cancel();
    reclaim_timer_.cancel();
    ack_timer_.cancel();
    if (stop_signals_) stop_signals_->cancel();
    io_.stop();
  });
}

void Supervisor::shutdown() {
  if (cleaned_up_) return;
  cleaned_up_ = true;
  if (server_) server_->close();
  remove_segments();
  spdlog::info("bus '{}' shut down; its segments are removed", options_.bus);
}

void Supervisor::remove_segments() noexcept {
  if (control_) control_->release();
  if (topics_) {
    topics_->remove_segments();
  } else {
    TopicRegistry::remove_stale_segments(options_.bus);
  }
  shm::Segment::remove(naming::control_segment_name(options_.bus));
}

}  // namespace shmbus::daemon
