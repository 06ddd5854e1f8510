// Serves control requests: turns each decoded request of a session into the registries' actions
// and a reply, and cleans up after a session that ends.
#pragma once

#include <functional>

#include "client_registry.hpp"
#include "config.hpp"
#include "control_segment.hpp"
#include "control_server.hpp"
#include "group_registry.hpp"
#include "topic_registry.hpp"

namespace shmbus::daemon {

class RequestHandler final : public SessionHandler {
 public:
  // `reclaims_pending` is called whenever a publisher reclaim must be retried later.
  // `ack_timeouts_set` is called when a group with an ack timeout may have been created.
  RequestHandler(ControlSegment& control, TopicRegistry& topics, ClientRegistry& clients,
                 GroupRegistry& groups, std::function<void()> reclaims_pending,
                 std::function<void()> ack_timeouts_set);

  protocol::Body on_request(SessionState& session, const protocol::Message& request) override;
  void on_close(SessionState& session) override;

 private:
  protocol::Body dispatch(SessionState& session, const protocol::Message& request);
  protocol::Body hello(SessionState& session, const protocol::Hello& request);
  protocol::Body add_publisher(Client& client, const protocol::AddPublisher& request);
  protocol::Body add_subscriber(Client& client, const protocol::AddSubscriber& request);
  protocol::Body remove_publisher(Client& client, const protocol::RemovePublisher& request);
  protocol::Body remove_subscriber(Client& client, const protocol::RemoveSubscriber& request);
  protocol::Body reattach(Client& client, const protocol::Reattach& request);
  protocol::Body join_group(Client& client, const protocol::JoinGroup& request);
  protocol::Body leave_group(Client& client, const protocol::LeaveGroup& request);
  protocol::Body declare_group(Client& client, const protocol::DeclareGroup& request);
  Topic& topic(std::uint32_t id, std::uint32_t generation);
  // Deletes `t` if it is a temporary topic of `client` and the client holds no record on it
  // any more. `t` is gone afterwards.
  void delete_if_done_with(const Client& client, Topic& t);

  ControlSegment& control_;
  TopicRegistry& topics_;
  ClientRegistry& clients_;
  GroupRegistry& groups_;
  std::function<void()> reclaims_pending_;
  std::function<void()> ack_timeouts_set_;
};

}  // namespace shmbus::daemon
