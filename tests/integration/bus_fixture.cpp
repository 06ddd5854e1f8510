#include "bus_fixture.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <filesystem>

#include "peer_protocol.hpp"
#include "shmbus/shmbus.hpp"

namespace shmbus::testing {

std::vector<std::string> segments_of(const std::string& bus) {
  std::vector<std::string> names;
  const std::string prefix = "shmbus." + bus + ".";
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) names.push_back(name);
  }
  return names;
}

void BusTest::SetUp() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  bus_ = unique_bus(std::string("it-") + info->name()).substr(0, 60);
  for (char& c : bus_) {
    if (c == '/') c = '-';
  }
  start_daemon();
}

void BusTest::TearDown() {
  if (daemon_) stop_daemon();
}

void BusTest::start_daemon(const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv{SHMBUSD_PATH, "--bus", bus_, "--foreground"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  daemon_ = std::make_unique<ChildProcess>(argv);
  ASSERT_TRUE(eventually([&] { return daemon_serves(bus_); }, kStartTimeout))
      << "shmbusd did not start serving bus " << bus_;
}

void BusTest::stop_daemon() {
  daemon_->kill(SIGTERM);
  const auto status = daemon_->wait(kStartTimeout);
  ASSERT_TRUE(status.has_value()) << "shmbusd did not stop on SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "status " << *status;
  daemon_.reset();
  EXPECT_TRUE(segments_of(bus_).empty()) << "segments left after a clean shutdown";
}

ChildProcess BusTest::spawn_publisher(const std::string& topic, std::uint32_t tag,
                                      std::uint64_t count, std::size_t size, std::uint32_t keys) {
  std::vector<std::string> argv{
      TEST_PEER_PATH,      "pub", bus_, topic, std::to_string(tag), std::to_string(count),
      std::to_string(size)};
  if (keys != 0) argv.push_back(std::to_string(keys));
  ChildProcess child(argv);
  EXPECT_TRUE(child.wait_for_line("READY", kStartTimeout)) << "publisher did not attach";
  return child;
}

ChildProcess BusTest::spawn_subscriber(const std::string& topic, std::uint32_t publishers,
                                       const std::string& wait_mode) {
  ChildProcess child({TEST_PEER_PATH, "sub", bus_, topic, std::to_string(publishers), wait_mode});
  EXPECT_TRUE(child.wait_for_line("READY", kStartTimeout)) << "subscriber did not attach";
  return child;
}

void BusTest::publish_end_markers(const std::string& topic, std::uint32_t publishers) {
  Client client(ClientOptions{bus_, "test-driver"});
  auto publisher = client.publisher(topic);
  for (std::uint32_t tag = 0; tag < publishers; ++tag) {
    TestPayloadHeader header{tag, sizeof(TestPayloadHeader), kEndMarker};
    ASSERT_EQ(publisher.publish(header), Status::ok);
  }
}

}  // namespace shmbus::testing
