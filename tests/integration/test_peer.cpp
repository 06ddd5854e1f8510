// A test process: `pub` publishes a numbered stream, `sub` receives and checks one. Spawned by the
// integration tests so that publishers and subscribers are real, separately killable processes.
//
//   test_peer pub BUS TOPIC TAG COUNT SIZE         (COUNT 0: until killed)
//   test_peer sub BUS TOPIC PUBLISHERS WAITMODE    (exits after an end marker from every tag)
//
// Both print "READY" once attached. `sub` prints one "RESULT ..." line; `pub` prints "DONE n".
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "peer_protocol.hpp"
#include "shmbus/shmbus.hpp"

namespace {

using namespace shmbus;
using testing::TestPayloadHeader;

void say(const char* line) {
  std::fputs(line, stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

int run_publisher(const std::string& bus, const std::string& topic, std::uint32_t tag,
                  std::uint64_t count, std::size_t size) {
  Client client(ClientOptions{bus, "test-pub"});
  PublisherOptions options;
  options.block_timeout = std::chrono::seconds(30);
  auto publisher = client.publisher(topic, {}, options);
  say("READY");
  std::vector<std::byte> buffer(size);
  for (std::uint64_t i = 0; count == 0 || i < count; ++i) {
    // Alternate copy-publish and zero-copy loans so both paths face the same checks and kills.
    if ((i & 1U) == 0) {
      testing::write_payload(buffer, tag, i);
      const Status status = publisher.publish(std::span<const std::byte>(buffer));
      if (status != Status::ok) {
        std::fprintf(stderr, "publish %llu failed: %s\n", static_cast<unsigned long long>(i),
                     std::string(to_string(status)).c_str());
        return 2;
      }
    } else {
      Loan loan = publisher.loan(size);
      if (!loan) {
        std::fprintf(stderr, "loan failed: %s\n", std::string(to_string(loan.status())).c_str());
        return 2;
      }
      testing::write_payload(loan.data(), tag, i);
      if (loan.commit() != Status::ok) return 2;
    }
  }
  std::printf("DONE %llu\n", static_cast<unsigned long long>(count));
  std::fflush(stdout);
  return 0;
}

int run_subscriber(const std::string& bus, const std::string& topic, std::uint32_t publishers,
                   const std::string& wait_mode) {
  Client client(ClientOptions{bus, "test-sub"});
  SubscribeOptions options;
  options.wait = wait_mode == "spin"    ? WaitMode::spin
                 : wait_mode == "block" ? WaitMode::block
                                        : WaitMode::adaptive;
  auto subscriber = client.subscriber(topic, options);
  say("READY");
  std::map<std::uint32_t, std::uint64_t> next_index;
  std::uint64_t received = 0, gaps = 0, duplicates = 0, corrupt = 0, lost_reported = 0;
  std::uint64_t overwritten = 0;  // torn because a publisher reused the slot while we read it
  std::uint32_t ended = 0;
  std::uint64_t last_sequence = 0;
  bool first = true;
  std::uint64_t sequence_errors = 0;
  Message message;
  while (ended < publishers) {
    const Status status = subscriber.receive(message, std::chrono::seconds(60));
    if (status == Status::timeout) {
      std::fprintf(stderr, "subscriber idle for 60 s: giving up\n");
      break;
    }
    if (status != Status::ok) return 2;
    lost_reported += message.lost_before();
    if (!first && message.sequence() <= last_sequence) ++sequence_errors;
    first = false;
    last_sequence = message.sequence();
    TestPayloadHeader header{};
    const bool intact = testing::read_payload(message.payload(), header);
    // The seqlock read side: what was read counts only if the slot was not reused meanwhile.
    if (!message.still_valid()) {
      ++overwritten;
      continue;
    }
    if (!intact) {
      ++corrupt;
      continue;
    }
    if (header.index == testing::kEndMarker) {
      ++ended;
      continue;
    }
    ++received;
    auto& expected = next_index[header.tag];
    if (header.index < expected) {
      ++duplicates;  // a repeat or a reorder: never allowed
    } else {
      gaps += header.index - expected;
      expected = header.index + 1;
    }
  }
  std::printf(
      "RESULT received=%llu gaps=%llu duplicates=%llu corrupt=%llu lost=%llu "
      "sequence_errors=%llu overwritten=%llu ended=%u",
      static_cast<unsigned long long>(received), static_cast<unsigned long long>(gaps),
      static_cast<unsigned long long>(duplicates), static_cast<unsigned long long>(corrupt),
      static_cast<unsigned long long>(lost_reported),
      static_cast<unsigned long long>(sequence_errors),
      static_cast<unsigned long long>(overwritten), ended);
  for (const auto& [tag, next] : next_index) {
    std::printf(" tag%u=%llu", tag, static_cast<unsigned long long>(next));
  }
  std::printf("\n");
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 6 && args[0] == "pub") {
      return run_publisher(args[1], args[2], static_cast<std::uint32_t>(std::stoul(args[3])),
                           std::stoull(args[4]), std::stoull(args[5]));
    }
    if (args.size() == 5 && args[0] == "sub") {
      return run_subscriber(args[1], args[2], static_cast<std::uint32_t>(std::stoul(args[3])),
                            args[4]);
    }
    std::fprintf(stderr, "usage: test_peer pub BUS TOPIC TAG COUNT SIZE | sub BUS TOPIC N MODE\n");
    return 64;
  } catch (const shmbus::Error& e) {
    std::fprintf(stderr, "test_peer: %s\n", e.what());
    return 3;
  }
}
