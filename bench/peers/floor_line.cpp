// The raw floors: one cache line in shared memory ping-ponged between two processes, either
// busy-polled (atomic) or slept on with a futex that the sender always wakes (futex). The line
// holds a turn counter and up to 56 payload bytes; the two sides strictly alternate, so a side
// writes the line only after reading the other's message.
#include <fmt/format.h>
#include <atomic>
#include <cstring>

#include "peer_system.hpp"
#include "shm_region.hpp"
#include "wait/futex.hpp"

namespace shmbus::peers {
namespace {

constexpr std::size_t kPayload = 56;

struct alignas(64) Line {
  std::atomic<std::uint32_t> turn;  // the futex word
  std::uint32_t size;
  std::byte data[kPayload];
};
static_assert(sizeof(Line) == 64);

struct Shared {
  Shared(const std::string& name, bool create) : region(name, 4096, create) {}
  Line& line() const { return *static_cast<Line*>(region.data()); }
  ShmRegion region;
};

// The main side writes odd turns (1, 3, ...), the other side even ones (2, 4, ...).
class LineSender final : public perf::Sender {
 public:
  LineSender(std::shared_ptr<Shared> shared, std::uint32_t first, bool wake)
      : shared_(std::move(shared)), next_(first), wake_(wake) {}
  bool send(std::span<const std::byte> message) override {
    Line& line = shared_->line();
    std::memmove(line.data, message.data(), message.size());
    line.size = static_cast<std::uint32_t>(message.size());
    // release: pairs with the receiver's acquire of turn: data and size are complete.
    line.turn.store(next_, std::memory_order_release);
    next_ += 2;
    if (wake_) wait::futex_wake(line.turn, 1);
    return true;
  }

 private:
  std::shared_ptr<Shared> shared_;
  std::uint32_t next_;
  bool wake_;
};

class LineReceiver final : public perf::Receiver {
 public:
  LineReceiver(std::shared_ptr<Shared> shared, std::uint32_t first, bool sleep)
      : shared_(std::move(shared)), want_(first), sleep_(sleep) {}
  perf::Received receive(std::span<const std::byte>& message,
                         std::chrono::nanoseconds slice) override {
    Line& line = shared_->line();
    // acquire: pairs with the sender's release of turn.
    bool got = line.turn.load(std::memory_order_acquire) == want_;
    if (!got && sleep_) {
      const std::uint64_t deadline =
          wait::monotonic_ns() + static_cast<std::uint64_t>(slice.count());
      for (;;) {
        const std::uint32_t seen = line.turn.load(std::memory_order_acquire);  // as above
        if (seen == want_) {
          got = true;
          break;
        }
        const std::uint64_t now = wait::monotonic_ns();
        if (now >= deadline) break;
        // The kernel compares turn with `seen` atomically with going to sleep: a store made
        // after our load either changes the word (no sleep) or finds us queued (woken).
        wait::futex_wait(line.turn, seen, std::chrono::nanoseconds(deadline - now));
      }
    } else if (!got) {
      got = perf::spin_for(slice, [&] {
        return line.turn.load(std::memory_order_acquire) == want_;  // as above
      });
    }
    if (!got) return perf::Received::empty;
    want_ += 2;
    message = std::span<const std::byte>(line.data, line.size);
    return perf::Received::ok;
  }

 private:
  std::shared_ptr<Shared> shared_;
  std::uint32_t want_;
  bool sleep_;
};

class LineSystem final : public PeerSystem {
 public:
  explicit LineSystem(bool futex) : futex_(futex) {}
  std::string unsupported(const perf::Case& c) const override {
    if (c.mode != perf::Mode::latency) return "a ping-ponged line is a latency floor only";
    if (c.size > kPayload) return fmt::format("one cache line carries {} bytes at most", kPayload);
    if (c.loan) return "no loan: the line is written in place already";
    if (futex_ && c.wait != "block") return "the futex floor blocks (see atomic for spin)";
    if (!futex_ && c.wait != "spin") return "the atomic floor busy-polls (see futex for block)";
    return {};
  }
  Endpoints open_main(const perf::Case&, std::uint64_t id) override {
    auto shared = std::make_shared<Shared>(name(id), true);
    return {std::make_unique<LineSender>(shared, 1, futex_),
            std::make_unique<LineReceiver>(shared, 2, futex_)};
  }
  Endpoints open_child(const perf::Case&, std::uint64_t id) override {
    auto shared = std::make_shared<Shared>(name(id), false);
    return {std::make_unique<LineSender>(shared, 2, futex_),
            std::make_unique<LineReceiver>(shared, 1, futex_)};
  }

 private:
  static std::string name(std::uint64_t id) { return fmt::format("/shmbus-peer.line.{}", id); }
  bool futex_;
};

}  // namespace

std::unique_ptr<PeerSystem> make_line(bool futex) {
  return std::make_unique<LineSystem>(futex);
}

}  // namespace shmbus::peers
