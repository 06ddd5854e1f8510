// The ordering-key hash stored in SlotHeader::key_hash. One definition for publishers (which write
// it) and key-ordered consumers (which route on it without decoding the message's properties).
#pragma once

#include <cstdint>
#include <string_view>

namespace shmbus::layout {

// 32-bit FNV-1a of the key bytes. 0 is reserved for "no key", so a key hashing to 0 maps to 1.
constexpr std::uint32_t key_hash(std::string_view key) noexcept {
  std::uint32_t hash = 2166136261U;
  for (const char c : key) {
    hash ^= static_cast<std::uint8_t>(c);
    hash *= 16777619U;
  }
  return hash == 0 ? 1U : hash;
}

static_assert(key_hash("") == 2166136261U);
static_assert(key_hash("a") == 0xe40c292cU);

}  // namespace shmbus::layout
