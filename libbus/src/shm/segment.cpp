#include "shm/segment.hpp"

#include <fmt/format.h>
#include <sys/mman.h>
#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include <cstring>

#include "shmbus/error.hpp"

namespace shmbus::shm {
namespace bip = boost::interprocess;

struct Segment::Impl {
  std::string name;
  bip::mapped_region region;
};

namespace {

Error translate(const bip::interprocess_exception& e, const std::string& name, const char* action) {
  switch (e.get_error_code()) {
    case bip::not_found_error:
      return {ErrorCode::not_found, fmt::format("shared-memory segment '{}' does not exist", name)};
    case bip::security_error:
      return {ErrorCode::permission_denied,
              fmt::format("permission denied to {} shared-memory segment '{}' (check the bus's "
                          "permissions mode and your uid/gid)",
                          action, name)};
    case bip::already_exists_error:
      return {ErrorCode::io_error, fmt::format("shared-memory segment '{}' exists already", name)};
    default:
      return {ErrorCode::io_error,
              fmt::format("cannot {} shared-memory segment '{}': {}", action, name, e.what())};
  }
}

}  // namespace

Segment::Segment(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Segment::Segment(Segment&&) noexcept = default;
Segment& Segment::operator=(Segment&&) noexcept = default;
Segment::~Segment() = default;

Segment Segment::create(const std::string& name, std::size_t size, std::uint32_t mode) {
  try {
    bip::permissions permissions;
    permissions.set_permissions(static_cast<int>(mode));
    bip::shared_memory_object object(bip::create_only, name.c_str(), bip::read_write, permissions);
    object.truncate(static_cast<bip::offset_t>(size));
    auto impl = std::make_unique<Impl>();
    impl->name = name;
    impl->region = bip::mapped_region(object, bip::read_write);
    return Segment(std::move(impl));
  } catch (const bip::interprocess_exception& e) {
    throw translate(e, name, "create");
  }
}

Segment Segment::open(const std::string& name, Access access) {
  try {
    const auto mode = access == Access::read_write ? bip::read_write : bip::read_only;
    bip::shared_memory_object object(bip::open_only, name.c_str(), mode);
    bip::offset_t size = 0;
    if (!object.get_size(size) || size <= 0) {
      throw Error(ErrorCode::corrupted_segment,
                  fmt::format("shared-memory segment '{}' is empty or truncated", name));
    }
    auto impl = std::make_unique<Impl>();
    impl->name = name;
    impl->region = bip::mapped_region(object, mode);
    return Segment(std::move(impl));
  } catch (const bip::interprocess_exception& e) {
    throw translate(e, name, "open");
  }
}

bool Segment::remove(const std::string& name) noexcept {
  return bip::shared_memory_object::remove(name.c_str());
}

bool Segment::exists(const std::string& name) noexcept {
  try {
    bip::shared_memory_object object(bip::open_only, name.c_str(), bip::read_only);
    return true;
  } catch (const bip::interprocess_exception&) {
    return false;
  }
}

void* Segment::address() const noexcept {
  return impl_ ? impl_->region.get_address() : nullptr;
}
std::size_t Segment::size() const noexcept {
  return impl_ ? impl_->region.get_size() : 0;
}
const std::string& Segment::name() const noexcept {
  static const std::string empty;
  return impl_ ? impl_->name : empty;
}

}  // namespace shmbus::shm
