#pragma once

#include <cstdint>

namespace shmbus {

inline constexpr std::uint32_t kVersionMajor = 0;
inline constexpr std::uint32_t kVersionMinor = 1;
inline constexpr std::uint32_t kVersionPatch = 0;
inline constexpr std::uint32_t kVersionPacked =
    (kVersionMajor << 16) | (kVersionMinor << 8) | kVersionPatch;
inline constexpr const char* kVersionString = "0.1.0";

}  // namespace shmbus
