// Request/reply: two responders share the service "example.upper" (a group, so requests are
// load-balanced); a requester asks them to upper-case words, first one request at a time, then
// with many in flight. A responder leaves while it holds a request it never answered: the request
// goes to another responder, flagged as a second delivery, and the requester still gets exactly
// one reply to each request.
//
//   request_reply [BUS]
//
// Responders are threads here to keep the example one file; across processes it works the same
// way, and a responder killed with SIGKILL has its requests redelivered just the same. Without
// shmbus::embedded, start `shmbusd --bus BUS` first.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "example_main.hpp"
#include "shmbus/shmbus.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kPipelined = 1000;

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

std::string text_of(const shmbus::Message& message) {
  const auto payload = message.payload();
  return {reinterpret_cast<const char*>(payload.data()), payload.size()};  // NOLINT
}

// Answers until `stop`; with `walk_out`, leaves holding the first request it gets.
void serve(shmbus::Client& client, const std::atomic<bool>& stop, bool walk_out,
           std::atomic<std::uint64_t>& answered) {
  shmbus::Responder responder = client.responder("example.upper");
  shmbus::Message request;
  while (!stop.load()) {
    if (responder.receive(request, 10ms) != shmbus::Status::ok) continue;
    if (walk_out) return;  // the destructor leaves the group: the request is requeued
    std::string word = text_of(request);
    std::transform(word.begin(), word.end(), word.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    shmbus::Properties properties;
    properties.set("request-delivery", std::to_string(request.deliveries()));
    if (responder.reply(request, bytes_of(word), properties) == shmbus::Status::ok) {
      answered.fetch_add(1);
    }
  }
}

int run(const std::string& bus) {
  shmbus::Client client({.bus = bus, .name = "request-reply-example"});
  // Declared, so requests wait for a responder instead of being refused while none runs.
  client.declare_group("example.upper", std::string(shmbus::kDefaultResponderGroup));
  shmbus::Requester requester = client.requester("example.upper");

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> answered{0};
  // The first responder walks out holding the first request; the next one in its thread gets
  // that request again. A second responder joins once the first word is answered.
  std::thread first([&] {
    serve(client, stop, true, answered);
    serve(client, stop, false, answered);
  });
  std::thread second;

  // One at a time: each request() waits for its own reply.
  const std::vector<std::string_view> words{"shared", "memory", "request", "reply"};
  shmbus::Message reply;
  std::vector<std::int64_t> round_trips_ns;
  bool replies_match = true;
  bool redelivered_first = false;
  for (const auto word : words) {
    if (requester.request(bytes_of(word), reply, 2s) != shmbus::Status::ok) return 1;
    const std::string delivery(reply.properties().get("request-delivery").value_or("?"));
    std::printf("%-8s -> %-8s (answered on delivery %s of the request)\n",
                std::string(word).c_str(), text_of(reply).c_str(), delivery.c_str());
    redelivered_first = redelivered_first || (word == words.front() && delivery == "2");
    std::string expected(word);
    std::transform(expected.begin(), expected.end(), expected.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    replies_match = replies_match && text_of(reply) == expected;
    if (!second.joinable()) second = std::thread([&] { serve(client, stop, false, answered); });
  }

  // Round trips, one at a time, once both responders run.
  for (std::uint64_t i = 0; i < kPipelined; ++i) {
    const auto sent_at = Clock::now();
    if (requester.request(bytes_of("ping"), reply, 2s) != shmbus::Status::ok) return 1;
    round_trips_ns.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sent_at).count());
  }

  // Many in flight: send while the requester has room (Status::full: as many requests await
  // replies as its reply topic holds), take replies in between, match them by correlation id.
  std::vector<bool> seen(kPipelined, false);
  std::uint64_t sent = 0;
  std::uint64_t first_id = 0;
  std::uint64_t received = 0;
  const auto start = Clock::now();
  while (received < kPipelined) {
    std::uint64_t id = 0;
    while (sent < kPipelined && requester.send(bytes_of("pipelined"), id) == shmbus::Status::ok) {
      if (sent++ == 0) first_id = id;
    }
    if (requester.receive_reply(reply, 2s) != shmbus::Status::ok) break;
    const std::uint64_t index = *shmbus::correlation_id(reply) - first_id;
    if (index < kPipelined && !seen[index]) ++received;
    if (index < kPipelined) seen[index] = true;
  }
  const auto elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  stop.store(true);
  first.join();
  second.join();

  std::sort(round_trips_ns.begin(), round_trips_ns.end());
  std::printf("one at a time: round trip median %.1f us, p99 %.1f us over %zu requests\n",
              static_cast<double>(round_trips_ns[round_trips_ns.size() / 2]) / 1e3,
              static_cast<double>(round_trips_ns[round_trips_ns.size() * 99 / 100]) / 1e3,
              round_trips_ns.size());
  std::printf("pipelined: %llu requests answered once each in %.1f ms (%.0f requests/s)\n",
              static_cast<unsigned long long>(received), elapsed * 1e3,
              static_cast<double>(received) / elapsed);
  return replies_match && redelivered_first && received == kPipelined ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return shmbus_example::example_main(argc, argv, "request_reply", run);
}
