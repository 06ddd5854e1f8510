// Request/reply peers of `test_peer` (see test_peer.cpp's header comment), and the payloads they
// exchange, which let the requester check that each reply answers its own request.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace shmbus::testing {

struct RpcRequest {
  std::uint32_t tag;  // which requester
  std::uint32_t reserved;
  std::uint64_t index;  // per-requester count, from 0
};

struct RpcReply {
  std::uint32_t tag;
  std::uint32_t deliveries;  // of the request, as the responder saw it
  std::uint64_t index;
  std::uint64_t answer;  // rpc_answer(tag, index)
  std::int64_t responder_pid;
};

inline std::uint64_t rpc_answer(std::uint32_t tag, std::uint64_t index) {
  return (index * 0x9e3779b97f4a7c15ULL) ^ tag;
}

// Answers requests until killed; `stall`: takes one request, prints "HOLDING <index>" and never
// answers it.
int run_responder(const std::string& bus, const std::string& service, bool stall);
// Sends COUNT requests with up to WINDOW in flight, checks every reply, prints
// "RESULT answered=A wrong=W duplicates=D redelivered=R" and exits 0 if all were answered.
int run_requester(const std::string& bus, const std::string& service, std::uint32_t tag,
                  std::uint64_t count, std::uint64_t window);

}  // namespace shmbus::testing
