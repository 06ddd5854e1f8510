// Eclipse iceoryx 2.0 (Debian's packages): untyped publisher/subscriber, zero copy through
// RouDi's memory pools. The harness starts iox-roudi with a pool configuration that fits the
// run's sizes and stops it afterwards. Lossless streaming: the publisher waits for a full
// subscriber queue (WAIT_FOR_CONSUMER / BLOCK_PRODUCER). Spin: take() in a loop; block: a WaitSet.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>

#include "iceoryx_hoofs/log/logmanager.hpp"
#include "iceoryx_posh/mepoo/chunk_header.hpp"
#include "iceoryx_posh/popo/untyped_publisher.hpp"
#include "iceoryx_posh/popo/untyped_subscriber.hpp"
#include "iceoryx_posh/popo/wait_set.hpp"
#include "iceoryx_posh/runtime/posh_runtime.hpp"
#include "peer_system.hpp"
#include "wait/futex.hpp"

namespace shmbus::peers {
namespace {

constexpr std::uint64_t kPoolBytes = 256ULL << 20;

// Chunks of one size in RouDi's pool: enough for a full subscriber queue in flight.
std::uint64_t chunks_for(std::uint32_t size) {
  return std::clamp<std::uint64_t>(kPoolBytes / size, 32, 512);
}
std::uint64_t queue_for(std::uint32_t size) {
  return std::min<std::uint64_t>(256, chunks_for(size) / 2 - 8);
}

void init_runtime() {
  static bool done = false;
  if (done) return;
  done = true;
  // iceoryx logs its discovery steps at debug level by default: keep stderr for our errors.
  iox::log::LogManager::GetLogManager().SetDefaultLogLevel(iox::log::LogLevel::kWarn);
  const std::string name = fmt::format("shmbus-peer-{}", getpid());
  iox::runtime::PoshRuntime::initRuntime(iox::RuntimeName_t(iox::cxx::TruncateToCapacity, name));
}

iox::capro::ServiceDescription service(std::uint64_t id, std::uint32_t size, const char* channel) {
  return {"shmbus-peer",
          iox::capro::IdString_t(iox::cxx::TruncateToCapacity, fmt::format("{}-{}", id, size)),
          iox::capro::IdString_t(iox::cxx::TruncateToCapacity, channel)};
}

// Bounded wait for RouDi's discovery to connect the two sides.
template <typename Ready>
void await_connection(Ready&& ready, const char* what) {
  const std::uint64_t deadline = wait::monotonic_ns() + perf::kStuckNs;
  while (!ready()) {
    if (wait::monotonic_ns() > deadline) throw std::runtime_error(fmt::format("iceoryx: {}", what));
    usleep(1000);
  }
}

class IoxSender final : public perf::Sender {
 public:
  IoxSender(std::uint64_t id, std::uint32_t size, const char* channel, bool wait_for_subscriber)
      : publisher_(service(id, size, channel), options()) {
    if (wait_for_subscriber) {
      await_connection([&] { return publisher_.hasSubscribers(); }, "no subscriber connected");
    }
  }
  bool send(std::span<const std::byte> message) override {
    std::byte* memory = loan(message.size());
    if (memory == nullptr) return false;
    std::memcpy(memory, message.data(), message.size());
    return commit(message.size());
  }
  std::byte* loan(std::size_t size) override {
    auto chunk = publisher_.loan(static_cast<std::uint32_t>(size), 64);
    if (chunk.has_error()) {
      perf::print_error(fmt::format("iceoryx loan of {} bytes failed (error {})", size,
                                    static_cast<int>(chunk.get_error())));
      return nullptr;
    }
    loaned_ = chunk.value();
    return static_cast<std::byte*>(loaned_);
  }
  bool commit(std::size_t) override {
    publisher_.publish(loaned_);
    return true;
  }

 private:
  static iox::popo::PublisherOptions options() {
    iox::popo::PublisherOptions o;
    o.historyCapacity = 1;  // the ready message survives a subscriber that connects late
    o.subscriberTooSlowPolicy = iox::popo::ConsumerTooSlowPolicy::WAIT_FOR_CONSUMER;
    return o;
  }
  iox::popo::UntypedPublisher publisher_;
  void* loaned_ = nullptr;
};

class IoxReceiver final : public perf::Receiver {
 public:
  IoxReceiver(std::uint64_t id, std::uint32_t size, const char* channel, bool spin)
      : subscriber_(service(id, size, channel), options(size)), spin_(spin) {
    if (!spin_) {
      waitset_.emplace();
      if (waitset_->attachState(subscriber_, iox::popo::SubscriberState::HAS_DATA).has_error()) {
        throw std::runtime_error("iceoryx: cannot attach the subscriber to a WaitSet");
      }
    }
  }
  IoxReceiver(const IoxReceiver&) = delete;
  IoxReceiver& operator=(const IoxReceiver&) = delete;
  ~IoxReceiver() override {
    release();
    if (waitset_) waitset_->detachState(subscriber_, iox::popo::SubscriberState::HAS_DATA);
  }
  void await_subscribed() {
    await_connection(
        [&] { return subscriber_.getSubscriptionState() == iox::SubscribeState::SUBSCRIBED; },
        "the subscription was not acknowledged");
  }
  perf::Received receive(std::span<const std::byte>& message,
                         std::chrono::nanoseconds slice) override {
    release();
    auto take = [&] {
      auto chunk = subscriber_.take();
      if (chunk.has_error()) return false;
      held_ = chunk.value();
      return true;
    };
    bool got = false;
    if (spin_) {
      got = perf::spin_for(slice, take);
    } else {
      got = take();
      if (!got) {
        waitset_->timedWait(iox::units::Duration::fromNanoseconds(slice.count()));
        got = take();
      }
    }
    if (!got) return perf::Received::empty;
    const auto* header = iox::mepoo::ChunkHeader::fromUserPayload(held_);
    message =
        std::span<const std::byte>(static_cast<const std::byte*>(held_), header->userPayloadSize());
    return perf::Received::ok;
  }

