#include "shmbus/client.hpp"

#include <sys/socket.h>

#include "client/client_core.hpp"
#include "client/group_core.hpp"
#include "client/pattern_subscriber_core.hpp"
#include "client/publisher_core.hpp"
#include "client/requester_core.hpp"
#include "client/responder_core.hpp"
#include "client/subscriber_core.hpp"

namespace shmbus {

Client::Client(ClientOptions options)
    : core_(std::make_shared<detail::ClientCore>(std::move(options))) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

const std::string& Client::bus() const noexcept {
  return core_->bus();
}
std::uint64_t Client::id() const noexcept {
  return core_->id();
}
Versions Client::versions() const {
  return core_->versions();
}

Publisher Client::publisher(std::string_view topic, const TopicOptions& topic_options,
                            const PublisherOptions& options) {
  auto mapped = core_->open_topic(topic, topic_options);
  return Publisher(std::make_unique<detail::PublisherCore>(core_, std::move(mapped), options));
}

Subscriber Client::subscriber(std::string_view topic, const SubscribeOptions& options,
                              const TopicOptions& topic_options) {
  if (auto why = check_filter(options.filter)) throw Error(ErrorCode::invalid_argument, *why);
  auto mapped = core_->open_topic(topic, topic_options);
  return Subscriber(std::make_unique<detail::SubscriberCore>(core_, std::move(mapped), options));
}

GroupConsumer Client::join_group(std::string_view topic, std::string_view group,
                                 const GroupOptions& options, const TopicOptions& topic_options) {
  auto mapped = core_->open_topic(topic, topic_options);
  return GroupConsumer(
      std::make_unique<detail::GroupCore>(core_, std::move(mapped), std::string(group), options));
}

void Client::declare_group(std::string_view topic, std::string_view group,
                           const GroupSettings& settings, const TopicOptions& topic_options) {
  auto mapped = core_->open_topic(topic, topic_options);
  core_->declare_group(*mapped, group, settings);
}

PatternSubscriber Client::pattern_subscriber(std::string_view pattern,
                                             const SubscribeOptions& options) {
  return PatternSubscriber(
      std::make_unique<detail::PatternSubscriberCore>(core_, pattern, options));
}

Requester Client::requester(std::string_view service, const RequesterOptions& options,
                            const TopicOptions& service_options) {
  return Requester(
      std::make_unique<detail::RequesterCore>(core_, service, options, service_options));
}

Responder Client::responder(std::string_view service, const ResponderOptions& options,
                            const TopicOptions& service_options) {
  return Responder(
      std::make_unique<detail::ResponderCore>(core_, service, options, service_options));
}

TopicInfo Client::open_topic(std::string_view topic, const TopicOptions& topic_options) {
  return core_->open_topic(topic, topic_options)->info();
}

bool daemon_serves(std::string_view bus) {
  try {
    detail::ControlConnection connection;
    connection.connect(std::string(bus));
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace shmbus
