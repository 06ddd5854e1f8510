#include "shmbus/group.hpp"

#include <fmt/format.h>

#include <cstring>

#include "client/blocking_wait.hpp"
#include "client/client_core.hpp"
#include "client/group_core.hpp"
#include "client/message_access.hpp"
#include "client/publisher_core.hpp"
#include "layout/fixed_string.hpp"

namespace shmbus {
namespace detail {
namespace {

// The dead-letter topic must hold every message of the source topic.
std::shared_ptr<MappedTopic> open_dead_letter_topic(ClientCore& client, std::string_view name,
                                                    std::uint32_t slot_size) {
  TopicOptions options;
  options.slot_size = slot_size;
  try {
    return client.open_topic(name, options);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::topic_mismatch) throw;
  }
  auto topic = client.open_topic(name, {});
  if (topic->view().slot_size < slot_size) {
    throw Error(ErrorCode::topic_mismatch,
                fmt::format("dead-letter topic '{}' has slots of {} bytes, smaller than the {} "
                            "bytes of the topic it serves",
                            name, topic->view().slot_size, slot_size));
  }
  return topic;
}

}  // namespace

GroupCore::GroupCore(std::shared_ptr<ClientCore> client, std::shared_ptr<MappedTopic> topic,
                     std::string group, const GroupOptions& options)
    : client_(std::move(client)),
      topic_(std::move(topic)),
      group_(std::move(group)),
      options_(options) {
  member_ = client_->join_group(*topic_, group_, options_);
  try {
    const auto view = group::GroupView::of(topic_->view(), member_.group_index);
    reader_ = group::GroupReader(topic_->view(), view, member_.member_index, options_.prefetch);
    dead_letter_ = std::string(layout::terminated_view(view.record->dead_letter_topic));
    auto dead_letter_topic =
        open_dead_letter_topic(*client_, dead_letter_, topic_->view().slot_size);
    dead_letter_publisher_ = std::make_unique<PublisherCore>(
        client_, std::move(dead_letter_topic), PublisherOptions{options_.dead_letter_timeout});
  } catch (...) {
    client_->leave_group(*topic_, member_);
    throw;
  }
}

GroupCore::~GroupCore() {
  notifier_.reset();
  client_->leave_group(*topic_, member_);
}

Status GroupCore::try_receive(Message& out) noexcept {
  group::Delivery delivery;
  for (;;) {
    if (!reader_.poll(delivery)) {
      if (notifier_) notifier_->on_empty();
      return Status::empty;
    }
    MessageAccess::fill_delivery(out, delivery.read, *topic_, this, delivery.deliveries);
    if (!delivery.dead_letter) return Status::ok;
    // Delivered max_deliveries times already: it goes to the dead-letter topic, not to us.
    const auto outcome = publish_dead_letter(out, "max-deliveries") == Status::ok
                             ? group::Outcome::dead_lettered
                             : group::Outcome::requeued;
    reader_.finish(delivery.read.header.sequence, outcome);
    if (outcome == group::Outcome::requeued) return Status::empty;  // try again later
  }
}

Status GroupCore::receive_spin(Message& out, std::chrono::nanoseconds timeout) noexcept {
  return spin_for_message([&] { return try_receive(out) == Status::ok; }, timeout);
}

Status GroupCore::receive(Message& out, std::chrono::nanoseconds timeout) noexcept {
  return wait_for_message(
      *topic_->view().header, options_.wait, options_.spin_time, timeout,
      [&] { return try_receive(out) == Status::ok; }, [&] { return reader_.claim_in_flight(); });
}

Status GroupCore::settle(const Message& message, group::Outcome outcome) noexcept {
  if (MessageAccess::delivered_by(message) != this) return Status::not_held;
  return reader_.finish(message.sequence(), outcome);
}

Status GroupCore::dead_letter(const Message& message) noexcept {
  if (MessageAccess::delivered_by(message) != this) return Status::not_held;
  const Status status = publish_dead_letter(message, "nack");
  if (status != Status::ok) return status;  // still held: the caller may retry or requeue
  return reader_.finish(message.sequence(), group::Outcome::dead_lettered);
}

Status GroupCore::publish_dead_letter(const Message& message, std::string_view reason) noexcept {
  // Off the hot path: building the properties may allocate.
  Properties properties;
  try {
    try {
      for (const Property& property : message.properties())
        properties.set(property.key, property.value);
    } catch (const Error&) {
      properties.clear();  // the originals leave no room for the reason: keep the reason
    }
    properties.set(kDeathReasonProperty, reason);
    properties.set(kOriginalTopicProperty, topic_->name());
    properties.set(kDeliveriesProperty, std::to_string(message.deliveries()));
  } catch (const std::exception&) {
    properties.clear();
  }
  const std::uint32_t flags = message.header().flags | layout::kFlagDeadLetter;
  Status status = dead_letter_publisher_->publish(message.payload(), properties,
                                                  options_.dead_letter_timeout, flags);
  if (status == Status::too_large) {  // payload and reason do not fit one slot together
    status = dead_letter_publisher_->publish(message.payload(), Properties{},
                                             options_.dead_letter_timeout, flags);
  }
  return status;
}

int GroupCore::fd() {
  if (!notifier_) {
    notifier_ = std::make_unique<Notifier>(
        *topic_->view().header, WatchedTopic{[this] { return reader_.ready(); },
                                             [this] { return reader_.claim_in_flight(); }});
  }
  return notifier_->fd();
}

}  // namespace detail

GroupConsumer::GroupConsumer(std::unique_ptr<detail::GroupCore> core) : core_(std::move(core)) {}
GroupConsumer::GroupConsumer() = default;
GroupConsumer::GroupConsumer(GroupConsumer&&) noexcept = default;
GroupConsumer& GroupConsumer::operator=(GroupConsumer&&) noexcept = default;
GroupConsumer::~GroupConsumer() = default;

Status GroupConsumer::try_receive(Message& out) noexcept {
  return core_ ? core_->try_receive(out) : Status::closed;
}
Status GroupConsumer::receive(Message& out, std::chrono::nanoseconds timeout) noexcept {
  return core_ ? core_->receive(out, timeout) : Status::closed;
}
Status GroupConsumer::receive_spin(Message& out, std::chrono::nanoseconds timeout) noexcept {
  return core_ ? core_->receive_spin(out, timeout) : Status::closed;
}
Status GroupConsumer::ack(const Message& message) noexcept {
  return core_ ? core_->settle(message, group::Outcome::acked) : Status::closed;
}
Status GroupConsumer::nack(const Message& message, Nack action) noexcept {
  if (!core_) return Status::closed;
  return action == Nack::requeue ? core_->settle(message, group::Outcome::requeued)
                                 : core_->dead_letter(message);
}
bool GroupConsumer::ready() const noexcept {
  return core_ && core_->reader().ready();
}
int GroupConsumer::fd() {
  if (!core_) throw Error(ErrorCode::invalid_argument, "fd() on a closed group consumer");
  return core_->fd();
}
std::size_t GroupConsumer::in_flight() const noexcept {
  return core_ ? core_->reader().in_flight() : 0;
}
const std::string& GroupConsumer::topic() const noexcept {
  static const std::string none;
  return core_ ? core_->topic().name() : none;
}
const std::string& GroupConsumer::group() const noexcept {
  static const std::string none;
  return core_ ? core_->group() : none;
}
const std::string& GroupConsumer::dead_letter_topic() const noexcept {
  static const std::string none;
  return core_ ? core_->dead_letter_topic() : none;
}

}  // namespace shmbus
