// The fixture shared by the supervisor's tests: a bus name of its own, clean-up of whatever a
// failed test left in /dev/shm, and direct looks at the directory and the topic segments.
#pragma once

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <string>

#include "layout/naming.hpp"
#include "layout/segment_format.hpp"
#include "protocol/control_protocol.hpp"
#include "raw_client.hpp"
#include "ring/topic_view.hpp"
#include "shm/segment.hpp"

namespace shmbus::test {

constexpr auto kActive = static_cast<std::uint32_t>(layout::EntryState::active);
constexpr auto kFree = static_cast<std::uint32_t>(layout::EntryState::free);

inline bool segment_exists(const std::string& name) {
  return shm::Segment::exists(name);
}

struct MappedTopic {
  explicit MappedTopic(const protocol::TopicReply& reply)
      : segment(shm::Segment::open(std::string(protocol::view_string(reply.segment_name)),
                                   shm::Access::read_write)),
        view(ring::TopicView::of(segment.address())) {}
  shm::Segment segment;
  ring::TopicView view;
};

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);
    bus_ = test::unique_bus(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    // Whatever a failed test left behind.
    const std::string prefix = naming::segment_prefix(bus_).substr(1);
    std::error_code ec;
    for (const auto& file : std::filesystem::directory_iterator("/dev/shm", ec)) {
      const std::string name = file.path().filename().string();
      if (name.rfind(prefix, 0) == 0) shm::Segment::remove("/" + name);
    }
  }

  struct EntryLook {
    std::uint32_t state = 0;  // EntryState: whether a topic lives at the index
    std::uint64_t owner_client_id = 0;
  };
  [[nodiscard]] EntryLook topic_entry(std::uint32_t index) const {
    auto control = shm::Segment::open(naming::control_segment_name(bus_), shm::Access::read_only);
    layout::TopicEntry copy{};
    EXPECT_TRUE(layout::read_topic_entry(layout::topic_entries(control.address())[index], copy));
    return {copy.state.load(), copy.owner_client_id};
  }

  [[nodiscard]] std::size_t active_clients() const {
    auto control = shm::Segment::open(naming::control_segment_name(bus_), shm::Access::read_only);
    const auto* header = static_cast<const layout::ControlHeader*>(control.address());
    std::size_t count = 0;
    for (std::uint32_t i = 0; i < header->max_clients; ++i) {
      layout::ClientEntry copy{};
      if (layout::read_client_entry(layout::client_entries(control.address())[i], copy) &&
          copy.state.load() == kActive) {
        ++count;
      }
    }
    return count;
  }

  std::string bus_;
};

}  // namespace shmbus::test
