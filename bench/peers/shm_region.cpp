#include "shm_region.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "peer_system.hpp"

namespace shmbus::peers {

ShmRegion::ShmRegion(std::string name, std::size_t size, bool create)
    : name_(std::move(name)), size_(size), owner_(create) {
  const int fd = shm_open(name_.c_str(), create ? O_RDWR | O_CREAT | O_EXCL : O_RDWR, 0600);
  if (fd < 0) throw_errno("shm_open " + name_);
  if (create && ftruncate(fd, static_cast<off_t>(size_)) != 0) {
    close(fd);
    shm_unlink(name_.c_str());
    throw_errno("ftruncate " + name_);
  }
  // Not MAP_POPULATE: shmbus maps its topics without it, and the floors must pay what it pays.
  data_ = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (data_ == MAP_FAILED) {
    data_ = nullptr;
    if (owner_) shm_unlink(name_.c_str());
    throw_errno("mmap " + name_);
  }
}

ShmRegion::~ShmRegion() {
  if (data_ != nullptr) munmap(data_, size_);
  if (owner_) shm_unlink(name_.c_str());
}

}  // namespace shmbus::peers
