#include "shmbus/publisher.hpp"

#include <cstring>

#include "client/client_core.hpp"
#include "client/publisher_core.hpp"

namespace shmbus {
namespace detail {

PublisherCore::PublisherCore(std::shared_ptr<ClientCore> client, std::shared_ptr<MappedTopic> topic,
                             const PublisherOptions& options)
    : client_(std::move(client)), topic_(std::move(topic)), options_(options) {
  const auto reply = client_->add_publisher(*topic_);
  index_ = reply.index;
  id_ = reply.publisher_id;
  writer_ = ring::RingWriter(topic_->view(), &topic_->view().publishers[index_], id_);
}

PublisherCore::~PublisherCore() {
  client_->remove_publisher(*topic_, index_);
}

}  // namespace detail

Publisher::Publisher(std::unique_ptr<detail::PublisherCore> core) : core_(std::move(core)) {}
Publisher::Publisher(Publisher&&) noexcept = default;
Publisher& Publisher::operator=(Publisher&&) noexcept = default;
Publisher::~Publisher() = default;

Status Publisher::publish(std::span<const std::byte> payload) noexcept {
  if (!core_) return Status::closed;
  return core_->publish(payload, core_->options().block_timeout);
}

Status Publisher::try_publish(std::span<const std::byte> payload) noexcept {
  if (!core_) return Status::closed;
  return core_->publish(payload, std::chrono::nanoseconds::zero());
}

Status Publisher::publish(std::span<const std::byte> payload,
                          const Properties& properties) noexcept {
  if (!core_) return Status::closed;
  return core_->publish(payload, properties, core_->options().block_timeout);
}

Status Publisher::try_publish(std::span<const std::byte> payload,
                              const Properties& properties) noexcept {
  if (!core_) return Status::closed;
  return core_->publish(payload, properties, std::chrono::nanoseconds::zero());
}

Loan Publisher::loan(std::size_t size) noexcept {
  Loan loan;
  if (!core_) return loan;
  auto& writer = core_->writer();
  if (size > writer.topic().slot_size) {
    loan.status_ = Status::too_large;
    return loan;
  }
  std::uint64_t sequence = 0;
  loan.status_ = writer.claim(sequence, core_->options().block_timeout);
  if (loan.status_ != Status::ok) return loan;
  loan.core_ = core_.get();
  loan.data_ = writer.begin_write(sequence);
  loan.capacity_ = size;
  loan.sequence_ = sequence;
  return loan;
}

const std::string& Publisher::topic() const noexcept {
  static const std::string none;
  return core_ ? core_->topic().name() : none;
}
std::uint64_t Publisher::id() const noexcept {
  return core_ ? core_->id() : 0;
}
std::uint32_t Publisher::max_payload() const noexcept {
  return core_ ? core_->topic().view().slot_size : 0;
}
TopicInfo Publisher::info() const noexcept {
  return core_ ? core_->topic().info() : TopicInfo{};
}

Loan::Loan(Loan&& other) noexcept
    : core_(std::exchange(other.core_, nullptr)),
      data_(std::exchange(other.data_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      sequence_(other.sequence_),
      status_(std::exchange(other.status_, Status::closed)),
      properties_(std::move(other.properties_)) {}

Loan& Loan::operator=(Loan&& other) noexcept {
  if (this != &other) {
    release();
    core_ = std::exchange(other.core_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    sequence_ = other.sequence_;
    status_ = std::exchange(other.status_, Status::closed);
    properties_ = std::move(other.properties_);
  }
  return *this;
}

Loan::~Loan() {
  release();
}

void Loan::release() noexcept {
  if (core_ != nullptr) core_->writer().abort(sequence_);
  core_ = nullptr;
  data_ = nullptr;
  capacity_ = 0;
}

Loan& Loan::set_property(std::string_view key, std::string_view value) {
  properties_.set(key, value);
  return *this;
}

Status Loan::commit(std::size_t size) noexcept {
  if (core_ == nullptr) return Status::closed;
  if (size > capacity_) return Status::too_large;
  auto& writer = core_->writer();
  const auto encoded = properties_.encoded();
  if (encoded.empty()) {
    writer.commit(sequence_, static_cast<std::uint32_t>(size), layout::kFlagNone);
  } else {
    const std::uint32_t slot_size = writer.topic().slot_size;
    if (encoded.size() > slot_size || size > slot_size - encoded.size()) return Status::too_large;
    // After the payload's end: bytes of the loan past `size` are not part of the message.
    std::memcpy(data_ + (slot_size - encoded.size()), encoded.data(), encoded.size());
    writer.commit(sequence_, static_cast<std::uint32_t>(size), layout::kFlagNone,
                  static_cast<std::uint32_t>(encoded.size()), properties_.key_hash());
  }
  core_ = nullptr;
  data_ = nullptr;
  capacity_ = 0;
  status_ = Status::closed;
  return Status::ok;
}

}  // namespace shmbus
