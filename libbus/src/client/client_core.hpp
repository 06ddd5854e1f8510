// The state behind a Client: the control connection, its re-registration after a daemon restart,
// and the topics this process has mapped.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "client/control_connection.hpp"
#include "client/mapped_topic.hpp"
#include "shmbus/client.hpp"
#include "shmbus/group.hpp"

namespace shmbus::detail {

class ClientCore {
 public:
  explicit ClientCore(ClientOptions options);
  ClientCore(const ClientCore&) = delete;
  ClientCore& operator=(const ClientCore&) = delete;
  ~ClientCore();

  [[nodiscard]] const std::string& bus() const noexcept { return bus_; }
  [[nodiscard]] std::uint64_t id() const noexcept { return client_id_; }
  [[nodiscard]] Versions versions() const;
  // Whether this client is connected to a daemon now. A call made while it is not waits up to 2 s
  // for a restarted daemon; a caller on the receive path asks first and tries again later.
  [[nodiscard]] bool connected() const noexcept {
    return connected_.load(std::memory_order_relaxed);
  }

  // The control segment the daemon named in its hello reply (read-only directory for clients).
  [[nodiscard]] std::string control_segment() const;

  // `flags`: protocol::OpenFlags (must_exist: not_found instead of creating the topic;
  // temporary: a topic created now is this client's and goes when the client is done with it).
  std::shared_ptr<MappedTopic> open_topic(std::string_view name, const TopicOptions& options,
                                          protocol::OpenFlags flags = protocol::OpenFlags::none);
  protocol::PublisherReply add_publisher(const MappedTopic& topic);
  protocol::SubscriberReply add_subscriber(const MappedTopic& topic, StartPosition start);
  void remove_publisher(const MappedTopic& topic, std::uint32_t index) noexcept;
  void remove_subscriber(const MappedTopic& topic, std::uint32_t index) noexcept;
  protocol::GroupReply join_group(const MappedTopic& topic, std::string_view group,
                                  const GroupOptions& options);
  void leave_group(const MappedTopic& topic, const protocol::GroupReply& member) noexcept;
  void declare_group(const MappedTopic& topic, std::string_view group,
                     const GroupSettings& settings);

 private:
  struct Registration {
    std::uint32_t topic_id;
    std::uint32_t generation;
    protocol::RecordKind kind;
    std::uint32_t index;
  };

  protocol::Message call(protocol::Body request);
  void hello_locked(std::uint64_t resume_client_id);
  void monitor();
  bool reconnect_locked();
  // Removes a record this client is done with: `removal` is its RemovePublisher,
  // RemoveSubscriber or LeaveGroup. Without a daemon it does not wait for one but keeps the
  // request for reconnect_locked: a resumed client's records stay live in the segments until it
  // removes them, and a stale subscriber's cursor would hold a block topic's publishers back.
  void release_record(const Registration& record, const protocol::Body& removal) noexcept;
  // After a resumed hello: sends the removals kept while the daemon was away.
  void send_pending_removals_locked();

  std::string bus_;
  std::string name_;
  mutable std::mutex mutex_;
  std::condition_variable connected_changed_;
  ControlConnection connection_;
  // Written and waited on under mutex_, which orders it; atomic (relaxed) only so that connected()
  // may read it without the lock, as a hint.
  std::atomic<bool> connected_{false};
  std::uint64_t client_id_ = 0;
  std::uint64_t epoch_ = 0;
  std::uint32_t daemon_version_ = 0;
  std::uint32_t daemon_layout_ = 0;
  std::string control_segment_;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::weak_ptr<MappedTopic>> topics_;
  std::vector<Registration> registrations_;
  std::vector<protocol::Body> pending_removals_;  // under mutex_: see release_record
  int shutdown_fd_ = -1;
  std::thread monitor_;
};

}  // namespace shmbus::detail
