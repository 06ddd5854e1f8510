#include "rpc_peer.hpp"

#include <unistd.h>

#include <cstdio>
#include <vector>

#include "peer_protocol.hpp"
#include "shmbus/shmbus.hpp"

namespace shmbus::testing {

int run_responder(const std::string& bus, const std::string& service, bool stall) {
  Client client(ClientOptions{bus, "test-responder"});
  ResponderOptions options;
  options.consumer.prefetch = 8;
  auto responder = client.responder(service, options);
  say("READY");
  // Takes a batch before answering any, so that a kill often finds requests in flight.
  constexpr std::size_t kBatch = 4;
  std::vector<Message> batch(kBatch);
  for (;;) {
    const Status status = responder.receive(batch[0], std::chrono::seconds(60));
    if (status == Status::timeout) continue;
    if (status != Status::ok) return 2;
    std::size_t taken = 1;
    while (!stall && taken < kBatch && responder.try_receive(batch[taken]) == Status::ok)
      ++taken;
    for (std::size_t i = 0; i < taken; ++i) {
      const auto request = batch[i].as<RpcRequest>();
      if (!request) return 5;
      if (stall) {
        say("HOLDING " + std::to_string(request->index));
        for (;;)
          ::pause();
      }
      const RpcReply reply{request->tag, batch[i].deliveries(), request->index,
                           rpc_answer(request->tag, request->index), ::getpid()};
      const Status replied =
          responder.reply(batch[i], std::as_bytes(std::span<const RpcReply, 1>(&reply, 1)));
      if (replied != Status::ok) return 6;
    }
  }
}

int run_requester(const std::string& bus, const std::string& service, std::uint32_t tag,
                  std::uint64_t count, std::uint64_t window) {
  Client client(ClientOptions{bus, "test-requester"});
  auto requester = client.requester(service);
  say("READY");
  std::vector<std::uint64_t> index_of_id;  // correlation id - 1 -> request index
  index_of_id.reserve(count);
  std::vector<bool> answered(count, false);
  std::uint64_t sent = 0;
  std::uint64_t replies = 0;
  std::uint64_t wrong = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t redelivered = 0;
  std::uint64_t lost = 0;  // replies overwritten before they were read
  Message reply;
  while (replies < count) {
    while (sent < count && sent - replies < window) {
      const RpcRequest request{tag, 0, sent};
      std::uint64_t id = 0;
      const Status status =
          requester.send(std::as_bytes(std::span<const RpcRequest, 1>(&request, 1)), id);
      if (status == Status::full) break;  // a slow request holds the window: take replies first
      if (status != Status::ok) return 7;
      if (id != index_of_id.size() + 1) return 8;  // ids count up from 1
      index_of_id.push_back(sent++);
    }
    const Status status = requester.receive_reply(reply, std::chrono::seconds(30));
    if (status != Status::ok) {
      std::uint64_t first_missing = 0;
      while (first_missing < sent && answered[first_missing])
        ++first_missing;
      say("RESULT stuck replies=" + std::to_string(replies) + " sent=" + std::to_string(sent) +
          " first_missing=" + std::to_string(first_missing) + " wrong=" + std::to_string(wrong) +
          " lost=" + std::to_string(lost) + " duplicates=" + std::to_string(duplicates) +
          " status=" + std::string(to_string(status)));
      return 9;
    }
    lost += reply.lost_before();
    const auto id = correlation_id(reply);
    const auto body = reply.as<RpcReply>();
    if (!id || *id == 0 || *id > index_of_id.size() || !body) {
      ++wrong;
      continue;
    }
    const std::uint64_t index = index_of_id[*id - 1];
    if (body->tag != tag || body->index != index || body->answer != rpc_answer(tag, index)) {
      ++wrong;
      continue;
    }
    if (answered[index]) {
      ++duplicates;
      continue;
    }
    answered[index] = true;
    ++replies;
    if (body->deliveries > 1) ++redelivered;
  }
  say("RESULT answered=" + std::to_string(replies) + " wrong=" + std::to_string(wrong) +
      " duplicates=" + std::to_string(duplicates) + " redelivered=" + std::to_string(redelivered));
  return wrong == 0 && duplicates == 0 ? 0 : 1;
}

}  // namespace shmbus::testing
