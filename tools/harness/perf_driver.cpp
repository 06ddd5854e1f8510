#include "perf_driver.hpp"
#include "wait/futex.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace shmbus::perf {
namespace {

std::uint64_t index_of(std::span<const std::byte> message) noexcept {
  std::uint64_t index = kReady - 2;  // a short message matches no index
  if (message.size() >= kIndexBytes) std::memcpy(&index, message.data(), kIndexBytes);
  return index;
}

// Sends a message of `size` bytes whose first words are `words` (index, then maybe a time).
bool send_words(Sender& tx, std::vector<std::byte>& buffer, std::uint32_t size, bool loan,
                const std::uint64_t* words, std::size_t word_bytes) {
  if (loan) {
    std::byte* memory = tx.loan(size);
    if (memory == nullptr) return false;
    std::memcpy(memory, words, word_bytes);
    return tx.commit(size);
  }
  std::memcpy(buffer.data(), words, word_bytes);
  return tx.send(std::span<const std::byte>(buffer.data(), size));
}

// Waits for one message, checking every slice that the other side still runs.
Received receive_watched(Receiver& rx, std::span<const std::byte>& message, Peer peer) {
  const std::uint64_t deadline = wait::monotonic_ns() + kStuckNs;
  for (;;) {
    const Received got = rx.receive(message, kPollSlice);
    if (got != Received::empty) return got;
    if (peer.child != nullptr && !peer.child->alive()) {
      // What it sent before exiting may still be in flight (a peer's I/O thread): one more slice.
      return rx.receive(message, kPollSlice);
    }
    if (wait::monotonic_ns() >= deadline) return Received::empty;
  }
}

}  // namespace

bool await_ready(Receiver& rx, Peer peer) {
  std::span<const std::byte> message;
  for (;;) {
    const Received got = receive_watched(rx, message, peer);
    if (got == Received::ok && index_of(message) == kReady) return true;
    if (got != Received::ok) break;
  }
  print_error(fmt::format("the other side did not start (exit code {})",
                          peer.child != nullptr ? peer.child->wait() : -1));
  return false;
}

bool send_ready(Sender& tx, std::uint32_t size) {
  std::vector<std::byte> buffer(size);
  const std::uint64_t words[2] = {kReady, wait::monotonic_ns()};
  return send_words(tx, buffer, size, false, words, std::min<std::size_t>(size, kStampedBytes));
}

bool send_stop(Sender& tx, std::uint32_t size, bool loan) {
  std::vector<std::byte> buffer(size);
  const std::uint64_t words[2] = {kStop, 0};
  return send_words(tx, buffer, size, loan, words, std::min<std::size_t>(size, kStampedBytes));
}

bool run_ping(Sender& tx, Receiver& rx, std::uint32_t size, std::uint64_t warmup,
              std::uint64_t count, bool loan, LatencyHistogram& histogram, Peer peer) {
  std::vector<std::byte> buffer(size);
  std::span<const std::byte> echo;
  const std::uint64_t total = warmup + count;
  for (std::uint64_t i = 0; i < total; ++i) {
    const std::uint64_t start = wait::monotonic_ns();
    if (!send_words(tx, buffer, size, loan, &i, kIndexBytes)) return false;
    const Received got = receive_watched(rx, echo, peer);
    const std::uint64_t end = wait::monotonic_ns();
    if (got != Received::ok) {
      print_error(fmt::format("no echo for round trip {}", i));
      return false;
    }
    if (index_of(echo) != i || echo.size() != size) {
      print_error(fmt::format("round trip {}: echo {} of {} bytes came back", i, index_of(echo),
                              echo.size()));
      return false;
    }
    if (i >= warmup) histogram.record((end - start) / 2);
  }
  return true;
}

int run_pong(Receiver& rx, Sender& tx, bool loan) {
  std::span<const std::byte> message;
  for (;;) {
    const Received got = rx.receive(message, kPollSlice);
    if (got == Received::empty) continue;
    if (got == Received::error) return kExitFailure;
    const std::uint64_t index = index_of(message);
    if (index == kStop) return kExitOk;
    if (loan) {
      std::byte* memory = tx.loan(message.size());
      if (memory == nullptr) return kExitFailure;
      std::memcpy(memory, &index, kIndexBytes);
      if (!tx.commit(message.size())) return kExitFailure;
    } else if (!tx.send(message)) {
      return kExitFailure;
    }
  }
}

int run_stream(Sender& tx, std::uint32_t size, std::uint64_t count, bool loan) {
  std::vector<std::byte> buffer(size);
  if (!send_ready(tx, size)) return kExitFailure;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (!send_words(tx, buffer, size, loan, &i, kIndexBytes)) return kExitFailure;
  }
  return kExitOk;
}

bool run_drain(Receiver& rx, std::uint32_t size, std::uint64_t count, Result& result, Peer peer) {
  if (!await_ready(rx, peer)) return false;
  // Timed from the ready message, sent just before the first data message, so that process
  // start-up is not counted.
  const std::uint64_t start = wait::monotonic_ns();
  std::uint64_t errors = 0;
  std::span<const std::byte> message;
  for (std::uint64_t expected = 0; expected < count; ++expected) {
    if (rx.receive(message, kPollSlice) != Received::ok &&
        receive_watched(rx, message, peer) != Received::ok) {
      print_error(fmt::format("message {} of {} did not arrive", expected, count));
      return false;
    }
    const std::uint64_t index = index_of(message);
    // Resynchronise on a gap, so that one lost message counts once, not for every later one.
    if (index != expected || message.size() != size) {
      ++errors;
      if (index > expected && index < count) expected = index;
    }
  }
  const std::uint64_t elapsed = wait::monotonic_ns() - start;
  const double seconds = static_cast<double>(elapsed) / 1e9;
  result.msgs_per_s = seconds > 0 ? static_cast<double>(count) / seconds : 0;
  result.gb_per_s = result.msgs_per_s * static_cast<double>(size) / 1e9;
  result.samples = count;
  if (errors > 0) {
    print_error(
        fmt::format("{} of {} messages were out of sequence or of the wrong size", errors, count));
    return false;
  }
  return true;
}

bool run_fanout_publish(Sender& tx, std::uint32_t size, std::uint64_t count, bool loan,
                        std::uint64_t interval_ns, LatencyHistogram& publish_cost) {
  std::vector<std::byte> buffer(size);
  std::uint64_t next = wait::monotonic_ns();
  for (std::uint64_t i = 0; i < count; ++i) {
    // Paced by spinning: a sleep would add its own wake-up jitter to the publisher's timings.
    while (wait::monotonic_ns() < next) {
    }
    const std::uint64_t words[2] = {i, wait::monotonic_ns()};
    if (!send_words(tx, buffer, size, loan, words, kStampedBytes)) return false;
    publish_cost.record(wait::monotonic_ns() - words[1]);
    next = words[1] + interval_ns;
  }
  return true;
}

int run_fanout_receive(Receiver& rx, LatencyHistogram& latency) {
  std::span<const std::byte> message;
  for (;;) {
    const Received got = rx.receive(message, kPollSlice);
    if (got == Received::empty) continue;
    if (got == Received::error || message.size() < kStampedBytes) return kExitFailure;
    const std::uint64_t now = wait::monotonic_ns();
    std::uint64_t words[2];
    std::memcpy(words, message.data(), sizeof(words));
    if (words[0] == kStop) return kExitOk;
    if (words[0] != kReady) latency.record(now > words[1] ? now - words[1] : 0);
  }
}

}  // namespace shmbus::perf
