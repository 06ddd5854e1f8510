// Micro benchmarks of the hot paths in one process: claim/commit, copy-publish, loan, receive,
// the wake-up path, and contended multi-publisher claims. Cross-process figures come from
// `shmbus perf`; these isolate the cost of each step.
#include <benchmark/benchmark.h>
#include <sched.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "perf_harness.hpp"
#include "ring/heap_topic.hpp"
#include "wait/clock.hpp"
#include "wait/futex.hpp"

namespace {

using shmbus::Status;
using shmbus::layout::FullPolicy;
using shmbus::testing::TestTopic;

// Publishers stamp messages from the TSC clock once a Client has checked the kernel's clocksource;
// these benchmarks have no Client, so they check it here, as a Client would.
[[maybe_unused]] const bool g_clock_ready = (shmbus::wait::init_tsc_clock(), true);

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

// Copy-publish of 64 bytes with K gating subscribers attached, none of them asleep: what fan-out
// to K costs the publisher. The readers drain every 512 messages, outside the timed region, so
// the ring never fills; the gate refresh (once per free lap) is the only step that reads them.
void BM_PublishFanout(benchmark::State& state) {
  const auto subscribers = static_cast<std::size_t>(state.range(0));
  TestTopic topic(64, 1024, FullPolicy::block, 8, 8);
  auto writer = topic.writer();
  std::vector<std::unique_ptr<shmbus::ring::RingReader>> readers;
  for (std::size_t i = 0; i < subscribers; ++i)
    readers.push_back(topic.reader());
  std::array<std::byte, 64> payload{};
  shmbus::ring::ReadResult result;
  std::uint64_t published = 0;
  for (auto _ : state) {
    std::uint64_t sequence = 0;
    if (writer.claim(sequence, {}) != Status::ok) state.SkipWithError("claim failed");
    std::memcpy(writer.begin_write(sequence), payload.data(), payload.size());
    writer.commit(sequence, payload.size(), 0);
    if ((++published & 511U) == 0) {
      state.PauseTiming();
      for (auto& reader : readers) {
        while (reader->poll(result)) {
        }
      }
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PublishFanout)->Arg(0)->Arg(1)->Arg(2)->Arg(4);

// The parts of a publish that a bare SPSC ring does not have, one at a time: they explain the gap
// between BM_ClaimCommit and a ring's plain release store.
// The publish stamp as it is taken: an unordered TSC read on the clock's line.
void BM_PartTscStamp(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(shmbus::wait::stamp_ns());
}
BENCHMARK(BM_PartTscStamp);

// What the stamp cost before it came from the TSC: clock_gettime(CLOCK_MONOTONIC) through the vDSO.
void BM_PartClockRead(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(shmbus::wait::monotonic_ns());
}
BENCHMARK(BM_PartClockRead);

void BM_PartClaimCas(benchmark::State& state) {
  alignas(64) std::atomic<std::uint64_t> counter{0};
  std::uint64_t expected = 0;
  for (auto _ : state) {
    // release, as the claim: nothing pairs with it here, the cost is the locked instruction.
    counter.compare_exchange_weak(expected, expected + 1, std::memory_order_release,
                                  std::memory_order_relaxed);
  }
}
BENCHMARK(BM_PartClaimCas);

void BM_PartSeqCstCommit(benchmark::State& state) {
  alignas(64) std::atomic<std::uint64_t> word{0};
  std::uint64_t value = 0;
  for (auto _ : state) {
    // seq_cst, as the commit (an xchg on x86); nothing pairs with it here.
    word.store(++value, std::memory_order_seq_cst);
  }
}
BENCHMARK(BM_PartSeqCstCommit);

void BM_PartReleaseStore(benchmark::State& state) {
  alignas(64) std::atomic<std::uint64_t> word{0};
  std::uint64_t value = 0;
  for (auto _ : state) {
    // release, as the bare ring's publish (a plain mov on x86); nothing pairs with it here.
    word.store(++value, std::memory_order_release);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_PartReleaseStore);

// The commit when another core reads every slot as soon as it is committed, as a caught-up
// subscriber does: 64 bytes copied into the slot's payload line, then the slot word stored, over
// a ring of 1024 two-line slots (a 64-byte perf topic's). A seq_cst store (the publish's commit,
// for the futex handshake) drains the store buffer: it waits until both lines are back from the
// reader's cache. A release store (the bare ring's publish) leaves those transfers to the store
// buffer and overlaps them with the next messages. The gap between the two is what a publish
// pays across processes and not in BM_ClaimCommit.
template <std::memory_order kOrder>
void commit_read_by_other_core(benchmark::State& state) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
    }
  }
  if (cpus.size() < 2) {
    state.SkipWithError("needs two CPUs");
    return;
  }
  const auto pin = [](int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof(one), &one);
  };
  struct alignas(64) Slot {
    std::atomic<std::uint64_t> word{0};
    alignas(64) std::array<std::byte, 64> payload{};
  };
  constexpr std::uint64_t kSlots = 1024;
  const auto slots = std::make_unique<Slot[]>(kSlots);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    pin(cpus[1]);
    std::uint64_t next = 1;
    std::uint64_t sum = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      Slot& slot = slots[next & (kSlots - 1)];
      // acquire: pairs with the commit store below (the payload is complete).
      if (slot.word.load(std::memory_order_acquire) >= next) {
        std::uint64_t first = 0;
        std::memcpy(&first, slot.payload.data(), sizeof(first));
        sum += first;
        ++next;
      } else {
        shmbus::wait::cpu_relax();
      }
    }
    benchmark::DoNotOptimize(sum);
  });
  pin(cpus[0]);
  std::array<std::byte, 64> payload{};
  std::uint64_t sequence = 0;
  for (auto _ : state) {
    ++sequence;
    Slot& slot = slots[sequence & (kSlots - 1)];
    std::memcpy(&payload, &sequence, sizeof(sequence));
    std::memcpy(slot.payload.data(), payload.data(), payload.size());
    // kOrder is what is measured: seq_cst as the publish's commit, release as the bare ring's.
    slot.word.store(sequence, kOrder);
  }
  stop = true;
  reader.join();
  sched_setaffinity(0, sizeof(allowed), &allowed);
  state.SetItemsProcessed(state.iterations());
}
void BM_PartSeqCstCommitOtherCoreReads(benchmark::State& state) {
  commit_read_by_other_core<std::memory_order_seq_cst>(state);
}
BENCHMARK(BM_PartSeqCstCommitOtherCoreReads)->UseRealTime();

