#include "shmbus/subscriber.hpp"

#include "client/blocking_wait.hpp"
#include "client/client_core.hpp"
#include "client/message_access.hpp"
#include "client/subscriber_core.hpp"
#include "wait/futex.hpp"

namespace shmbus {
namespace detail {

SubscriberCore::SubscriberCore(std::shared_ptr<ClientCore> client,
                               std::shared_ptr<MappedTopic> topic, const SubscribeOptions& options)
    : SubscriberCore(client, topic, options, client->add_subscriber(*topic, options.start)) {}

SubscriberCore::SubscriberCore(std::shared_ptr<ClientCore> client,
                               std::shared_ptr<MappedTopic> topic, const SubscribeOptions& options,
                               const protocol::SubscriberReply& reply)
    : client_(std::move(client)),
      topic_(std::move(topic)),
      options_(options),
      index_(reply.index),
      filtering_(!options_.filter.empty()),
      reader_(topic_->view(), &topic_->view().subscribers[reply.index], reply.start_sequence) {}

SubscriberCore::~SubscriberCore() {
  notifier_.reset();
  client_->remove_subscriber(*topic_, index_);
}

Status SubscriberCore::try_receive(Message& out) noexcept {
  ring::ReadResult result;
  for (;;) {
    if (!reader_.poll(result)) {
      if (notifier_) notifier_->on_empty();
      return Status::empty;
    }
    // Skipped in place: the next poll moves the cursor past it, so it holds no publisher back.
    if (filtering_ &&
        !message::matches(options_.filter, MessageAccess::properties(result, *topic_))) {
      ++filtered_;
      continue;
    }
    MessageAccess::fill(out, result, *topic_);
    return Status::ok;
  }
}

Status SubscriberCore::receive_spin(Message& out, std::chrono::nanoseconds timeout) noexcept {
  return spin_for_message([&] { return try_receive(out) == Status::ok; }, timeout);
}

Status SubscriberCore::receive(Message& out, std::chrono::nanoseconds timeout) noexcept {
  return wait_for_message(
      *topic_->view().header, options_.wait, options_.spin_time, timeout,
      [&] { return try_receive(out) == Status::ok; }, [&] { return reader_.claim_in_flight(); });
}

int SubscriberCore::fd() {
  if (!notifier_) {
    notifier_ = std::make_unique<Notifier>(
        *topic_->view().header, WatchedTopic{[this] { return reader_.ready(); },
                                             [this] { return reader_.claim_in_flight(); }});
  }
  return notifier_->fd();
}

}  // namespace detail

bool Message::still_valid() const noexcept {
  if (slot_ == nullptr) return false;
  // acquire fence: the caller's reads of the payload happen before the word is checked again.
  std::atomic_thread_fence(std::memory_order_acquire);
  return slot_->word.load(std::memory_order_relaxed) == layout::committed_word(header_.sequence);
}

bool Message::dead_letter() const noexcept {
  return (header_.flags & layout::kFlagDeadLetter) != 0;
}

Subscriber::Subscriber(std::unique_ptr<detail::SubscriberCore> core) : core_(std::move(core)) {}
Subscriber::Subscriber(Subscriber&&) noexcept = default;
Subscriber& Subscriber::operator=(Subscriber&&) noexcept = default;
Subscriber::~Subscriber() = default;

Status Subscriber::try_receive(Message& out) noexcept {
  return core_ ? core_->try_receive(out) : Status::closed;
}
Status Subscriber::receive(Message& out, std::chrono::nanoseconds timeout) noexcept {
  return core_ ? core_->receive(out, timeout) : Status::closed;
}
Status Subscriber::receive_spin(Message& out, std::chrono::nanoseconds timeout) noexcept {
  return core_ ? core_->receive_spin(out, timeout) : Status::closed;
}
bool Subscriber::ready() const noexcept {
  return core_ && core_->reader().ready();
}
int Subscriber::fd() {
  if (!core_) throw Error(ErrorCode::invalid_argument, "fd() on a closed subscriber");
  return core_->fd();
}
std::uint64_t Subscriber::lost() const noexcept {
  return core_ ? core_->reader().lost() : 0;
}
std::uint64_t Subscriber::filtered() const noexcept {
  return core_ ? core_->filtered() : 0;
}
std::uint64_t Subscriber::lag() const noexcept {
  if (!core_) return 0;
  const auto& reader = core_->reader();
  const std::uint64_t head = reader.topic().header->next_sequence.load(std::memory_order_relaxed);
  return head > reader.next() ? head - reader.next() : 0;
}
const std::string& Subscriber::topic() const noexcept {
  static const std::string none;
  return core_ ? core_->topic().name() : none;
}
TopicInfo Subscriber::info() const noexcept {
  return core_ ? core_->topic().info() : TopicInfo{};
}

}  // namespace shmbus
