#include "client/client_core.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

#include "layout/naming.hpp"
#include "shmbus/version.hpp"
#include "wait/clock.hpp"

namespace shmbus::detail {
namespace {

constexpr auto kCallTimeout = std::chrono::milliseconds(5000);
constexpr auto kReconnectWait = std::chrono::milliseconds(2000);
constexpr int kReconnectIntervalMs = 20;

std::string program_name() {
  std::ifstream comm("/proc/self/comm");
  std::string name;
  std::getline(comm, name);
  return name.empty() ? std::string("client") : name;
}

std::string version_string(std::uint32_t packed) {
  return fmt::format("{}.{}.{}", packed >> 16, (packed >> 8) & 0xffU, packed & 0xffU);
}

}  // namespace

ClientCore::ClientCore(ClientOptions options)
    : bus_(options.bus.empty() ? naming::default_bus() : std::move(options.bus)),
      name_(options.name.empty() ? program_name() : std::move(options.name)) {
  if (auto problem = naming::check_bus_name(bus_)) throw Error(ErrorCode::invalid_name, *problem);
  name_.resize(std::min(name_.size(), layout::kClientNameCapacity - 1));
  // Publishers stamp messages from the TSC clock; whether the TSC may be used is read here,
  // once per process, off the publish path.
  wait::init_tsc_clock();
  {
    std::lock_guard lock(mutex_);
    connection_.connect(bus_);
    hello_locked(0);
    connected_.store(true, std::memory_order_relaxed);
  }
  shutdown_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (shutdown_fd_ < 0) {
    throw Error(ErrorCode::io_error, fmt::format("eventfd: {}", std::strerror(errno)));
  }
  monitor_ = std::thread([this] { monitor(); });
}

ClientCore::~ClientCore() {
  const std::uint64_t one = 1;
  if (shutdown_fd_ >= 0 && ::write(shutdown_fd_, &one, sizeof(one)) < 0) {
    // Nothing to do: the monitor thread is then woken by the socket closing below.
  }
  if (monitor_.joinable()) monitor_.join();
  if (shutdown_fd_ >= 0) ::close(shutdown_fd_);
  std::lock_guard lock(mutex_);
  connection_.close();  // the daemon frees everything this client still held
}

void ClientCore::hello_locked(std::uint64_t resume_client_id) {
  protocol::Hello hello{};
  hello.layout_version = layout::kLayoutVersion;
  hello.library_version = kVersionPacked;
  hello.resume_client_id = resume_client_id;
  protocol::copy_string(hello.client_name, name_);
  const auto reply = connection_.call(hello, kCallTimeout);
  const auto* body = std::get_if<protocol::HelloReply>(&reply.body);
  if (body == nullptr) {
    throw Error(ErrorCode::protocol_error, "the daemon answered hello with an unexpected reply");
  }
  client_id_ = body->client_id;
  epoch_ = body->epoch;
  daemon_version_ = body->daemon_version;
  daemon_layout_ = body->layout_version;
  control_segment_ = std::string(protocol::view_string(body->control_segment));
}

std::string ClientCore::control_segment() const {
  std::lock_guard lock(mutex_);
  return control_segment_;
}

Versions ClientCore::versions() const {
  return {kVersionString, version_string(daemon_version_), daemon_layout_,
          protocol::kProtocolVersion};
}

protocol::Message ClientCore::call(protocol::Body request) {
  std::unique_lock lock(mutex_);
  if (!connected_.load(std::memory_order_relaxed) &&
      !connected_changed_.wait_for(lock, kReconnectWait,
                                   [this] { return connected_.load(std::memory_order_relaxed); })) {
    throw Error(ErrorCode::disconnected,
                fmt::format("the daemon of bus '{}' is gone and no new one answered within {} ms",
                            bus_, kReconnectWait.count()));
  }
  try {
    return connection_.call(request, kCallTimeout);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::disconnected) connected_.store(false, std::memory_order_relaxed);
    throw;
  }
}

std::shared_ptr<MappedTopic> ClientCore::open_topic(std::string_view name,
                                                    const TopicOptions& options,
                                                    protocol::OpenFlags flags) {
  if (auto problem = naming::check_topic_name(name)) {
    throw Error(ErrorCode::invalid_name, *problem);
  }
  protocol::OpenTopic request{};
  protocol::copy_string(request.name, name);
  request.slot_size = options.slot_size;
  request.slot_count = options.slot_count;
  request.policy = options.policy ? static_cast<std::uint32_t>(*options.policy == FullPolicy::block
                                                                   ? layout::FullPolicy::block
                                                                   : layout::FullPolicy::overwrite)
                                  : protocol::kPolicyUnspecified;
  request.flags = static_cast<std::uint32_t>(flags);
  if (options.temporary)
    request.flags |= static_cast<std::uint32_t>(protocol::OpenFlags::temporary);
  const auto reply = call(request);
  const auto* body = std::get_if<protocol::TopicReply>(&reply.body);
  if (body == nullptr) {
    throw Error(ErrorCode::protocol_error, "the daemon answered open_topic with another reply");
  }
  std::lock_guard lock(mutex_);
  auto& cached = topics_[{body->topic_id, body->generation}];
  if (auto topic = cached.lock()) return topic;
  auto topic = std::make_shared<MappedTopic>(std::string(name), *body);
  cached = topic;
  return topic;
}