void BM_PartReleaseStoreOtherCoreReads(benchmark::State& state) {
  commit_read_by_other_core<std::memory_order_release>(state);
}
BENCHMARK(BM_PartReleaseStoreOtherCoreReads)->UseRealTime();

// memcpy of one payload per iteration from a source buffer into successive slots of a ring laid
// out as a perf topic of that size (1024 slots, at most 16 MiB; payload 64 bytes into its slot):
// the bandwidth a copy-publish of that size is held against, with the same working set.
void BM_Memcpy(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::size_t stride = shmbus::layout::slot_stride_for(static_cast<std::uint32_t>(size));
  // The footprint of the perf harness's ring for this size: the memory a publisher copies into.
  const std::size_t slots = shmbus::perf::slot_count_for(static_cast<std::uint32_t>(size));
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  const std::unique_ptr<std::byte, Free> source(
      static_cast<std::byte*>(std::aligned_alloc(4096, stride)));
  const std::unique_ptr<std::byte, Free> ring(
      static_cast<std::byte*>(std::aligned_alloc(4096, slots * stride)));
  std::memset(source.get(), 1, stride);
  std::memset(ring.get(), 0, slots * stride);
  std::size_t slot = 0;
  for (auto _ : state) {
    std::memcpy(ring.get() + slot * stride + 64, source.get() + 64, size);
    slot = (slot + 1) & (slots - 1);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_Memcpy)->Arg(64)->Arg(64 << 10);

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
