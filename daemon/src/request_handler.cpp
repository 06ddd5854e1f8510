#include "request_handler.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "layout/naming.hpp"
#include "ring/records.hpp"
#include "shmbus/error.hpp"
#include "shmbus/version.hpp"

namespace shmbus::daemon {
namespace {

constexpr auto kActive = static_cast<std::uint32_t>(layout::EntryState::active);

Error not_found_record(std::string_view kind, std::uint32_t index, const Topic& topic) {
  return {ErrorCode::not_found,
          fmt::format("{} record {} of topic '{}' is not in use", kind, index, topic.name)};
}

Error not_owner(std::string_view kind, std::uint32_t index, const Topic& topic,
                std::uint64_t client) {
  return {ErrorCode::permission_denied,
          fmt::format("{} record {} of topic '{}' does not belong to client {}", kind, index,
                      topic.name, client)};
}

void forget(std::vector<RecordRef>& records, const RecordRef& ref) {
  std::erase(records, ref);
}

// Throws unless the client's uid/gid may `verb` the topic (topics the config does not declare
// are open to everyone who can reach the socket).
void check_access(const Client& client, const Topic& topic, const Acl TopicConfig::*acl,
                  std::string_view verb) {
  if (topic.config == nullptr || (topic.config->*acl).allows(client.peer.uid, client.peer.gid)) {
    return;
  }
  throw Error(ErrorCode::permission_denied,
              fmt::format("uid {} gid {} may not {} topic '{}'", client.peer.uid, client.peer.gid,
                          verb, topic.name));
}

// Throws unless record `index` of `records` is in use and belongs to `client_id`.
template <typename Record>
void check_owned(std::string_view kind, const Record* records, std::uint32_t count,
                 std::uint32_t index, const Topic& topic, std::uint64_t client_id) {
  if (index >= count || records[index].state.load(std::memory_order_relaxed) != kActive) {
    throw not_found_record(kind, index, topic);
  }
  if (records[index].owner_client_id.load(std::memory_order_relaxed) != client_id) {
    throw not_owner(kind, index, topic, client_id);
  }
}

}  // namespace

RequestHandler::RequestHandler(ControlSegment& control, TopicRegistry& topics,
                               ClientRegistry& clients, GroupRegistry& groups,
                               std::function<void()> reclaims_pending,
                               std::function<void()> ack_timeouts_set)
    : control_(control),
      topics_(topics),
      clients_(clients),
      groups_(groups),
      reclaims_pending_(std::move(reclaims_pending)),
      ack_timeouts_set_(std::move(ack_timeouts_set)) {}

protocol::Body RequestHandler::on_request(SessionState& session, const protocol::Message& request) {
  try {
    return dispatch(session, request);
  } catch (const Error& e) {
    spdlog::debug("session {}: request {} refused: {}", session.session_id,
                  static_cast<unsigned>(request.type), e.what());
    return protocol::make_error(e.code(), e.what());
  } catch (const std::exception& e) {
    spdlog::error("session {}: request {} failed: {}", session.session_id,
                  static_cast<unsigned>(request.type), e.what());
    return protocol::make_error(ErrorCode::io_error, e.what());
  }
}

void RequestHandler::on_close(SessionState& session) {
  if (session.client_id == 0) return;
  clients_.remove(session.client_id);
  session.client_id = 0;
  if (clients_.has_pending_reclaims()) reclaims_pending_();
}

protocol::Body RequestHandler::dispatch(SessionState& session, const protocol::Message& request) {
  using protocol::MessageType;
  if (request.type == MessageType::hello) {
    return hello(session, std::get<protocol::Hello>(request.body));
  }
  const bool is_request = static_cast<std::uint16_t>(request.type) < 100;
  if (!is_request) {
    throw Error(ErrorCode::protocol_error,
                fmt::format("control message type {} is a reply, not a request",
                            static_cast<unsigned>(request.type)));
  }
  Client* client = session.client_id == 0 ? nullptr : clients_.find(session.client_id);
  if (client == nullptr) {
    throw Error(ErrorCode::protocol_error, "a connection must start with Hello");
  }
  switch (request.type) {
    case MessageType::open_topic: {
      const Topic& t = topics_.open(std::get<protocol::OpenTopic>(request.body), client->id);
      const auto& h = *t.view.header;
      protocol::TopicReply reply{};
      reply.topic_id = t.id;
      reply.generation = t.generation;
      reply.slot_size = h.slot_size;
      reply.slot_count = h.slot_count;
      reply.policy = h.policy;
      reply.segment_size = h.segment_size;
      protocol::copy_string(reply.segment_name, t.segment.name());
      return reply;
    }
    case MessageType::add_publisher:
      return add_publisher(*client, std::get<protocol::AddPublisher>(request.body));
    case MessageType::add_subscriber:
      return add_subscriber(*client, std::get<protocol::AddSubscriber>(request.body));
    case MessageType::remove_publisher:
      return remove_publisher(*client, std::get<protocol::RemovePublisher>(request.body));
    case MessageType::remove_subscriber:
      return remove_subscriber(*client, std::get<protocol::RemoveSubscriber>(request.body));
    case MessageType::reattach:
      return reattach(*client, std::get<protocol::Reattach>(request.body));
    case MessageType::join_group:
      return join_group(*client, std::get<protocol::JoinGroup>(request.body));
    case MessageType::leave_group:
      return leave_group(*client, std::get<protocol::LeaveGroup>(request.body));
    case MessageType::declare_group:
      return declare_group(*client, std::get<protocol::DeclareGroup>(request.body));
    default:
      throw Error(ErrorCode::protocol_error, fmt::format("control message type {} is not served",
                                                         static_cast<unsigned>(request.type)));
  }
}

protocol::Body RequestHandler::hello(SessionState& session, const protocol::Hello& request) {
  if (session.client_id != 0) {
    throw Error(ErrorCode::protocol_error, "Hello was sent twice on one connection");
  }
  if (request.layout_version != layout::kLayoutVersion) {
    throw Error(ErrorCode::version_mismatch,
                fmt::format("the client speaks shared-memory layout version {}, this daemon "
                            "version {}: use a libshmbus and shmbusd of the same release",
                            request.layout_version, layout::kLayoutVersion));
  }
  const std::string_view name = protocol::view_string(request.client_name);
  Client* client = nullptr;
  if (request.resume_client_id != 0) {
    client = clients_.resume(request.resume_client_id, session.peer);
    if (client != nullptr) {
      spdlog::info("client {} (pid {}) resumed its session", client->id, client->peer.pid);
    } else {
      // Its records were reclaimed meanwhile; the client sees a new id and starts over.
      spdlog::info("client {} cannot be resumed (unknown); registering pid {} afresh",
                   request.resume_client_id, session.peer.pid);
    }
  }
  if (client == nullptr) {
    client = &clients_.add(session.peer, name);
    spdlog::info("client {} '{}' attached (pid {}, uid {}, gid {})", client->id, name,
                 session.peer.pid, session.peer.uid, session.peer.gid);
  }
  session.client_id = client->id;
  protocol::HelloReply reply{};
  reply.client_id = client->id;
  reply.epoch = control_.epoch();
  reply.daemon_version = kVersionPacked;
  reply.layout_version = layout::kLayoutVersion;
  protocol::copy_string(reply.control_segment, control_.name());
  return reply;
}

Topic& RequestHandler::topic(std::uint32_t id, std::uint32_t generation) {
  Topic* t = topics_.find(id, generation);
  if (t == nullptr) {
    throw Error(ErrorCode::not_found,
                fmt::format("no topic has id {} and generation {}", id, generation));
  }
  return *t;
}

void RequestHandler::delete_if_done_with(const Client& client, Topic& t) {
  if (t.owner_client_id != client.id) return;
  const auto on_topic = [&](const RecordRef& ref) {
    return ref.topic_id == t.id && ref.generation == t.generation;
  };
  if (std::any_of(client.publishers.begin(), client.publishers.end(), on_topic) ||
      std::any_of(client.subscribers.begin(), client.subscribers.end(), on_topic) ||
      std::any_of(client.members.begin(), client.members.end(), on_topic)) {
    return;
  }
  topics_.remove(t);
}

protocol::Body RequestHandler::add_publisher(Client& client,
                                             const protocol::AddPublisher& request) {
  Topic& t = topic(request.topic_id, request.generation);
  check_access(client, t, &TopicConfig::publish, "publish to");
  const std::uint64_t publisher_id = clients_.next_publisher_id(client);
  const auto index = ring::allocate_publisher(t.view, client.id, publisher_id);
  if (!index) {
    throw Error(ErrorCode::limit_reached, fmt::format("topic '{}' has {} publishers, its limit",
                                                      t.name, t.view.max_publishers));
  }
  client.publishers.push_back({t.id, t.generation, *index});
  spdlog::debug("client {} publishes to '{}' (record {}, id {:#x})", client.id, t.name, *index,
                publisher_id);
  return protocol::PublisherReply{*index, 0, publisher_id};
}

protocol::Body RequestHandler::add_subscriber(Client& client,
                                              const protocol::AddSubscriber& request) {
  Topic& t = topic(request.topic_id, request.generation);
  check_access(client, t, &TopicConfig::subscribe, "subscribe to");
  if (request.start > static_cast<std::uint32_t>(protocol::StartFrom::last_n)) {
    throw Error(ErrorCode::invalid_argument,
                fmt::format("start position {} is not latest (0), earliest (1) or last_n (2)",
                            request.start));
  }
  const std::uint64_t start =
      ring::start_sequence(t.view, static_cast<protocol::StartFrom>(request.start), request.last_n);
  const auto index = ring::allocate_subscriber(t.view, client.id, start);
  if (!index) {
    throw Error(ErrorCode::limit_reached, fmt::format("topic '{}' has {} subscribers, its limit",
                                                      t.name, t.view.max_subscribers));
  }
  client.subscribers.push_back({t.id, t.generation, *index});
  spdlog::debug("client {} subscribes to '{}' (record {}, from {})", client.id, t.name, *index,
                start);
  return protocol::SubscriberReply{*index, 0, start};
}

protocol::Body RequestHandler::remove_publisher(Client& client,
                                                const protocol::RemovePublisher& request) {
  Topic& t = topic(request.topic_id, request.generation);
  check_owned("publisher", t.view.publishers, t.view.max_publishers, request.index, t, client.id);
  forget(client.publishers, {t.id, t.generation, request.index});
  clients_.reclaim_publisher(t, request.index);
  if (clients_.has_pending_reclaims()) reclaims_pending_();
  delete_if_done_with(client, t);
  return protocol::OkReply{0};
}

protocol::Body RequestHandler::remove_subscriber(Client& client,
                                                 const protocol::RemoveSubscriber& request) {
  Topic& t = topic(request.topic_id, request.generation);
  check_owned("subscriber", t.view.subscribers, t.view.max_subscribers, request.index, t,
              client.id);
  forget(client.subscribers, {t.id, t.generation, request.index});
  ring::release_subscriber(t.view, request.index);
  delete_if_done_with(client, t);
  return protocol::OkReply{0};
}

protocol::Body RequestHandler::reattach(Client& client, const protocol::Reattach& request) {
  Topic& t = topic(request.topic_id, request.generation);
  const RecordRef ref{t.id, t.generation, request.index};
  if (request.kind == static_cast<std::uint32_t>(protocol::RecordKind::publisher)) {
    check_owned("publisher", t.view.publishers, t.view.max_publishers, request.index, t, client.id);
    if (std::find(client.publishers.begin(), client.publishers.end(), ref) ==
        client.publishers.end()) {
      client.publishers.push_back(ref);
    }
  } else if (request.kind == static_cast<std::uint32_t>(protocol::RecordKind::subscriber)) {
    check_owned("subscriber", t.view.subscribers, t.view.max_subscribers, request.index, t,
                client.id);
    if (std::find(client.subscribers.begin(), client.subscribers.end(), ref) ==
        client.subscribers.end()) {
      client.subscribers.push_back(ref);
    }
  } else if (request.kind == static_cast<std::uint32_t>(protocol::RecordKind::group_member)) {
    const std::uint64_t members = std::uint64_t{t.view.max_groups} * t.view.max_group_members;
    check_owned("group member", t.view.members, static_cast<std::uint32_t>(members), request.index,
                t, client.id);
    if (std::find(client.members.begin(), client.members.end(), ref) == client.members.end()) {
      client.members.push_back(ref);
    }
  } else {
    throw Error(ErrorCode::invalid_argument,
                fmt::format("record kind {} is not publisher (0), subscriber (1) or group "
                            "member (2)",
                            request.kind));
  }
  spdlog::debug("client {} reattached record {} (kind {}) of '{}'", client.id, request.index,
                request.kind, t.name);
  return protocol::OkReply{0};
}

protocol::Body RequestHandler::join_group(Client& client, const protocol::JoinGroup& request) {
  Topic& t = topic(request.topic_id, request.generation);
  check_access(client, t, &TopicConfig::subscribe, "subscribe to");
  const auto reply = groups_.join(client, t, request);
  if (request.settings.ack_timeout_ms != 0) ack_timeouts_set_();
  return reply;
}

protocol::Body RequestHandler::leave_group(Client& client, const protocol::LeaveGroup& request) {
  Topic& t = topic(request.topic_id, request.generation);
  if (request.group_index >= t.view.max_groups ||
      request.member_index >= t.view.max_group_members) {
    throw not_found_record("group member", request.member_index, t);
  }
  const std::uint32_t flat = request.group_index * t.view.max_group_members + request.member_index;
  check_owned("group member", t.view.members, t.view.max_groups * t.view.max_group_members, flat, t,
              client.id);
  forget(client.members, {t.id, t.generation, flat});
  daemon::leave_group(t, request.group_index, request.member_index);
  delete_if_done_with(client, t);
  return protocol::OkReply{0};
}

protocol::Body RequestHandler::declare_group(Client& client,
                                             const protocol::DeclareGroup& request) {
  Topic& t = topic(request.topic_id, request.generation);
  check_access(client, t, &TopicConfig::subscribe, "declare a group on");
  const auto reply = groups_.declare(t, request);
  if (request.settings.ack_timeout_ms != 0) ack_timeouts_set_();
  return reply;
}

}  // namespace shmbus::daemon
