// The bus's clients: their directory entries, the records they own, and reclaiming what a client
// held when it dies (or, after a daemon restart, when an orphan's process is gone).
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "control_segment.hpp"
#include "topic_registry.hpp"

namespace shmbus::daemon {

struct PeerCredentials {
  std::int32_t pid = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

struct RecordRef {
  std::uint32_t topic_id = 0;
  std::uint32_t generation = 0;
  std::uint32_t index = 0;
  friend bool operator==(const RecordRef&, const RecordRef&) = default;
};

struct Client {
  std::uint64_t id = 0;
  std::uint32_t entry = 0;  // index into the ClientEntry table
  PeerCredentials peer;
  bool connected = false;  // false: an orphan left by the previous daemon, not yet resumed
  std::uint32_t publisher_counter = 0;
  std::vector<RecordRef> publishers;
  std::vector<RecordRef> subscribers;
  std::vector<RecordRef> members;  // index: group * max_group_members + member
};

class ClientRegistry {
 public:
  ClientRegistry(ControlSegment& control, TopicRegistry& topics);

  // Registers a connected client. Throws limit_reached when the client table is full.
  Client& add(const PeerCredentials& peer, std::string_view name);
  // Hands an orphan to its reconnected process. Throws permission_denied if `peer` is not the
  // process the orphan belonged to or the client is connected already; returns nullptr if the id
  // is unknown (its records were reclaimed meanwhile).
  Client* resume(std::uint64_t id, const PeerCredentials& peer);
  [[nodiscard]] Client* find(std::uint64_t id) noexcept;

  // A publisher id unique on the bus.
  std::uint64_t next_publisher_id(Client& client);

  // Frees the client's records (subscribers at once, publishers through reclaim_publisher) and its
  // directory entry.
  void remove(std::uint64_t id);
  // Frees one publisher record (aborting a claimed but unpublished slot). Retries are queued.
  void reclaim_publisher(const Topic& topic, std::uint32_t index);

  // Takes over the client entries and records of an adopted control segment: every active client
  // becomes an orphan; records no live client owns are reclaimed.
  void adopt();
  // Reclaims the orphans whose process is gone; returns how many.
  std::size_t reap_dead_orphans();
  [[nodiscard]] bool has_orphans() const noexcept;

  // Runs the queued publisher reclaims; true while some must be retried.
  bool run_pending_reclaims();
  [[nodiscard]] bool has_pending_reclaims() const noexcept { return !pending_.empty(); }

  [[nodiscard]] std::size_t size() const noexcept { return clients_.size(); }

 private:
  void free_entry(std::uint32_t entry);

  ControlSegment& control_;
  TopicRegistry& topics_;
  std::unordered_map<std::uint64_t, Client> clients_;
  std::vector<RecordRef> pending_;  // publisher records whose reclaim must be retried
};

}  // namespace shmbus::daemon
