// What a Responder holds: its member of the responders' group on the service topic, and
// publishers to the reply topics of the requesters it answered lately.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "client/group_core.hpp"
#include "client/publisher_core.hpp"
#include "shmbus/request_reply.hpp"

namespace shmbus::detail {

class ClientCore;

class ResponderCore {
 public:
  ResponderCore(std::shared_ptr<ClientCore> client, std::string_view service,
                const ResponderOptions& options, const TopicOptions& service_options);

  GroupCore& member() noexcept { return *member_; }
  [[nodiscard]] const GroupCore& member() const noexcept { return *member_; }
  Status reply(const Message& request, std::span<const std::byte> payload,
               const Properties* properties) noexcept;

 private:
  struct Route {
    std::string reply_topic;
    std::unique_ptr<PublisherCore> publisher;
    std::uint64_t last_use = 0;
  };
  // Requesters come and go (each has its own reply topic); this many routes are kept, the least
  // recently used one giving way.
  static constexpr std::size_t kMaxRoutes = 16;

  // The publisher to `reply_topic`, or nullptr with why: Status::ok when the topic is gone (its
  // requester left), not_a_request for a name that is no topic name, unreachable otherwise.
  PublisherCore* route(std::string_view reply_topic, Status& why) noexcept;

  std::shared_ptr<ClientCore> client_;
  ResponderOptions options_;
  std::unique_ptr<GroupCore> member_;
  std::vector<Route> routes_;
  std::uint64_t uses_ = 0;
  // The properties of the last reply; only the correlation id changes between plain replies.
  Properties reply_properties_;
  bool caller_properties_ = false;
};

}  // namespace shmbus::detail
