// The control segment's directory and the validation every reader runs before trusting a segment.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "layout/naming.hpp"
#include "layout/segment_format.hpp"
#include "ring/heap_topic.hpp"

namespace shmbus::layout {
namespace {

struct ControlMemory {
  explicit ControlMemory(std::uint32_t topics = 4, std::uint32_t clients = 4)
      : size(control_geometry(topics, clients).segment_size),
        bytes(static_cast<std::byte*>(std::aligned_alloc(4096, size))) {
    std::memset(bytes.get(), 0, size);
    format_control(bytes.get(), "bus", {topics, clients, 0x000100, 0600});
  }
  ControlHeader& header() { return *reinterpret_cast<ControlHeader*>(bytes.get()); }
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::size_t size;
  std::unique_ptr<std::byte, Free> bytes;
};

TEST(Directory, FreshControlSegmentValidates) {
  ControlMemory control;
  EXPECT_FALSE(validate_control(control.bytes.get(), control.size));
  EXPECT_EQ(control.header().max_topics, 4U);
  EXPECT_STREQ(control.header().bus_name, "bus");
}

TEST(Directory, SeqlockedEntryReadsAreConsistentCopies) {
  ControlMemory control;
  TopicEntry& entry = topic_entries(control.bytes.get())[2];
  begin_entry_write(entry.version);
  std::strcpy(entry.name, "md.equities.AAPL");
  std::strcpy(entry.segment_name, "/shmbus.bus.t2.1");
  entry.slot_size = 256;
  entry.state.store(static_cast<std::uint32_t>(EntryState::active));
  // While the writer is inside its section (odd version) no reader accepts a copy.
  TopicEntry copy;
  EXPECT_FALSE(read_topic_entry(entry, copy));
  end_entry_write(entry.version);
  ASSERT_TRUE(read_topic_entry(entry, copy));
  EXPECT_STREQ(copy.name, "md.equities.AAPL");
  EXPECT_EQ(copy.slot_size, 256U);
  // An entry whose name lost its terminator is refused rather than read past its end.
  std::memset(entry.name, 'x', sizeof(entry.name));
  EXPECT_FALSE(read_topic_entry(entry, copy));
}

TEST(Directory, ValidationNamesWhatIsWrong) {
  ControlMemory control;
  const auto expect_error = [&](ErrorCode code, const char* fragment) {
    const auto error = validate_control(control.bytes.get(), control.size);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code(), code) << error->what();
    EXPECT_NE(std::string(error->what()).find(fragment), std::string::npos) << error->what();
  };
  {
    const auto error = validate_control(control.bytes.get(), control.size - 64);
    ASSERT_TRUE(error);
    EXPECT_NE(std::string(error->what()).find("truncated"), std::string::npos);
  }
  EXPECT_TRUE(validate_control(control.bytes.get(), 10));
  control.header().max_topics = 1'000'000;
  expect_error(ErrorCode::corrupted_segment, "out of range");
  control.header().max_topics = 4;
  control.header().clients_offset += 64;
  expect_error(ErrorCode::corrupted_segment, "offsets");
  control.header().clients_offset -= 64;
  control.header().layout_version = kLayoutVersion + 1;
  expect_error(ErrorCode::version_mismatch, "same release");
  control.header().layout_version = kLayoutVersion;
  control.header().magic = 0;
  expect_error(ErrorCode::corrupted_segment, "magic");
}

TEST(Directory, TopicSegmentValidationBoundsEveryIndex) {
  testing::TestTopic topic(64, 8, FullPolicy::block);
  auto& header = *static_cast<TopicHeader*>(topic.base());
  EXPECT_FALSE(validate_topic(topic.base(), topic.size()));
  EXPECT_TRUE(validate_topic(topic.base(), topic.size() - 4096));  // truncated mapping
  header.slot_count = 12;  // not a power of two: the mask would index outside the ring
  EXPECT_TRUE(validate_topic(topic.base(), topic.size()));
  header.slot_count = 8;
  header.slot_stride = 32;  // slots would overlap
  EXPECT_TRUE(validate_topic(topic.base(), topic.size()));
  header.slot_stride = slot_stride_for(64);
  header.max_subscribers = 100'000;
  EXPECT_TRUE(validate_topic(topic.base(), topic.size()));
}

TEST(Naming, TopicAndBusNames) {
  EXPECT_FALSE(naming::check_topic_name("md.equities.AAPL"));
  EXPECT_FALSE(naming::check_topic_name("a"));
  EXPECT_FALSE(naming::check_topic_name("a_b-c.0"));
  for (const char* bad : {"", ".", "a.", ".a", "a..b", "a b", "a/b", "a*", "a.#"}) {
    EXPECT_TRUE(naming::check_topic_name(bad)) << bad;
  }
  EXPECT_FALSE(naming::check_topic_name(std::string(255, 'a')));
  EXPECT_TRUE(naming::check_topic_name(std::string(256, 'a')));
  EXPECT_FALSE(naming::check_bus_name("prod-1"));
  EXPECT_TRUE(naming::check_bus_name("a.b"));
  EXPECT_TRUE(naming::check_bus_name(std::string(64, 'b')));
  EXPECT_EQ(naming::control_segment_name("x"), "/shmbus.x.ctl");
}

}  // namespace
}  // namespace shmbus::layout
