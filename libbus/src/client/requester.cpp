#include <fmt/format.h>

#include <atomic>

#include "client/blocking_wait.hpp"
#include "client/client_core.hpp"
#include "client/requester_core.hpp"
#include "group/group_admin.hpp"
#include "layout/naming.hpp"
#include "rpc/correlation_id.hpp"
#include "shmbus/request_reply.hpp"

namespace shmbus {
namespace detail {
namespace {

// Reply topic names are unique on the bus: client ids are never reused, and this counter tells
// a process's requesters apart. '_' keeps them out of wildcard subscriptions.
std::string next_reply_topic_name(std::uint64_t client_id) {
  static std::atomic<std::uint64_t> counter{0};
  return fmt::format("_reply.{}.{}", client_id, counter.fetch_add(1, std::memory_order_relaxed));
}

}  // namespace

RequesterCore::RequesterCore(std::shared_ptr<ClientCore> client, std::string_view service,
                             const RequesterOptions& options, const TopicOptions& service_options)
    : options_(options) {
  if (auto why = naming::check_group_name(options_.group)) {
    throw Error(ErrorCode::invalid_name, *why);
  }
  if (options_.reply_slot_count < 2 || options_.reply_slot_count > Requester::kReplyWindow) {
    throw Error(ErrorCode::invalid_argument,
                fmt::format("reply_slot_count {} is not in 2..{}", options_.reply_slot_count,
                            Requester::kReplyWindow));
  }
  service_topic_ = client->open_topic(service, service_options);
  TopicOptions reply_options;
  reply_options.slot_size =
      options_.reply_slot_size != 0 ? options_.reply_slot_size : service_topic_->view().slot_size;
  reply_options.slot_count = options_.reply_slot_count;
  // block: no reply is ever overwritten unread; the in-flight bound in send() keeps responders
  // from waiting on a live requester.
  reply_options.policy = FullPolicy::block;
  reply_options.temporary = true;
  reply_topic_ = client->open_topic(next_reply_topic_name(client->id()), reply_options);
  SubscribeOptions subscribe;
  subscribe.wait = options_.wait;
  subscribe.spin_time = options_.spin_time;
  replies_ = std::make_unique<SubscriberCore>(client, reply_topic_, subscribe);
  requests_ = std::make_unique<PublisherCore>(client, service_topic_,
                                              PublisherOptions{options_.send_timeout});
  properties_.set(kReplyToProperty, reply_topic_->name());
  properties_.set(kCorrelationIdProperty, rpc::EncodedCorrelationId(0).view());
}

bool RequesterCore::has_responders() const noexcept {
  // A group exists while it has members or is declared (then it queues requests for later).
  return group::find_group(service_topic_->view(), options_.group).has_value();
}

Status RequesterCore::send(std::span<const std::byte> payload, const Properties* properties,
                           std::uint64_t& correlation_id) noexcept {
  // Every awaited reply has a slot of its own besides the one the last reply taken still holds,
  // so responders never find the reply topic full because of us.
  if (awaiting_ + 1 >= reply_topic_->view().slot_count) return Status::full;
  if (next_id_ - oldest_pending_ >= Requester::kReplyWindow) return Status::full;
  if (!has_responders()) return Status::no_responders;
  const std::uint64_t id = next_id_;
  try {
    if (properties != nullptr || caller_properties_) {
      properties_ = properties != nullptr ? *properties : Properties{};
      properties_.set(kReplyToProperty, reply_topic_->name());
      caller_properties_ = properties != nullptr;
    }
    // Same length as the id it replaces: rewritten in place, no allocation (Properties::set).
    properties_.set(kCorrelationIdProperty, rpc::EncodedCorrelationId(id).view());
  } catch (...) {
    caller_properties_ = true;  // rebuild from scratch next time
    return Status::too_large;   // the caller's properties leave no room for reply-to and the id
  }
  const Status status = requests_->publish(payload, properties_, options_.send_timeout);
  if (status != Status::ok) return status;
  answered_.reset(id % Requester::kReplyWindow);
  ++next_id_;
  ++awaiting_;
  correlation_id = id;
  return Status::ok;
}

bool RequesterCore::take_pending(std::uint64_t id) noexcept {
  if (id < oldest_pending_ || id >= next_id_) return false;  // settled long ago, or never sent
  const std::size_t bit = id % Requester::kReplyWindow;
  if (answered_.test(bit)) return false;
  answered_.set(bit);
  --awaiting_;
  // Slide the window past the answered prefix; send() clears a bit before reusing it.
  while (oldest_pending_ < next_id_ && answered_.test(oldest_pending_ % Requester::kReplyWindow))
    ++oldest_pending_;
  return true;
}

template <typename Accept>
bool RequesterCore::poll(Message& reply, Accept& accept) noexcept {
  while (replies_->try_receive(reply) == Status::ok) {
    const auto id = correlation_id(reply);
    if (id && accept(*id)) return true;
  }
  return false;
}

template <typename Accept>
Status RequesterCore::receive(Message& reply, std::chrono::nanoseconds timeout,
                              Accept&& accept) noexcept {
  if (timeout <= std::chrono::nanoseconds::zero()) {
    return poll(reply, accept) ? Status::ok : Status::empty;
  }
  return wait_for_message(
      *reply_topic_->view().header, options_.wait, options_.spin_time, timeout,
      [&] { return poll(reply, accept); }, [&] { return replies_->reader().claim_in_flight(); });
}

Status RequesterCore::request(std::span<const std::byte> payload, const Properties* properties,
                              Message& reply, std::chrono::nanoseconds timeout) noexcept {
  std::uint64_t id = 0;
  const Status sent = send(payload, properties, id);
  if (sent != Status::ok) return sent;
  const Status status = receive(reply, timeout, [&](std::uint64_t reply_id) {
    // Replies to other requests are taken (so they never come back later) and dropped.
    return take_pending(reply_id) && reply_id == id;
  });
  if (status != Status::ok) take_pending(id);  // given up: a late reply is dropped
  return status;
}

}  // namespace detail

std::optional<std::uint64_t> correlation_id(const Message& message) noexcept {
  const auto text = message.properties().get(kCorrelationIdProperty);
  if (!text) return std::nullopt;
  return rpc::parse_correlation_id(*text);
}

Requester::Requester() = default;
Requester::Requester(std::unique_ptr<detail::RequesterCore> core) : core_(std::move(core)) {}
Requester::Requester(Requester&&) noexcept = default;
Requester& Requester::operator=(Requester&&) noexcept = default;
Requester::~Requester() = default;

Status Requester::request(std::span<const std::byte> payload, Message& reply,
                          std::chrono::nanoseconds timeout) noexcept {
  return core_ ? core_->request(payload, nullptr, reply, timeout) : Status::closed;
}

Status Requester::request(std::span<const std::byte> payload, const Properties& properties,
                          Message& reply, std::chrono::nanoseconds timeout) noexcept {
  return core_ ? core_->request(payload, &properties, reply, timeout) : Status::closed;
}

Status Requester::send(std::span<const std::byte> payload, std::uint64_t& correlation_id) noexcept {
  return core_ ? core_->send(payload, nullptr, correlation_id) : Status::closed;
}

Status Requester::send(std::span<const std::byte> payload, const Properties& properties,
                       std::uint64_t& correlation_id) noexcept {
  return core_ ? core_->send(payload, &properties, correlation_id) : Status::closed;
}

Status Requester::receive_reply(Message& reply, std::chrono::nanoseconds timeout) noexcept {
  if (!core_) return Status::closed;
  return core_->receive(reply, timeout,
                        [&](std::uint64_t reply_id) { return core_->take_pending(reply_id); });
}

bool Requester::abandon(std::uint64_t correlation_id) noexcept {
  return core_ && core_->take_pending(correlation_id);
}

Status Requester::try_receive_reply(Message& reply) noexcept {
  return receive_reply(reply, std::chrono::nanoseconds::zero());
}

int Requester::fd() {
  if (!core_) throw Error(ErrorCode::invalid_argument, "fd() of a moved-from Requester");
  return core_->fd();
}

const std::string& Requester::service() const noexcept {
  static const std::string kNone;
  return core_ ? core_->service() : kNone;
}

const std::string& Requester::reply_topic() const noexcept {
  static const std::string kNone;
  return core_ ? core_->reply_topic() : kNone;
}

}  // namespace shmbus
