// What a PatternSubscriber holds: the bus's directory mapped read-only, and one SubscriberCore per
// matching topic, kept in step with the directory through its generation counter.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "client/blocking_wait.hpp"
#include "client/notifier.hpp"
#include "client/subscriber_core.hpp"
#include "layout/shm_layout.hpp"
#include "routing/topic_pattern.hpp"
#include "shm/segment.hpp"
#include "shmbus/subscriber.hpp"

namespace shmbus::detail {

class ClientCore;

class PatternSubscriberCore {
 public:
  // Throws shmbus::Error: invalid_name for a bad pattern, invalid_argument for a bad filter, and
  // what mapping the directory or attaching to a matching topic reported.
  PatternSubscriberCore(std::shared_ptr<ClientCore> client, std::string_view pattern,
                        const SubscribeOptions& options);
  PatternSubscriberCore(const PatternSubscriberCore&) = delete;
  PatternSubscriberCore& operator=(const PatternSubscriberCore&) = delete;
  ~PatternSubscriberCore();

  Status try_receive(Message& out) noexcept;
  Status receive(Message& out, std::chrono::nanoseconds timeout) noexcept;
  Status receive_spin(Message& out, std::chrono::nanoseconds timeout) noexcept;
  int fd();

  // Whether a receive may find something, or the directory changed (any thread: the notifier's,
  // a WaitSet's).
  bool ready();
  // The notifier's bounded sleep (its own thread) on every attached topic's futex and `interrupt`.
  void notifier_sleep(std::atomic<std::uint32_t>& interrupt);

  [[nodiscard]] const std::string& pattern() const noexcept { return pattern_.text(); }
  [[nodiscard]] std::vector<std::string> topics() const;
  [[nodiscard]] std::uint64_t lost() const noexcept;
  [[nodiscard]] std::uint64_t filtered() const noexcept;

 private:
  struct Member {
    std::uint32_t topic_id;
    std::uint32_t generation;
    std::unique_ptr<SubscriberCore> core;
  };
  using TopicKey = std::pair<std::uint32_t, std::uint32_t>;  // topic id, generation

  // Whether a message the first `count` members wait for is claimed but not yet committed. Call
  // after a seq_cst fence.
  [[nodiscard]] bool any_claim_in_flight(std::size_t count) const noexcept;
  // Re-reads the directory when its generation moved: attaches new matches, drops removed topics.
  void maybe_refresh() noexcept;
  // Whether a changed directory may be read now: not while a failed refresh waits for its retry.
  [[nodiscard]] bool refresh_due() const noexcept;
  void refresh();
  void attach(const TopicKey& key, const std::string& name);
  Status poll_members(Message& out) noexcept;
  Status sleep_until_message(Message& out, std::uint64_t deadline) noexcept;
  bool watched_ready_locked() const noexcept;

  std::shared_ptr<ClientCore> client_;
  routing::TopicPattern pattern_;
  SubscribeOptions options_;
  shm::Segment control_;
  const layout::ControlHeader* header_ = nullptr;
  const layout::TopicEntry* entries_ = nullptr;
  std::uint32_t max_topics_ = 0;
  // Written by the consumer's refresh, read by the notifier's thread too.
  std::atomic<std::uint64_t> seen_generation_{0};
  // After a failed refresh: when to try again. Until then a changed directory does not make the
  // subscriber ready, or its fd would wake an event loop without end while the daemon is down.
  std::atomic<std::uint64_t> retry_at_ns_{0};
  bool initial_scan_done_ = false;
  std::vector<Member> members_;
  std::size_t next_member_ = 0;  // round robin: the member polled first on the next receive
  std::set<TopicKey> skipped_;   // matching topics this client may not subscribe to
  // Mappings of dropped topics, kept so that Message::topic() of a message taken from them stays
  // valid as long as this subscriber (topics are rarely removed).
  std::vector<std::shared_ptr<const MappedTopic>> retired_;
  std::uint64_t retired_lost_ = 0;
  std::uint64_t retired_filtered_ = 0;
  // Held while refresh changes members_ and while the notifier's thread reads them; the receive
  // path, which only reads them on the consumer's thread, never takes it.
  std::mutex watch_mutex_;
  std::vector<std::shared_ptr<const MappedTopic>> sleeping_on_;  // the notifier's, kept mapped
  ClaimSlices notifier_claim_slices_;                            // the notifier thread's
  std::unique_ptr<Notifier> notifier_;
};

}  // namespace shmbus::detail