protocol::PublisherReply ClientCore::add_publisher(const MappedTopic& topic) {
  const auto reply = call(protocol::AddPublisher{topic.topic_id(), topic.generation()});
  const auto* body = std::get_if<protocol::PublisherReply>(&reply.body);
  if (body == nullptr || body->index >= topic.view().max_publishers) {
    throw Error(ErrorCode::protocol_error, "the daemon answered add_publisher out of range");
  }
  std::lock_guard lock(mutex_);
  registrations_.push_back(
      {topic.topic_id(), topic.generation(), protocol::RecordKind::publisher, body->index});
  return *body;
}

protocol::SubscriberReply ClientCore::add_subscriber(const MappedTopic& topic,
                                                     StartPosition start) {
  protocol::AddSubscriber request{};
  request.topic_id = topic.topic_id();
  request.generation = topic.generation();
  switch (start.from) {
    case StartPosition::From::latest:
      request.start = static_cast<std::uint32_t>(protocol::StartFrom::latest);
      break;
    case StartPosition::From::earliest:
      request.start = static_cast<std::uint32_t>(protocol::StartFrom::earliest);
      break;
    case StartPosition::From::last_n:
      request.start = static_cast<std::uint32_t>(protocol::StartFrom::last_n);
      break;
  }
  request.last_n = start.count;
  const auto reply = call(request);
  const auto* body = std::get_if<protocol::SubscriberReply>(&reply.body);
  if (body == nullptr || body->index >= topic.view().max_subscribers) {
    throw Error(ErrorCode::protocol_error, "the daemon answered add_subscriber out of range");
  }
  std::lock_guard lock(mutex_);
  registrations_.push_back(
      {topic.topic_id(), topic.generation(), protocol::RecordKind::subscriber, body->index});
  return *body;
}

namespace {

protocol::GroupSettings to_protocol(const GroupSettings& settings) {
  protocol::GroupSettings result{};
  result.flags = (settings.declare ? layout::kGroupDeclared : 0U) |
                 (settings.key_ordered ? layout::kGroupKeyOrdered : 0U);
  result.max_deliveries = settings.max_deliveries;
  const auto timeout = settings.ack_timeout.count();
  if (timeout < 0 || timeout > std::numeric_limits<std::uint32_t>::max()) {
    throw Error(ErrorCode::invalid_argument,
                fmt::format("ack timeout {} ms is out of range", timeout));
  }
  result.ack_timeout_ms = static_cast<std::uint32_t>(timeout);
  if (!settings.dead_letter_topic.empty()) {
    if (auto why = naming::check_topic_name(settings.dead_letter_topic)) {
      throw Error(ErrorCode::invalid_name, fmt::format("dead-letter topic: {}", *why));
    }
    protocol::copy_string(result.dead_letter_topic, settings.dead_letter_topic);
  }
  return result;
}

void check_group(std::string_view group) {
  if (auto why = naming::check_group_name(group)) throw Error(ErrorCode::invalid_name, *why);
}

}  // namespace

protocol::GroupReply ClientCore::join_group(const MappedTopic& topic, std::string_view group,
                                            const GroupOptions& options) {
  check_group(group);
  protocol::JoinGroup request{};
  request.topic_id = topic.topic_id();
  request.generation = topic.generation();
  protocol::copy_string(request.group, group);
  request.settings = to_protocol(options.group);
  request.prefetch = options.prefetch;
  const auto reply = call(request);
  const auto* body = std::get_if<protocol::GroupReply>(&reply.body);
  if (body == nullptr || body->group_index >= topic.view().max_groups ||
      body->member_index >= topic.view().max_group_members) {
    throw Error(ErrorCode::protocol_error, "the daemon answered join_group out of range");
  }
  std::lock_guard lock(mutex_);
  registrations_.push_back(
      {topic.topic_id(), topic.generation(), protocol::RecordKind::group_member,
       body->group_index * topic.view().max_group_members + body->member_index});
  return *body;
}

void ClientCore::leave_group(const MappedTopic& topic,
                             const protocol::GroupReply& member) noexcept {
  release_record({topic.topic_id(), topic.generation(), protocol::RecordKind::group_member,
                  member.group_index * topic.view().max_group_members + member.member_index},
                 protocol::LeaveGroup{topic.topic_id(), topic.generation(), member.group_index,
                                      member.member_index});
}

