// The measurement loops, written once against two small interfaces that every measured system
// (shmbus, the floors, the peers) implements. One virtual call per message costs a few ns, the
// same for every system.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include "latency_histogram.hpp"
#include "perf_harness.hpp"
#include "wait/futex.hpp"

namespace shmbus::perf {

class Sender {
 public:
  virtual ~Sender() = default;
  // Copy: the transport copies `message` (the caller built it in its own buffer). False on error,
  // printed by the sender.
  virtual bool send(std::span<const std::byte> message) = 0;
  // Zero copy: memory for `size` bytes in the transport, written in place and then committed.
  // Transports without a loan return nullptr.
  virtual std::byte* loan(std::size_t size) {
    (void)size;
    return nullptr;
  }
  virtual bool commit(std::size_t size) {
    (void)size;
    return false;
  }
};

enum class Received { ok, empty, error };

class Receiver {
 public:
  virtual ~Receiver() = default;
  // Waits at most `slice` (spinning or sleeping, as the receiver was made) for the next message;
  // `message` stays valid until the next call.
  virtual Received receive(std::span<const std::byte>& message, std::chrono::nanoseconds slice) = 0;
};

// Polls `try_once` (true: a message, or an error it reported) until it succeeds or `slice` is over;
// the clock is read every 64 polls to keep polls cheap.
template <typename TryOnce>
bool spin_for(std::chrono::nanoseconds slice, TryOnce&& try_once) {
  if (try_once()) return true;
  const std::uint64_t deadline = wait::monotonic_ns() + static_cast<std::uint64_t>(slice.count());
  for (std::uint32_t round = 1;; ++round) {
    wait::cpu_relax();
    if (try_once()) return true;
    if ((round & 63U) == 0 && wait::monotonic_ns() >= deadline) return false;
  }
}

// The other side of a run: a child process to watch while waiting for it.
struct Peer {
  ChildProcess* child = nullptr;
};

// Waits for the first message of the other side, whose index is kReady. False (printed) if it
// exits or stays silent for kStuckNs.
bool await_ready(Receiver& rx, Peer peer);
// The ready message has the data messages' size, so every size check holds for it too.
bool send_ready(Sender& tx, std::uint32_t size);
bool send_stop(Sender& tx, std::uint32_t size, bool loan);

// Latency: `count` + `warmup` round trips, one at a time; records round trip / 2.
bool run_ping(Sender& tx, Receiver& rx, std::uint32_t size, std::uint64_t warmup,
              std::uint64_t count, bool loan, LatencyHistogram& histogram, Peer peer);
// Echoes every message until kStop: copy mode sends the whole payload back, loan mode writes the
// index in place. Returns an exit code.
int run_pong(Receiver& rx, Sender& tx, bool loan);

// Throughput: sends the ready message, then `count` messages as fast as the transport takes them.
int run_stream(Sender& tx, std::uint32_t size, std::uint64_t count, bool loan);
// Receives `count` messages, checking every index and size; timed from the ready message.
bool run_drain(Receiver& rx, std::uint32_t size, std::uint64_t count, Result& result, Peer peer);

// Fan-out publisher: `count` messages stamped with their send time, one every `interval_ns`;
// records the cost of each publish in `publish_cost`.
bool run_fanout_publish(Sender& tx, std::uint32_t size, std::uint64_t count, bool loan,
                        std::uint64_t interval_ns, LatencyHistogram& publish_cost);
// Fan-out subscriber: records now - send time for every message until kStop.
int run_fanout_receive(Receiver& rx, LatencyHistogram& latency);

}  // namespace shmbus::perf
