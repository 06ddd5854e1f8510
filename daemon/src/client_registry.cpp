#include "client_registry.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "group_registry.hpp"
#include "ring/records.hpp"
#include "shmbus/error.hpp"

namespace shmbus::daemon {
namespace {

constexpr auto kActive = static_cast<std::uint32_t>(layout::EntryState::active);
constexpr auto kFree = static_cast<std::uint32_t>(layout::EntryState::free);

// EPERM means the process exists but belongs to someone else: still alive.
bool process_gone(std::int32_t pid) {
  return pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH);
}

}  // namespace

ClientRegistry::ClientRegistry(ControlSegment& control, TopicRegistry& topics)
    : control_(control), topics_(topics) {}

Client& ClientRegistry::add(const PeerCredentials& peer, std::string_view name) {
  std::uint32_t entry = control_.max_clients();
  for (std::uint32_t i = 0; i < control_.max_clients(); ++i) {
    if (control_.client(i).state.load(std::memory_order_relaxed) == kFree) {
      entry = i;
      break;
    }
  }
  if (entry == control_.max_clients()) {
    throw Error(ErrorCode::limit_reached,
                fmt::format("the bus serves {} clients, its limit", control_.max_clients()));
  }
  // Only the daemon writes next_client_id, so a relaxed increment is enough.
  const std::uint64_t id = control_.header().next_client_id.fetch_add(1, std::memory_order_relaxed);
  control_.write_client(entry, [&](layout::ClientEntry& e) {
    e.client_id = id;
    e.pid = peer.pid;
    e.uid = peer.uid;
    e.gid = peer.gid;
    e.connected = 1;
    const std::size_t length = std::min(name.size(), sizeof(e.name) - 1);
    std::memcpy(e.name, name.data(), length);
    e.name[length] = '\0';
    e.state.store(kActive, std::memory_order_relaxed);
  });
  Client& client = clients_[id];
  client.id = id;
  client.entry = entry;
  client.peer = peer;
  client.connected = true;
  return client;
}

Client* ClientRegistry::resume(std::uint64_t id, const PeerCredentials& peer) {
  Client* client = find(id);
  if (client == nullptr) return nullptr;
  if (client->connected) {
    throw Error(ErrorCode::permission_denied,
                fmt::format("client {} is connected already and cannot be resumed", id));
  }
  if (client->peer.pid != peer.pid) {
    throw Error(ErrorCode::permission_denied,
                fmt::format("client {} belonged to pid {}; this connection is from pid {}", id,
                            client->peer.pid, peer.pid));
  }
  client->connected = true;
  control_.write_client(client->entry, [](layout::ClientEntry& e) { e.connected = 1; });
  return client;
}

Client* ClientRegistry::find(std::uint64_t id) noexcept {
  const auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : &it->second;
}

std::uint64_t ClientRegistry::next_publisher_id(Client& client) {
  client.publisher_counter = (client.publisher_counter + 1) & 0xffffU;
  if (client.publisher_counter == 0) client.publisher_counter = 1;
  return (client.id << 16) | client.publisher_counter;
}

void ClientRegistry::remove(std::uint64_t id) {
  const auto it = clients_.find(id);
  if (it == clients_.end()) return;
  const Client& client = it->second;
  std::size_t subscribers = 0;
  std::size_t publishers = 0;
  for (const RecordRef& ref : client.subscribers) {
    if (const Topic* topic = topics_.find(ref.topic_id, ref.generation)) {
      ring::release_subscriber(topic->view, ref.index);
      ++subscribers;
    }
  }
  for (const RecordRef& ref : client.publishers) {
    if (const Topic* topic = topics_.find(ref.topic_id, ref.generation)) {
      reclaim_publisher(*topic, ref.index);
      ++publishers;
    }
  }
  for (const RecordRef& ref : client.members) {
    if (const Topic* topic = topics_.find(ref.topic_id, ref.generation)) {
      const std::uint32_t per_group = topic->view.max_group_members;
      leave_group(*topic, ref.index / per_group, ref.index % per_group);
    }
  }
  spdlog::info(
      "client {} (pid {}) is gone: released {} subscriber(s) and {} group membership(s), "
      "reclaimed {} publisher(s)",
      client.id, client.peer.pid, subscribers, client.members.size(), publishers);
  // After its records: a pending publisher reclaim on a deleted topic is simply dropped.
  topics_.remove_owned_by(client.id);
  free_entry(client.entry);
  clients_.erase(it);
}

void ClientRegistry::reclaim_publisher(const Topic& topic, std::uint32_t index) {
  if (ring::reclaim_publisher(topic.view, index) == ring::ReclaimResult::retry_later) {
    pending_.push_back({topic.id, topic.generation, index});
  }
}

