// What a Requester holds: the publisher of its requests on the service topic, its own temporary
// reply topic with the subscriber on it, and which recent requests have had their reply.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "client/mapped_topic.hpp"
#include "client/publisher_core.hpp"
#include "client/subscriber_core.hpp"
#include "shmbus/request_reply.hpp"

namespace shmbus::detail {

class ClientCore;

class RequesterCore {
 public:
  RequesterCore(std::shared_ptr<ClientCore> client, std::string_view service,
                const RequesterOptions& options, const TopicOptions& service_options);
  RequesterCore(const RequesterCore&) = delete;
  RequesterCore& operator=(const RequesterCore&) = delete;
  ~RequesterCore() = default;

  Status send(std::span<const std::byte> payload, const Properties* properties,
              std::uint64_t& correlation_id) noexcept;
  // send(), then waits for that request's reply only; gives the request up if none comes.
  Status request(std::span<const std::byte> payload, const Properties* properties, Message& reply,
                 std::chrono::nanoseconds timeout) noexcept;
  // Waits for a reply that `accept` takes (it is called with the reply's correlation id).
  template <typename Accept>
  Status receive(Message& reply, std::chrono::nanoseconds timeout, Accept&& accept) noexcept;
  // Settles request `id` (its reply came, or the caller gave up on it); false if it was not
  // awaiting a reply.
  bool take_pending(std::uint64_t id) noexcept;

  int fd() { return replies_->fd(); }
  [[nodiscard]] const std::string& service() const noexcept { return service_topic_->name(); }
  [[nodiscard]] const std::string& reply_topic() const noexcept { return reply_topic_->name(); }

 private:
  bool has_responders() const noexcept;
  template <typename Accept>
  bool poll(Message& reply, Accept& accept) noexcept;

  RequesterOptions options_;
  std::shared_ptr<MappedTopic> service_topic_;
  std::shared_ptr<MappedTopic> reply_topic_;
  std::unique_ptr<SubscriberCore> replies_;
  std::unique_ptr<PublisherCore> requests_;
  // The request properties of the last send; reply-to stays, the correlation id is rewritten in
  // place unless the caller passes properties of its own.
  Properties properties_;
  bool caller_properties_ = false;
  // Requests oldest_pending_ .. next_id_ - 1 may await replies; bit id % kReplyWindow says
  // whether request id has been settled. The window only slides past settled requests, so a slow
  // reply is never mistaken for a stale one.
  std::uint64_t next_id_ = 1;
  std::uint64_t oldest_pending_ = 1;
  std::uint64_t awaiting_ = 0;  // sent, not yet settled
  std::bitset<Requester::kReplyWindow> answered_;
};

}  // namespace shmbus::detail
