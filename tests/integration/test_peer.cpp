// A test process: `pub` publishes a numbered stream, `sub` receives and checks one. Spawned by the
// integration tests so that publishers and subscribers are real, separately killable processes.
//
//   test_peer pub BUS TOPIC TAG COUNT SIZE [KEYS]  (COUNT 0: until killed; KEYS: message i
//                                                   carries the ordering key key_name(i % KEYS))
//   test_peer sub BUS TOPIC PUBLISHERS WAITMODE    (exits after an end marker from every tag)
//   test_peer member BUS TOPIC GROUP LOG CAPACITY  (group member until killed; logs deliveries
//                                                   to LOG, a file of DeliveryRecords, then acks)
//   test_peer keymember BUS TOPIC GROUP LOG CAPACITY STAMPS LEAVE_AFTER
//                                  member of a key-ordered group: stamps each record from the
//                                  shared DeliveryStamps file STAMPS; after LEAVE_AFTER records
//                                  (0: never) leaves mid-batch, handing back what it holds
//                                  unlogged, prints "LEFT" and exits 0
//   test_peer wsub BUS PATTERN TOTAL CHECKPOINT WAITMODE
//                                  wildcard subscriber: TOTAL messages of `pub` peers, checked
//                                  in order per topic and tag; "CHECKPOINT" after CHECKPOINT
//   test_peer ppub BUS TOPIC COUNT  messages with properties derived from their index
//   test_peer fsub BUS TOPIC all|any EXPECT [KEY=VALUE...]
//                                  filtered subscriber of a `ppub` stream, from earliest
//   test_peer responder BUS SERVICE normal|stall   (see rpc_peer.hpp)
//   test_peer requester BUS SERVICE TAG COUNT WINDOW
//
// All print "READY" once attached. Subscribers print one "RESULT ..." line; `pub` "DONE n".
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "peer_protocol.hpp"
#include "rpc_peer.hpp"
#include "shmbus/shmbus.hpp"