 private:
  static iox::popo::SubscriberOptions options(std::uint32_t size) {
    iox::popo::SubscriberOptions o;
    o.queueCapacity = queue_for(size);
    o.historyRequest = 1;
    o.queueFullPolicy = iox::popo::QueueFullPolicy::BLOCK_PRODUCER;
    return o;
  }
  void release() {
    if (held_ != nullptr) subscriber_.release(held_);
    held_ = nullptr;
  }
  iox::popo::UntypedSubscriber subscriber_;
  std::optional<iox::popo::WaitSet<>> waitset_;
  const void* held_ = nullptr;
  bool spin_;
};

class IceoryxSystem final : public PeerSystem {
 public:
  std::string unsupported(const perf::Case& c) const override {
    if (c.mode != perf::Mode::latency && c.mode != perf::Mode::throughput) return "not measured";
    return {};
  }
  bool runs_in_subprocess() const override { return true; }

  void start(const std::vector<std::uint32_t>& sizes, perf::Mode) override {
    config_ = fmt::format("/tmp/shmbus-peer.roudi.{}.toml", getpid());
    std::ofstream out(config_);
    out << "[general]\nversion = 1\n\n[[segment]]\n\n";
    std::vector<std::uint64_t> pools;
    for (const auto size : sizes) {
      // Chunk payloads are 64-byte aligned in our loans; the pool size must be a multiple of 8.
      pools.push_back((size + 64 + 7) / 8 * 8);
    }
    pools.push_back(64 + 8);  // a small pool for short messages
    std::sort(pools.begin(), pools.end());
    pools.erase(std::unique(pools.begin(), pools.end()), pools.end());
    for (const auto pool : pools) {
      out << fmt::format("[[segment.mempool]]\nsize = {}\ncount = {}\n\n", pool,
                         chunks_for(static_cast<std::uint32_t>(pool)));
    }
    out.close();
    // RouDi's log goes to a file of its own: its start-up banner is not a result.
    roudi_ = perf::ChildProcess({"iox-roudi", "-c", config_, "-l", "warning", "-m", "off"},
                                "/usr/bin/iox-roudi", log_path());
  }

  void stop() override {
    roudi_.stop(SIGTERM);
    if (!config_.empty()) std::remove(config_.c_str());
  }

  // $SHMBUS_ROUDI_LOG, else /tmp/shmbus-peer.roudi.log.
  static std::string log_path() {
    const char* path = std::getenv("SHMBUS_ROUDI_LOG");
    return path != nullptr ? path : "/tmp/shmbus-peer.roudi.log";
  }

  Endpoints open_main(const perf::Case& c, std::uint64_t id) override {
    init_runtime();
    Endpoints e;
    const bool spin = c.wait == "spin";
    if (c.mode == perf::Mode::latency) {
      e.rx = std::make_unique<IoxReceiver>(id, c.size, "pong", spin);
      e.tx = std::make_unique<IoxSender>(id, c.size, "ping", false);
    } else {
      e.rx = std::make_unique<IoxReceiver>(id, c.size, "stream", spin);
    }
    return e;
  }
  Endpoints open_child(const perf::Case& c, std::uint64_t id) override {
    init_runtime();
    Endpoints e;
    const bool spin = c.wait == "spin";
    if (c.mode == perf::Mode::latency) {
      auto rx = std::make_unique<IoxReceiver>(id, c.size, "ping", spin);
      rx->await_subscribed();
      e.rx = std::move(rx);
      e.tx = std::make_unique<IoxSender>(id, c.size, "pong", true);
    } else {
      e.tx = std::make_unique<IoxSender>(id, c.size, "stream", true);
    }
    return e;
  }

 private:
  std::string config_;
  perf::ChildProcess roudi_;
};

}  // namespace

std::unique_ptr<PeerSystem> make_iceoryx() {
  return std::make_unique<IceoryxSystem>();
}

}  // namespace shmbus::peers
