// Micro benchmarks of the hot paths in one process: claim/commit, copy-publish, loan, receive,
// the wake-up path, and contended multi-publisher claims. Cross-process figures come from
// `shmbus perf`; these isolate the cost of each step.
#include <benchmark/benchmark.h>

#include <vector>

#include "ring/heap_topic.hpp"

namespace {

using shmbus::Status;
using shmbus::layout::FullPolicy;
using shmbus::testing::TestTopic;

// Claim + commit of an empty message, nobody subscribed: the floor of a publish.
void BM_ClaimCommit(benchmark::State& state) {
  TestTopic topic(64, 1024, FullPolicy::block);
  auto writer = topic.writer();
  for (auto _ : state) {
    std::uint64_t sequence = 0;
    if (writer.claim(sequence, {}) != Status::ok) state.SkipWithError("claim failed");
    writer.begin_write(sequence);
    writer.commit(sequence, 0, 0);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClaimCommit);

// Copy-publish then receive of one message by a gating subscriber, per payload size.
void BM_CopyPublishAndReceive(benchmark::State& state) {
  const auto size = static_cast<std::uint32_t>(state.range(0));
  TestTopic topic(size, 1024, FullPolicy::block);
  auto writer = topic.writer();
  auto reader = topic.reader();
  std::vector<std::byte> payload(size, std::byte{1});
  shmbus::ring::ReadResult result;
  for (auto _ : state) {
    std::uint64_t sequence = 0;
    if (writer.claim(sequence, {}) != Status::ok) state.SkipWithError("claim failed");
    std::memcpy(writer.begin_write(sequence), payload.data(), size);
    writer.commit(sequence, size, 0);
    if (!reader->poll(result)) state.SkipWithError("nothing received");
    benchmark::DoNotOptimize(result.data);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * size);
}
BENCHMARK(BM_CopyPublishAndReceive)->RangeMultiplier(8)->Range(8, 64 << 10);

// Zero-copy loan: claim, write 8 bytes in place, commit, receive; cost independent of slot size.
void BM_LoanAndReceive(benchmark::State& state) {
  const auto size = static_cast<std::uint32_t>(state.range(0));
  TestTopic topic(size, 64, FullPolicy::block);
  auto writer = topic.writer();
  auto reader = topic.reader();
  shmbus::ring::ReadResult result;
  for (auto _ : state) {
    std::uint64_t sequence = 0;
    if (writer.claim(sequence, {}) != Status::ok) state.SkipWithError("claim failed");
    std::byte* slot = writer.begin_write(sequence);
    std::memcpy(slot, &sequence, sizeof(sequence));
    writer.commit(sequence, size, 0);
    if (!reader->poll(result)) state.SkipWithError("nothing received");
    benchmark::DoNotOptimize(result.data);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LoanAndReceive)->Arg(64)->Arg(64 << 10)->Arg(4 << 20);

// An empty poll: what a busy-polling subscriber spends per spin.
void BM_EmptyPoll(benchmark::State& state) {
  TestTopic topic(64, 1024, FullPolicy::block);
  auto reader = topic.reader();
  shmbus::ring::ReadResult result;
  for (auto _ : state)
    benchmark::DoNotOptimize(reader->poll(result));
}
BENCHMARK(BM_EmptyPoll);

// Publish while a subscriber is flagged as sleeping: adds the futex wake system call.
void BM_PublishWithSleeperWake(benchmark::State& state) {
  TestTopic topic(64, 1024, FullPolicy::overwrite);
  auto writer = topic.writer();
  topic.view().header->waiters.store(1);
  for (auto _ : state) {
    std::uint64_t sequence = 0;
    if (writer.claim(sequence, {}) != Status::ok) state.SkipWithError("claim failed");
    writer.begin_write(sequence);
    writer.commit(sequence, 0, 0);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PublishWithSleeperWake);

// Several threads claiming on one overwrite topic: the cost of CAS contention on the claim line.
// The topic and one writer per thread are made in Setup, before the threads start.
struct Contended {
  std::unique_ptr<TestTopic> topic;
  std::vector<shmbus::ring::RingWriter> writers;
};
Contended g_contended;

void SetUpContended(const benchmark::State& state) {
  g_contended.topic = std::make_unique<TestTopic>(64, 4096, FullPolicy::overwrite, 16);
  g_contended.writers.clear();
  for (int i = 0; i < state.threads(); ++i) {
    g_contended.writers.push_back(g_contended.topic->writer(static_cast<std::uint64_t>(i) + 1));
  }
}

void TearDownContended(const benchmark::State&) {
  g_contended.writers.clear();
  g_contended.topic.reset();
}

void BM_ContendedClaim(benchmark::State& state) {
  auto& writer = g_contended.writers[static_cast<std::size_t>(state.thread_index())];
  for (auto _ : state) {
    std::uint64_t sequence = 0;
    if (writer.claim(sequence, {}) != Status::ok) state.SkipWithError("claim failed");
    writer.begin_write(sequence);
    writer.commit(sequence, 0, 0);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ContendedClaim)
    ->Setup(SetUpContended)
    ->Teardown(TearDownContended)
    ->Threads(1)
    ->Threads(2);

}  // namespace

BENCHMARK_MAIN();
