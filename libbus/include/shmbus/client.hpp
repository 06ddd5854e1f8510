// Attaching to a bus.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "shmbus/group.hpp"
#include "shmbus/pattern_subscriber.hpp"
#include "shmbus/publisher.hpp"
#include "shmbus/request_reply.hpp"
#include "shmbus/subscriber.hpp"
#include "shmbus/topic_options.hpp"

namespace shmbus {

namespace detail {
class ClientCore;
}

struct ClientOptions {
  std::string bus;   // empty: $SHMBUS_BUS, else "default"
  std::string name;  // shown by `shmbus ls`; empty: the program's name
};

struct Versions {
  std::string library;
  std::string daemon;
  std::uint32_t layout = 0;
  std::uint32_t protocol = 0;
};

// A process's attachment to one bus. Throws shmbus::Error when no daemon serves the bus, on a
// version mismatch or when access is refused. Publishers and subscribers keep the attachment
// alive while they exist; the last one to go detaches. If the daemon restarts, the client
// reconnects and re-registers on its own; messages keep flowing meanwhile.
class Client {
 public:
  explicit Client(ClientOptions options = {});
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  [[nodiscard]] const std::string& bus() const noexcept;
  [[nodiscard]] std::uint64_t id() const noexcept;
  [[nodiscard]] Versions versions() const;

  // Opens (creating on first use) `topic` and adds a publisher or a subscriber to it.
  Publisher publisher(std::string_view topic, const TopicOptions& topic_options = {},
                      const PublisherOptions& options = {});
  Subscriber subscriber(std::string_view topic, const SubscribeOptions& options = {},
                        const TopicOptions& topic_options = {});

  // Joins shared subscription group `group` of `topic` (creating topic and group on first use):
  // each message goes to exactly one member of the group. Throws invalid_name, invalid_argument,
  // limit_reached, topic_mismatch (dead-letter topic too small), permission_denied.
  GroupConsumer join_group(std::string_view topic, std::string_view group,
                           const GroupOptions& options = {},
                           const TopicOptions& topic_options = {});
  // Creates `group` on `topic` if absent and makes it durable: it keeps its backlog while it has
  // no members, so work published during a consumer outage waits for the next consumer.
  void declare_group(std::string_view topic, std::string_view group,
                     const GroupSettings& settings = {}, const TopicOptions& topic_options = {});
  // Subscribes to every topic matching `pattern` ('*' one level, '#' zero or more: "md.*.AAPL",
  // "md.#"), now and as topics are created. Throws Error(invalid_name) for a bad pattern.
  PatternSubscriber pattern_subscriber(std::string_view pattern,
                                       const SubscribeOptions& options = {});

  // Request/reply on service topic `service`: a requester (with its own temporary reply topic)
  // and a responder (a member of the responders' group on the topic). Throw as join_group does.
  Requester requester(std::string_view service, const RequesterOptions& options = {},
                      const TopicOptions& service_options = {});
  Responder responder(std::string_view service, const ResponderOptions& options = {},
                      const TopicOptions& service_options = {});

  // The shape of a topic, creating it on first use.
  TopicInfo open_topic(std::string_view topic, const TopicOptions& topic_options = {});

 private:
  std::shared_ptr<detail::ClientCore> core_;
};

// True when a daemon (or an embedded supervisor) answers on the bus's control socket.
bool daemon_serves(std::string_view bus);

}  // namespace shmbus
