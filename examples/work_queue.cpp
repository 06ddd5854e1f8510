// A work queue: a declared shared subscription group on "example.jobs". Jobs published while no
// worker runs are kept; three workers then share them, each job going to exactly one worker. One
// worker gives its first job back (nack) and another takes it, flagged redelivered; a job nacked
// past max_deliveries lands on "example.jobs.dlq".
//
//   work_queue [BUS]
//
// Workers are threads here to keep the example one file; across processes it works the same way
// (`shmbus sub example.jobs --group workers`). Without shmbus::embedded, start
// `shmbusd --bus BUS` first.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "example_main.hpp"
#include "shmbus/shmbus.hpp"

namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kJobs = 300;
constexpr std::uint64_t kPoison = 9999;  // a job no worker can do: it ends up dead-lettered

int run(const std::string& bus) {
  shmbus::Client client({.bus = bus, .name = "work-queue-example"});
  shmbus::GroupSettings settings;
  settings.declare = true;      // keep jobs while no worker runs
  settings.max_deliveries = 3;  // then give up on a job: it goes to the dead-letter topic
  client.declare_group("example.jobs", "workers", settings);
  auto dead_letters = client.subscriber("example.jobs.dlq");

  // Peak shaving: the jobs are queued before any worker exists.
  auto producer = client.publisher("example.jobs");
  for (std::uint64_t job = 0; job < kJobs; ++job)
    (void)producer.publish(job);
  (void)producer.publish(kPoison);

  std::mutex mutex;
  std::multiset<std::uint64_t> done;
  std::atomic<std::uint64_t> redelivered{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&, w] {
      shmbus::GroupConsumer worker = client.join_group("example.jobs", "workers");
      bool gave_one_back = false;
      shmbus::Message job;
      while (worker.receive(job, 1s) == shmbus::Status::ok) {
        const std::uint64_t id = *job.as<std::uint64_t>();
        if (job.redelivered()) redelivered.fetch_add(1);
        if (id == kPoison || (w == 0 && !gave_one_back)) {
          gave_one_back = true;
          (void)worker.nack(job);  // requeue: another delivery, counted
          continue;
        }
        {
          std::lock_guard lock(mutex);
          done.insert(id);
        }
        (void)worker.ack(job);  // only now may the slot be reused
      }
    });
  }
  for (auto& worker : workers)
    worker.join();

  shmbus::Message letter;
  const bool poison_dead_lettered = dead_letters.receive(letter, 2s) == shmbus::Status::ok &&
                                    letter.as<std::uint64_t>() == kPoison && letter.dead_letter();
  std::set<std::uint64_t> distinct(done.begin(), done.end());
  std::printf("%zu jobs done once each, %llu redeliveries, poison job dead-lettered: %s\n",
              distinct.size(), static_cast<unsigned long long>(redelivered.load()),
              poison_dead_lettered ? "yes" : "no");
  return distinct.size() == kJobs && done.size() == kJobs && poison_dead_lettered ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return shmbus_example::example_main(argc, argv, "work_queue", run);
}
