// A POSIX shared-memory segment for the floors: created (and unlinked on destruction) by the
// measuring side, opened by the other.
#pragma once

#include <cstddef>
#include <string>

namespace shmbus::peers {

class ShmRegion {
 public:
  ShmRegion(std::string name, std::size_t size, bool create);
  ShmRegion(const ShmRegion&) = delete;
  ShmRegion& operator=(const ShmRegion&) = delete;
  ~ShmRegion();
  [[nodiscard]] void* data() const noexcept { return data_; }

 private:
  std::string name_;
  std::size_t size_ = 0;
  void* data_ = nullptr;
  bool owner_ = false;
};

}  // namespace shmbus::peers
