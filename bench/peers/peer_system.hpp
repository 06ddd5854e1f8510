// A system measured side by side with shmbus: it makes the endpoints of one case on either side;
// the shared harness (tools/harness) runs the same loops over them for every system.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "perf_driver.hpp"
#include "perf_harness.hpp"

namespace shmbus::peers {

struct Endpoints {
  std::unique_ptr<perf::Sender> tx;
  std::unique_ptr<perf::Receiver> rx;
};

class PeerSystem {
 public:
  virtual ~PeerSystem() = default;
  // Why this system cannot run the case (printed as "n/a"), or empty when it can.
  [[nodiscard]] virtual std::string unsupported(const perf::Case& c) const = 0;
  // Once per run, before any case, in the measuring process (iceoryx starts RouDi here).
  virtual void start(const std::vector<std::uint32_t>& sizes, perf::Mode mode) {
    (void)sizes;
    (void)mode;
  }
  virtual void stop() {}
  // True when the cases must run in a process of their own, started after start() and ended
  // before stop() (iceoryx: RouDi signals the processes still registered when it stops).
  [[nodiscard]] virtual bool runs_in_subprocess() const { return false; }
  // The measuring side, made before the other side starts, so that nothing it sends is lost.
  // Latency: tx = ping, rx = pong. Throughput: rx = stream.
  virtual Endpoints open_main(const perf::Case& c, std::uint64_t id) = 0;
  // The other side. Latency: rx = ping, tx = pong. Throughput: tx = stream.
  virtual Endpoints open_child(const perf::Case& c, std::uint64_t id) = 0;
};

// A system that talks over two named one-way queues, "a" (main -> child, latency only) and "b"
// (child -> main): the main side creates them, the child opens them.
class QueuePairSystem : public PeerSystem {
 public:
  Endpoints open_main(const perf::Case& c, std::uint64_t id) final {
    return open_queues(c, id, true, c.mode == perf::Mode::latency ? "a" : nullptr, "b");
  }
  Endpoints open_child(const perf::Case& c, std::uint64_t id) final {
    return open_queues(c, id, false, "b", c.mode == perf::Mode::latency ? "a" : nullptr);
  }

 protected:
  // `out`: the queue this side sends on; `in`: the one it receives from (null: none).
  virtual Endpoints open_queues(const perf::Case& c, std::uint64_t id, bool create, const char* out,
                                const char* in) = 0;
};

// The floors and the peers; `name` as given to --system.
std::unique_ptr<PeerSystem> make_ring();            // ring
std::unique_ptr<PeerSystem> make_line(bool futex);  // atomic, futex
std::unique_ptr<PeerSystem> make_unix_socket();     // uds
std::unique_ptr<PeerSystem> make_posix_mq();        // posix_mq
std::unique_ptr<PeerSystem> make_boost_mq();        // boost_mq
std::unique_ptr<PeerSystem> make_zeromq();          // zeromq
std::unique_ptr<PeerSystem> make_iceoryx();         // iceoryx

// Throws std::runtime_error with `what` and strerror(errno).
[[noreturn]] void throw_errno(const std::string& what);

}  // namespace shmbus::peers
