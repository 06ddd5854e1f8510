// A POSIX shared-memory segment mapped into this process (Boost.Interprocess underneath).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace shmbus::shm {

enum class Access : std::uint8_t { read_only, read_write };

class Segment {
 public:
  // Creates a new segment of `size` bytes (zero-filled) with permission bits `mode`; fails with
  // ErrorCode::io_error if it exists already.
  static Segment create(const std::string& name, std::size_t size, std::uint32_t mode);
  // Maps an existing segment whole. Errors: not_found, permission_denied, corrupted_segment
  // (empty).
  static Segment open(const std::string& name, Access access);
  // Removes the name; mappings stay valid. Returns false if there was nothing to remove.
  static bool remove(const std::string& name) noexcept;
  static bool exists(const std::string& name) noexcept;

  Segment(Segment&&) noexcept;
  Segment& operator=(Segment&&) noexcept;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();

  [[nodiscard]] void* address() const noexcept;
  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] const std::string& name() const noexcept;

  template <typename T>
  [[nodiscard]] T* at(std::size_t offset) const noexcept {
    return reinterpret_cast<T*>(static_cast<std::byte*>(address()) + offset);  // NOLINT
  }

 private:
  struct Impl;
  explicit Segment(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmbus::shm