void ClientCore::declare_group(const MappedTopic& topic, std::string_view group,
                               const GroupSettings& settings) {
  check_group(group);
  protocol::DeclareGroup request{};
  request.topic_id = topic.topic_id();
  request.generation = topic.generation();
  protocol::copy_string(request.group, group);
  request.settings = to_protocol(settings);
  const auto reply = call(request);
  if (std::get_if<protocol::GroupReply>(&reply.body) == nullptr) {
    throw Error(ErrorCode::protocol_error, "the daemon answered declare_group with another reply");
  }
}

void ClientCore::remove_publisher(const MappedTopic& topic, std::uint32_t index) noexcept {
  release_record({topic.topic_id(), topic.generation(), protocol::RecordKind::publisher, index},
                 protocol::RemovePublisher{topic.topic_id(), topic.generation(), index, 0});
}

void ClientCore::remove_subscriber(const MappedTopic& topic, std::uint32_t index) noexcept {
  release_record({topic.topic_id(), topic.generation(), protocol::RecordKind::subscriber, index},
                 protocol::RemoveSubscriber{topic.topic_id(), topic.generation(), index, 0});
}

void ClientCore::release_record(const Registration& record,
                                const protocol::Body& removal) noexcept {
  // One locked region from the look at connected_ to the send: the monitor reconnects under the
  // same lock, so a removal is either sent on a live connection or kept for the next reconnect.
  std::lock_guard lock(mutex_);
  std::erase_if(registrations_, [&](const Registration& r) {
    return r.topic_id == record.topic_id && r.generation == record.generation &&
           r.kind == record.kind && r.index == record.index;
  });
  try {
    if (connected_.load(std::memory_order_relaxed)) {
      connection_.call(removal, kCallTimeout);
      return;
    }
  } catch (const Error& e) {
    // Refused (the topic is gone) or timed out (the daemon may still act on it): nothing to keep.
    // At worst the record is freed when this client's connection closes.
    if (e.code() != ErrorCode::disconnected) return;
    connected_.store(false, std::memory_order_relaxed);
  } catch (...) {
    return;  // out of memory for the request: as above
  }
  try {
    pending_removals_.push_back(removal);
  } catch (...) {
    // Out of memory: the record is freed with the connection instead.
  }
}

void ClientCore::send_pending_removals_locked() {
  while (!pending_removals_.empty()) {
    try {
      connection_.call(pending_removals_.back(), kCallTimeout);
    } catch (const Error& e) {
      // Lost the daemon again: keep the rest for the next reconnect. Refused: the record is gone.
      if (e.code() == ErrorCode::disconnected || e.code() == ErrorCode::timeout) throw;
    }
    pending_removals_.pop_back();
  }
}

bool ClientCore::reconnect_locked() {
  try {
    connection_.connect(bus_);
    const std::uint64_t old_id = client_id_;
    hello_locked(client_id_);
    if (client_id_ != old_id) {
      // The new daemon did not resume us: it has already reclaimed our records, so none of them
      // may be reattached or removed (another client may own them now).
      registrations_.clear();
      pending_removals_.clear();
    }
    std::vector<Registration> kept;
    for (const auto& r : registrations_) {
      try {
        connection_.call(protocol::Reattach{r.topic_id, r.generation,
                                            static_cast<std::uint32_t>(r.kind), r.index},
                         kCallTimeout);
        kept.push_back(r);
      } catch (const Error& e) {
        if (e.code() == ErrorCode::disconnected || e.code() == ErrorCode::timeout) throw;
        // The new daemon no longer knows this record (its topic is gone): drop it.
      }
    }
    registrations_ = std::move(kept);
    send_pending_removals_locked();
    connected_.store(true, std::memory_order_relaxed);
    connected_changed_.notify_all();
    return true;
  } catch (const Error&) {
    connection_.close();
    return false;
  }
}

void ClientCore::monitor() {
  for (;;) {
    int socket_fd = -1;
    {
      std::lock_guard lock(mutex_);
      socket_fd = connected_.load(std::memory_order_relaxed) ? connection_.fd() : -1;
    }
    if (socket_fd >= 0) {
      // Only hang-ups are asked for: replies are read by the caller that sent the request.
      pollfd fds[2] = {{socket_fd, POLLRDHUP, 0}, {shutdown_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 && errno == EINTR) continue;
      if ((fds[1].revents & POLLIN) != 0) return;
      if ((fds[0].revents & (POLLHUP | POLLRDHUP | POLLERR)) == 0) continue;
      std::lock_guard lock(mutex_);
      connection_.close();
      connected_.store(false, std::memory_order_relaxed);
    }
    // The daemon is gone: the data path goes on; try to reach its successor every 20 ms.
    for (;;) {
      pollfd shutdown{shutdown_fd_, POLLIN, 0};
      if (::poll(&shutdown, 1, kReconnectIntervalMs) > 0) return;
      std::lock_guard lock(mutex_);
      if (reconnect_locked()) break;
    }
  }
}

}  // namespace shmbus::detail
