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
    if (!delivery.dead_letter) break;
    // Delivered max_deliveries times already: it goes to the dead-letter topic, not to us.
    const auto outcome = publish_dead_letter(delivery.read.header, delivery.read.data) == Status::ok
                             ? group::Outcome::dead_lettered
                             : group::Outcome::requeued;
    reader_.finish(delivery.read.header.sequence, outcome);
    if (outcome == group::Outcome::requeued) return Status::empty;  // try again later
  }
  MessageAccess::fill_delivery(out, delivery.read, *topic_, this, delivery.deliveries);
  return Status::ok;
}

Status GroupCore::receive_spin(Message& out, std::chrono::nanoseconds timeout) noexcept {
  return spin_for_message([&] { return try_receive(out) == Status::ok; }, timeout);
}

Status GroupCore::receive(Message& out, std::chrono::nanoseconds timeout) noexcept {
  return wait_for_message(*topic_->view().header, options_.wait, options_.spin_time, timeout,
                          [&] { return try_receive(out) == Status::ok; });
}

Status GroupCore::settle(const Message& message, group::Outcome outcome) noexcept {
  if (MessageAccess::delivered_by(message) != this) return Status::not_held;
  return reader_.finish(message.sequence(), outcome);
}

Status GroupCore::dead_letter(const Message& message) noexcept {
  if (MessageAccess::delivered_by(message) != this) return Status::not_held;
  const Status status = publish_dead_letter(message.header(), message.payload().data());
  if (status != Status::ok) return status;  // still held: the caller may retry or requeue
  return reader_.finish(message.sequence(), group::Outcome::dead_lettered);
}

Status GroupCore::publish_dead_letter(const MessageHeader& header,
                                      const std::byte* payload) noexcept {
  auto& writer = dead_letter_publisher_->writer();
  std::uint64_t sequence = 0;
  const Status status = writer.claim(sequence, options_.dead_letter_timeout);
  if (status != Status::ok) return status;
  std::byte* destination = writer.begin_write(sequence);
  if (header.size != 0) std::memcpy(destination, payload, header.size);
  writer.commit(sequence, header.size, header.flags | layout::kFlagDeadLetter);
  return Status::ok;
}

int GroupCore::fd() {
  if (!notifier_) {
    notifier_ =
        std::make_unique<Notifier>(*topic_->view().header, [this] { return reader_.ready(); });
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