bool ClientRegistry::run_pending_reclaims() {
  std::erase_if(pending_, [&](const RecordRef& ref) {
    const Topic* topic = topics_.find(ref.topic_id, ref.generation);
    return topic == nullptr ||
           ring::reclaim_publisher(topic->view, ref.index) == ring::ReclaimResult::done;
  });
  return !pending_.empty();
}

void ClientRegistry::free_entry(std::uint32_t entry) {
  control_.write_client(entry, [](layout::ClientEntry& e) {
    e.connected = 0;
    e.state.store(kFree, std::memory_order_relaxed);
  });
}

void ClientRegistry::adopt() {
  for (std::uint32_t i = 0; i < control_.max_clients(); ++i) {
    const layout::ClientEntry& e = control_.client(i);
    if (e.state.load(std::memory_order_relaxed) == kFree) continue;
    if (e.client_id == 0 || find(e.client_id) != nullptr) {
      spdlog::warn("client entry {} holds an invalid or duplicate client id {}: freed", i,
                   e.client_id);
      free_entry(i);
      continue;
    }
    Client& client = clients_[e.client_id];
    client.id = e.client_id;
    client.entry = i;
    client.peer = {e.pid, e.uid, e.gid};
    client.connected = false;
    control_.write_client(i, [](layout::ClientEntry& w) {
      w.connected = 0;
      w.state.store(kActive, std::memory_order_relaxed);
    });
  }
  // A temporary topic whose creator left before the daemon died has outlived its purpose.
  std::vector<Topic*> ownerless;
  for (const auto& topic : topics_.topics()) {
    if (topic->owner_client_id != 0 && find(topic->owner_client_id) == nullptr) {
      ownerless.push_back(topic.get());
    }
  }
  for (Topic* topic : ownerless)
    topics_.remove(*topic);
  for (const auto& topic : topics_.topics()) {
    const ring::TopicView& view = topic->view;
    for (std::uint32_t i = 0; i < view.max_publishers; ++i) {
      const auto& record = view.publishers[i];
      // acquire: pairs with allocate_publisher's release, so owner and id belong to this state.
      const std::uint32_t state = record.state.load(std::memory_order_acquire);
      if (state == kFree) continue;
      Client* owner =
          state == kActive ? find(record.owner_client_id.load(std::memory_order_relaxed)) : nullptr;
      if (owner == nullptr) {
        reclaim_publisher(*topic, i);
        continue;
      }
      owner->publishers.push_back({topic->id, topic->generation, i});
      // Later publishers of a resumed client must not reuse a live publisher's id.
      const auto counter =
          static_cast<std::uint32_t>(record.publisher_id.load(std::memory_order_relaxed) & 0xffffU);
      owner->publisher_counter = std::max(owner->publisher_counter, counter);
    }
    for (std::uint32_t i = 0; i < view.max_subscribers; ++i) {
      const auto& record = view.subscribers[i];
      // acquire: pairs with allocate_subscriber's release, so the owner belongs to this state.
      const std::uint32_t state = record.state.load(std::memory_order_acquire);
      if (state == kFree) continue;
      const std::uint64_t owner_id = record.owner_client_id.load(std::memory_order_relaxed);
      if (state == kActive && owner_id == layout::kGroupCursorOwner) continue;  // a group's floor
      Client* owner = state == kActive ? find(owner_id) : nullptr;
      if (owner == nullptr) {
        ring::release_subscriber(view, i);
        continue;
      }
      owner->subscribers.push_back({topic->id, topic->generation, i});
    }
    for (std::uint32_t g = 0; g < view.max_groups; ++g) {
      // acquire: pairs with create_group's release.
      if (view.groups[g].state.load(std::memory_order_acquire) != kActive) continue;
      for (std::uint32_t m = 0; m < view.max_group_members; ++m) {
        const auto& member = view.members[std::uint64_t{g} * view.max_group_members + m];
        // acquire: pairs with add_member's release, so the owner belongs to this state.
        if (member.state.load(std::memory_order_acquire) != kActive) continue;
        Client* owner = find(member.owner_client_id.load(std::memory_order_relaxed));
        if (owner == nullptr) {
          leave_group(*topic, g, m);
          continue;
        }
        owner->members.push_back({topic->id, topic->generation, g * view.max_group_members + m});
      }
    }
  }
  spdlog::info("adopted {} client(s); they may resume their sessions", clients_.size());
  reap_dead_orphans();
}

std::size_t ClientRegistry::reap_dead_orphans() {
  std::vector<std::uint64_t> dead;
  for (const auto& [id, client] : clients_) {
    if (!client.connected && process_gone(client.peer.pid)) dead.push_back(id);
  }
  for (const std::uint64_t id : dead)
    remove(id);
  return dead.size();
}

bool ClientRegistry::has_orphans() const noexcept {
  return std::any_of(clients_.begin(), clients_.end(),
                     [](const auto& entry) { return !entry.second.connected; });
}

}  // namespace shmbus::daemon