namespace {

using namespace shmbus;
using testing::TestPayloadHeader;

using testing::say;

int run_publisher(const std::string& bus, const std::string& topic, std::uint32_t tag,
                  std::uint64_t count, std::size_t size, std::uint32_t keys) {
  Client client(ClientOptions{bus, "test-pub"});
  PublisherOptions options;
  options.block_timeout = std::chrono::seconds(30);
  auto publisher = client.publisher(topic, {}, options);
  // Built once: publishing with a Properties object does not allocate.
  std::vector<Properties> keyed(keys);
  for (std::uint32_t k = 0; k < keys; ++k)
    keyed[k].key(testing::key_name(k));
  const Properties none;
  say("READY");
  std::vector<std::byte> buffer(size);
  for (std::uint64_t i = 0; count == 0 || i < count; ++i) {
    const Properties& properties = keys == 0 ? none : keyed[testing::key_of(i, keys)];
    // Alternate copy-publish and zero-copy loans so both paths face the same checks and kills.
    if ((i & 1U) == 0) {
      testing::write_payload(buffer, tag, i);
      const Status status = publisher.publish(std::span<const std::byte>(buffer), properties);
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
      loan.properties() = properties;
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

struct MemberConfig {
  std::string bus, topic, group, log_path;
  std::uint64_t capacity = 0;
  // Key-ordered members: the shared DeliveryStamps file, and after how many records to leave.
  std::string stamps_path;
  std::uint64_t leave_after = 0;
};

// Maps `bytes` of the file at `path` shared (creating it if `create`); nullptr on failure.
void* map_shared(const std::string& path, std::size_t bytes, bool create) {
  const int fd = ::open(path.c_str(), create ? O_RDWR | O_CREAT | O_TRUNC : O_RDWR, 0600);
  if (fd < 0) return nullptr;
  if (create && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    ::close(fd);
    return nullptr;
  }
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  return base == MAP_FAILED ? nullptr : base;
}

int run_member(const MemberConfig& config) {
  const std::size_t bytes =
      sizeof(testing::DeliveryLogHeader) + config.capacity * sizeof(testing::DeliveryRecord);
  void* base = map_shared(config.log_path, bytes, true);
  if (base == nullptr) return 4;
  auto* log = static_cast<testing::DeliveryLogHeader*>(base);
  auto* records = reinterpret_cast<testing::DeliveryRecord*>(log + 1);
  log->capacity = config.capacity;
  std::atomic_ref<std::uint64_t> count(log->count);
  const bool key_ordered = !config.stamps_path.empty();
  std::uint64_t* stamps = nullptr;
  if (key_ordered) {
    void* shared = map_shared(config.stamps_path, sizeof(testing::DeliveryStamps), false);
    if (shared == nullptr) return 4;
    stamps = &static_cast<testing::DeliveryStamps*>(shared)->next;
  }

  Client client(ClientOptions{config.bus, "test-member"});
  GroupOptions options;
  options.prefetch = 16;
  options.group.key_ordered = key_ordered;
  auto member = client.join_group(config.topic, config.group, options);
  say("READY");
  // Takes up to a batch before settling any, so that a kill often finds messages in flight.
  constexpr std::size_t kBatch = 8;
  std::vector<Message> batch(kBatch);
  for (;;) {
    const Status status = member.receive(batch[0], std::chrono::seconds(60));
    if (status == Status::timeout) continue;
    if (status != Status::ok) return 2;
    std::size_t taken = 1;
    while (taken < kBatch && member.try_receive(batch[taken]) == Status::ok)
      ++taken;
    for (std::size_t i = 0; i < taken; ++i) {
      const Message& message = batch[i];
      TestPayloadHeader header{};
      if (!testing::read_payload(message.payload(), header)) return 5;
      const std::uint64_t n = count.load(std::memory_order_relaxed);
      if (config.leave_after != 0 && n == config.leave_after) {
        // Leaves with the rest of the batch unsettled: the group hands it to other members.
        member = GroupConsumer();
        say("LEFT");
        return 0;
      }
      if (n == config.capacity) return 6;
      std::uint32_t key = testing::kNoKey;
      if (const auto name = message.properties().key()) {
        key = testing::parse_key_name(*name).value_or(testing::kNoKey);
      }
      std::uint64_t stamp = 0;
      if (stamps != nullptr) {
        // seq_cst: one order of stamps over all members, agreeing with the order in which they
        // hand a key over (the giver stamps before it acks, the taker after it receives).
        stamp = std::atomic_ref<std::uint64_t>(*stamps).fetch_add(1, std::memory_order_seq_cst) + 1;
      }
      records[n] = {header.tag, message.deliveries(), header.index, message.sequence(), stamp, key,
                    0};
      // release: the record is complete before the count that makes it visible; the file
      // outlives this process, so a SIGKILL after this store cannot lose it.
      count.store(n + 1, std::memory_order_release);
      if (member.ack(message) != Status::ok) return 7;
    }
  }
}

WaitMode parse_wait(const std::string& text) {
  return text == "spin" ? WaitMode::spin : text == "block" ? WaitMode::block : WaitMode::adaptive;
}

int run_pattern_subscriber(const std::string& bus, const std::string& pattern, std::uint64_t total,
                           std::uint64_t checkpoint, const std::string& wait_mode) {
  Client client(ClientOptions{bus, "test-wsub"});
  SubscribeOptions options;
  options.wait = parse_wait(wait_mode);
  auto subscriber = client.pattern_subscriber(pattern, options);
  say("READY");
  std::map<std::pair<std::string, std::uint32_t>, std::uint64_t> next_index;
  std::map<std::string, std::uint64_t> per_topic;
  std::uint64_t received = 0, gaps = 0, duplicates = 0, corrupt = 0, lost = 0;
  Message message;
  while (received < total) {
    const Status status = subscriber.receive(message, std::chrono::seconds(60));
    if (status == Status::timeout) {
      std::fprintf(stderr, "pattern subscriber idle for 60 s: giving up\n");
      break;
    }
    if (status != Status::ok) return 2;
    lost += message.lost_before();
    TestPayloadHeader header{};
    if (!testing::read_payload(message.payload(), header) || !message.still_valid()) {
      ++corrupt;
      continue;
    }
    const std::string topic(message.topic());
    ++per_topic[topic];
    auto& expected = next_index[{topic, header.tag}];
    if (header.index < expected) {
      ++duplicates;
    } else {
      gaps += header.index - expected;
      expected = header.index + 1;
    }
    if (++received == checkpoint) say("CHECKPOINT");
  }
  for (const auto& [topic, count] : per_topic) {
    std::printf("TOPIC %s %llu\n", topic.c_str(), static_cast<unsigned long long>(count));
  }
  std::printf("RESULT received=%llu gaps=%llu duplicates=%llu corrupt=%llu lost=%llu topics=%zu\n",
              static_cast<unsigned long long>(received), static_cast<unsigned long long>(gaps),
              static_cast<unsigned long long>(duplicates), static_cast<unsigned long long>(corrupt),
              static_cast<unsigned long long>(lost), per_topic.size());
  std::fflush(stdout);
  return 0;
}

// The properties message `index` of a `ppub` stream carries.
Properties properties_of(std::uint64_t index) {
  // Appended rather than `"k" + std::to_string(...)`, which GCC 12 at -O3 takes for an
  // overlapping memcpy (-Wrestrict, a false positive) and so fails the release preset's build.
  std::string key = "k";
  key += std::to_string(index % 5);
  Properties properties;
  properties.set("idx", std::to_string(index))
      .set("parity", index % 2 == 0 ? "even" : "odd")
      .set("mod3", std::to_string(index % 3))
      .content_type("application/x-index")
      .key(key);
  return properties;
}

int run_property_publisher(const std::string& bus, const std::string& topic, std::uint64_t count) {
  Client client(ClientOptions{bus, "test-ppub"});
  auto publisher = client.publisher(topic);
  say("READY");
  for (std::uint64_t i = 0; i < count; ++i) {
    const Properties properties = properties_of(i);
    // Alternate copy-publish and loans: both must carry the properties alike.
    if ((i & 1U) == 0) {
      if (publisher.publish(i, properties) != Status::ok) return 2;
    } else {
      Loan loan = publisher.loan(sizeof(i));
      if (!loan) return 2;
      std::memcpy(loan.data().data(), &i, sizeof(i));
      loan.properties() = properties;
      if (loan.commit() != Status::ok) return 2;
    }
  }
  std::printf("DONE %llu\n", static_cast<unsigned long long>(count));
  std::fflush(stdout);
  return 0;
}

int run_filtered_subscriber(const std::string& bus, const std::string& topic,
                            const std::string& match, std::uint64_t expect,
                            const std::vector<std::string>& conditions) {
  Client client(ClientOptions{bus, "test-fsub"});
  SubscribeOptions options;
  options.start = StartPosition::earliest();
  options.filter.match = match == "any" ? PropertyFilter::Match::any : PropertyFilter::Match::all;
  for (const auto& condition : conditions) {
    const auto eq = condition.find('=');
    options.filter.where(condition.substr(0, eq),
                         eq == std::string::npos ? std::string() : condition.substr(eq + 1));
  }
  auto subscriber = client.subscriber(topic, options);
  say("READY");
  std::uint64_t received = 0, property_errors = 0, filter_errors = 0, order_errors = 0;
  std::uint64_t last = 0;
  Message message;
  while (received < expect) {
    const Status status = subscriber.receive(message, std::chrono::seconds(60));
    if (status == Status::timeout) {
      std::fprintf(stderr, "filtered subscriber idle for 60 s: giving up\n");
      break;
    }
    if (status != Status::ok) return 2;
    const auto index = message.as<std::uint64_t>();
    if (!index) {
      ++property_errors;
      continue;
    }
    if (received > 0 && *index <= last) ++order_errors;
    last = *index;
    ++received;
    const Properties expected = properties_of(*index);
    const MessageProperties got = message.properties();
    if (got.size() != expected.size() || got.get("idx") != expected.get("idx") ||
        got.get("parity") != expected.get("parity") || got.key() != expected.get("key") ||
        got.content_type() != "application/x-index") {
      ++property_errors;
    }
    if (!matches(options.filter, got)) ++filter_errors;
  }
  std::printf(
      "RESULT received=%llu filtered=%llu property_errors=%llu filter_errors=%llu "
      "order_errors=%llu last=%llu\n",
      static_cast<unsigned long long>(received),
      static_cast<unsigned long long>(subscriber.filtered()),
      static_cast<unsigned long long>(property_errors),
      static_cast<unsigned long long>(filter_errors), static_cast<unsigned long long>(order_errors),
      static_cast<unsigned long long>(last));
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if ((args.size() == 6 || args.size() == 7) && args[0] == "pub") {
      return run_publisher(args[1], args[2], static_cast<std::uint32_t>(std::stoul(args[3])),
                           std::stoull(args[4]), std::stoull(args[5]),
                           args.size() == 7 ? static_cast<std::uint32_t>(std::stoul(args[6])) : 0);
    }
    if (args.size() == 5 && args[0] == "sub") {
      return run_subscriber(args[1], args[2], static_cast<std::uint32_t>(std::stoul(args[3])),
                            args[4]);
    }
    if (args.size() == 6 && args[0] == "member") {
      return run_member({args[1], args[2], args[3], args[4], std::stoull(args[5]), {}, 0});
    }
    if (args.size() == 8 && args[0] == "keymember") {
      return run_member({args[1], args[2], args[3], args[4], std::stoull(args[5]), args[6],
                         std::stoull(args[7])});
    }
    if (args.size() == 6 && args[0] == "wsub") {
      return run_pattern_subscriber(args[1], args[2], std::stoull(args[3]), std::stoull(args[4]),
                                    args[5]);
    }
    if (args.size() == 4 && args[0] == "ppub") {
      return run_property_publisher(args[1], args[2], std::stoull(args[3]));
    }
    if (args.size() >= 5 && args[0] == "fsub") {
      return run_filtered_subscriber(args[1], args[2], args[3], std::stoull(args[4]),
                                     {args.begin() + 5, args.end()});
    }
    if (args.size() == 4 && args[0] == "responder") {
      return testing::run_responder(args[1], args[2], args[3] == "stall");
    }
    if (args.size() == 6 && args[0] == "requester") {
      return testing::run_requester(args[1], args[2],
                                    static_cast<std::uint32_t>(std::stoul(args[3])),
                                    std::stoull(args[4]), std::stoull(args[5]));
    }
    std::fprintf(stderr,
                 "usage: test_peer pub|sub|member|keymember|wsub|ppub|fsub|responder|requester ... "
                 "(see the header comment)\n");
    return 64;
  } catch (const shmbus::Error& e) {
    std::fprintf(stderr, "test_peer: %s\n", e.what());
    return 3;
  }
}
