#include <algorithm>

#include "client/client_core.hpp"
#include "client/message_access.hpp"
#include "client/responder_core.hpp"
#include "rpc/correlation_id.hpp"
#include "shmbus/request_reply.hpp"

namespace shmbus {
namespace detail {

ResponderCore::ResponderCore(std::shared_ptr<ClientCore> client, std::string_view service,
                             const ResponderOptions& options, const TopicOptions& service_options)
    : client_(std::move(client)), options_(options) {
  member_ = std::make_unique<GroupCore>(client_, client_->open_topic(service, service_options),
                                        options_.group, options_.consumer);
  routes_.reserve(kMaxRoutes);
}

PublisherCore* ResponderCore::route(std::string_view reply_topic, Status& why) noexcept {
  ++uses_;
  for (Route& known : routes_) {
    if (known.reply_topic == reply_topic) {
      known.last_use = uses_;
      return known.publisher.get();
    }
  }
  // A requester seen for the first time: one control round trip, then shared memory only.
  try {
    auto topic = client_->open_topic(reply_topic, {}, protocol::OpenFlags::must_exist);
    auto publisher = std::make_unique<PublisherCore>(client_, std::move(topic),
                                                     PublisherOptions{options_.reply_timeout});
    if (routes_.size() == kMaxRoutes) {
      routes_.erase(
          std::min_element(routes_.begin(), routes_.end(),
                           [](const Route& a, const Route& b) { return a.last_use < b.last_use; }));
    }
    routes_.push_back({std::string(reply_topic), std::move(publisher), uses_});
    return routes_.back().publisher.get();
  } catch (const Error& e) {
    why = e.code() == ErrorCode::not_found      ? Status::ok
          : e.code() == ErrorCode::invalid_name ? Status::not_a_request
                                                : Status::unreachable;
  } catch (...) {
    why = Status::unreachable;
  }
  return nullptr;
}

Status ResponderCore::reply(const Message& request, std::span<const std::byte> payload,
                            const Properties* properties) noexcept {
  if (MessageAccess::delivered_by(request) != member_.get()) return Status::not_held;
  const MessageProperties request_properties = request.properties();
  const auto reply_to = request_properties.get(kReplyToProperty);
  const auto id_text = request_properties.get(kCorrelationIdProperty);
  if (!reply_to || !id_text || !rpc::parse_correlation_id(*id_text)) return Status::not_a_request;
  Status why = Status::ok;
  PublisherCore* publisher = route(*reply_to, why);
  if (publisher == nullptr) {
    // Its requester has gone: nobody waits for the reply, so the request is done with.
    if (why == Status::ok) return member_->settle(request, group::Outcome::acked);
    return why;
  }
  try {
    if (properties != nullptr || caller_properties_) {
      reply_properties_ = properties != nullptr ? *properties : Properties{};
      caller_properties_ = properties != nullptr;
    }
    // Without properties of the caller's, only the id changes: rewritten in place, no allocation.
    reply_properties_.set(kCorrelationIdProperty, *id_text);
  } catch (...) {
    caller_properties_ = true;  // rebuild from scratch next time
    return Status::too_large;   // the caller's properties leave no room for the correlation id
  }
  const Status published = publisher->publish(payload, reply_properties_, options_.reply_timeout);
  if (published != Status::ok) return published;  // still held: reply again or reject
  return member_->settle(request, group::Outcome::acked);
}

}  // namespace detail

Responder::Responder() = default;
Responder::Responder(std::unique_ptr<detail::ResponderCore> core) : core_(std::move(core)) {}
Responder::Responder(Responder&&) noexcept = default;
Responder& Responder::operator=(Responder&&) noexcept = default;
Responder::~Responder() = default;

Status Responder::try_receive(Message& request) noexcept {
  return core_ ? core_->member().try_receive(request) : Status::closed;
}

Status Responder::receive(Message& request, std::chrono::nanoseconds timeout) noexcept {
  return core_ ? core_->member().receive(request, timeout) : Status::closed;
}

Status Responder::receive_spin(Message& request, std::chrono::nanoseconds timeout) noexcept {
  return core_ ? core_->member().receive_spin(request, timeout) : Status::closed;
}

Status Responder::reply(const Message& request, std::span<const std::byte> payload) noexcept {
  return core_ ? core_->reply(request, payload, nullptr) : Status::closed;
}

Status Responder::reply(const Message& request, std::span<const std::byte> payload,
                        const Properties& properties) noexcept {
  return core_ ? core_->reply(request, payload, &properties) : Status::closed;
}

Status Responder::reject(const Message& request, Nack action) noexcept {
  if (!core_) return Status::closed;
  return action == Nack::dead_letter ? core_->member().dead_letter(request)
                                     : core_->member().settle(request, group::Outcome::requeued);
}

int Responder::fd() {
  if (!core_) throw Error(ErrorCode::invalid_argument, "fd() of a moved-from Responder");
  return core_->member().fd();
}

std::size_t Responder::in_flight() const noexcept {
  return core_ ? core_->member().reader().in_flight() : 0;
}

const std::string& Responder::service() const noexcept {
  static const std::string kNone;
  return core_ ? core_->member().topic().name() : kNone;
}

const std::string& Responder::group() const noexcept {
  static const std::string kNone;
  return core_ ? core_->member().group() : kNone;
}

}  // namespace shmbus
