// Request/reply over shared memory, as RPC over a message queue: a Requester publishes a request
// on a service topic with a reply-to topic and a correlation id; Responders form a shared
// subscription group on that topic, so requests are load-balanced, and a responder that dies
// before replying has its request redelivered to another one. Replies travel over shared memory
// too, on the requester's own temporary topic.
//
// Guarantees (docs/messaging.md has the whole story):
//   - a request is answered at least once while responders live (redelivery as in any group);
//   - request() returns at most one reply per request, and only the reply to that request: a
//     duplicate (a responder died after replying but before its ack) or a late reply to a request
//     that timed out is dropped;
//   - a reply to a requester that has gone is dropped (as an unroutable AMQP message).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "shmbus/error.hpp"
#include "shmbus/group.hpp"
#include "shmbus/message.hpp"
#include "shmbus/properties.hpp"
#include "shmbus/subscriber.hpp"

namespace shmbus {

namespace detail {
class RequesterCore;
class ResponderCore;
}  // namespace detail

// Properties every request carries; a reply carries the correlation id of its request.
inline constexpr std::string_view kReplyToProperty = "reply-to";
inline constexpr std::string_view kCorrelationIdProperty = "correlation-id";
inline constexpr std::string_view kDefaultResponderGroup = "responders";

// The correlation id a request or reply carries, or nullopt if it has none (or a malformed one).
std::optional<std::uint64_t> correlation_id(const Message& message) noexcept;

struct RequesterOptions {
  // The responders' group on the service topic.
  std::string group = std::string(kDefaultResponderGroup);
  // Shape of this requester's reply topic: slots of reply_slot_size bytes (0: the service
  // topic's slot size), reply_slot_count of them (a power of two, 2..kReplyWindow). At most
  // reply_slot_count - 1 requests await their replies at once, so that a responder never finds
  // a live requester's reply topic full (and a dead requester's topic gates no one).
  std::uint32_t reply_slot_size = 0;
  std::uint32_t reply_slot_count = 64;
  // How long sending waits for room when the service topic is full (block policy).
  std::chrono::nanoseconds send_timeout = std::chrono::seconds(1);
  WaitMode wait = WaitMode::adaptive;
  std::chrono::nanoseconds spin_time = std::chrono::microseconds(20);
};

class Requester {
 public:
  Requester();
  Requester(Requester&&) noexcept;
  Requester& operator=(Requester&&) noexcept;
  ~Requester();  // deletes the reply topic: replies still in flight are dropped

  // Sends `payload` and waits for its reply, which stays valid until the next call on this
  // requester. Status::no_responders at once when the service has no responder group (neither
  // a live responder nor a declared group that queues requests); Status::timeout when no reply
  // came in time (a reply after that is dropped); too_large when the payload and properties do
  // not fit the service's slots; full as for send(). Replies to earlier requests that arrive
  // meanwhile are dropped.
  Status request(std::span<const std::byte> payload, Message& reply,
                 std::chrono::nanoseconds timeout) noexcept;
  Status request(std::span<const std::byte> payload, const Properties& properties, Message& reply,
                 std::chrono::nanoseconds timeout) noexcept;

  // Several requests in flight: send() them, then receive_reply() and match correlation_id().
  // receive_reply returns each request's reply at most once. A request awaits its reply until
  // the reply comes or abandon(id) gives up on it (a reply after that is dropped). send() returns
  // Status::full while reply_slot_count - 1 requests await replies, or while the oldest of them
  // is kReplyWindow requests back: take replies (or abandon requests), then send again.
  static constexpr std::uint64_t kReplyWindow = 1024;
  Status send(std::span<const std::byte> payload, std::uint64_t& correlation_id) noexcept;
  Status send(std::span<const std::byte> payload, const Properties& properties,
              std::uint64_t& correlation_id) noexcept;
  Status receive_reply(Message& reply, std::chrono::nanoseconds timeout) noexcept;
  // False if request `correlation_id` was not awaiting a reply.
  bool abandon(std::uint64_t correlation_id) noexcept;
  Status try_receive_reply(Message& reply) noexcept;  // Status::empty when none waits

  // Readable while replies wait; drain with try_receive_reply until Status::empty to re-arm.
  [[nodiscard]] int fd();
  [[nodiscard]] const std::string& service() const noexcept;
  [[nodiscard]] const std::string& reply_topic() const noexcept;
  [[nodiscard]] explicit operator bool() const noexcept { return core_ != nullptr; }

 private:
  friend class Client;
  explicit Requester(std::unique_ptr<detail::RequesterCore> core);
  std::unique_ptr<detail::RequesterCore> core_;
};

struct ResponderOptions {
  // The group this responder joins on the service topic; requesters name the same one.
  std::string group = std::string(kDefaultResponderGroup);
  // The group member behind the responder: prefetch, wait mode, and the group's settings (an ack
  // timeout redelivers a request a hung responder holds; max deliveries dead-letters a request
  // that keeps killing responders).
  GroupOptions consumer;
  // How long a reply may wait for room on its reply topic: only when replies pile up beyond the
  // requester's in-flight bound (duplicates after redeliveries) while it does not read them.
  // Status::timeout then, and the request stays held.
  std::chrono::nanoseconds reply_timeout = std::chrono::milliseconds(100);
};

class Responder {
 public:
  Responder();
  Responder(Responder&&) noexcept;
  Responder& operator=(Responder&&) noexcept;
  ~Responder();  // leaves the group: requests not yet answered go to another responder

  // The next request; it stays valid until replied to or rejected.
  Status try_receive(Message& request) noexcept;
  Status receive(Message& request, std::chrono::nanoseconds timeout) noexcept;
  Status receive_spin(Message& request, std::chrono::nanoseconds timeout) noexcept;

  // Publishes the reply on the request's reply-to topic with its correlation id, then acks the
  // request. A request whose requester has gone is acked and the reply dropped (Status::ok).
  // Status::not_a_request: the message has no reply-to or correlation id (left unsettled);
  // Status::unreachable: the reply topic cannot be opened now (daemon away, access refused; the
  // request stays held, so reply again or reject it); too_large: the reply does not fit.
  Status reply(const Message& request, std::span<const std::byte> payload) noexcept;
  Status reply(const Message& request, std::span<const std::byte> payload,
               const Properties& properties) noexcept;
  // Gives a request up without replying: requeued for another responder, or dead-lettered.
  Status reject(const Message& request, Nack action = Nack::requeue) noexcept;

  [[nodiscard]] int fd();
  [[nodiscard]] std::size_t in_flight() const noexcept;
  [[nodiscard]] const std::string& service() const noexcept;
  [[nodiscard]] const std::string& group() const noexcept;
  [[nodiscard]] explicit operator bool() const noexcept { return core_ != nullptr; }

 private:
  friend class Client;
  explicit Responder(std::unique_ptr<detail::ResponderCore> core);
  std::unique_ptr<detail::ResponderCore> core_;
};

}  // namespace shmbus
