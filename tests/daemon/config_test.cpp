// shmbusd's TOML configuration: a good file, the defaults, and each kind of bad input.
#include <gtest/gtest.h>

#include <string>

#include "config.hpp"
#include "shmbus/error.hpp"

namespace shmbus::daemon {
namespace {

// The config_error a text raises, or "" if it parses.
std::string error_of(std::string_view text) {
  try {
    (void)parse_config(text, "test.toml");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::config_error) << e.what();
    return e.what();
  }
  return {};
}

TEST(DaemonConfig, EmptyTextGivesTheDefaults) {
  const Config config = parse_config("", "empty.toml");
  EXPECT_EQ(config.max_topics, 256U);
  EXPECT_EQ(config.max_clients, 256U);
  EXPECT_EQ(config.permissions, 0600U);
  EXPECT_EQ(config.defaults.slot_size, 1024U);
  EXPECT_EQ(config.defaults.slot_count, 1024U);
  EXPECT_EQ(config.defaults.policy, layout::FullPolicy::block);
  EXPECT_EQ(config.defaults.max_publishers, 64U);
  EXPECT_EQ(config.defaults.max_subscribers, 64U);
  EXPECT_TRUE(config.topics.empty());
}

TEST(DaemonConfig, ParsesAFullFile) {
  const Config config = parse_config(R"(
[bus]
max_topics = 16
max_clients = 32
permissions = "0660"
[defaults]
slot_size = 512
slot_count = 64
policy = "overwrite"
max_publishers = 4
max_subscribers = 8
[[topic]]
name = "md.equities.AAPL"
slot_size = 256
slot_count = 4096
policy = "block"
publish_uids = [1000, 1001]
subscribe_gids = [20]
[[topic]]
name = "robot.camera"
)");
  EXPECT_EQ(config.max_topics, 16U);
  EXPECT_EQ(config.max_clients, 32U);
  EXPECT_EQ(config.permissions, 0660U);
  EXPECT_EQ(config.defaults.slot_size, 512U);
  EXPECT_EQ(config.defaults.policy, layout::FullPolicy::overwrite);
  ASSERT_EQ(config.topics.size(), 2U);
  const TopicConfig* aapl = config.find_topic("md.equities.AAPL");
  ASSERT_NE(aapl, nullptr);
  EXPECT_EQ(aapl->shape.slot_size, 256U);
  EXPECT_EQ(aapl->shape.slot_count, 4096U);
  EXPECT_EQ(aapl->shape.policy, layout::FullPolicy::block);
  EXPECT_EQ(aapl->shape.max_publishers, 4U);  // from [defaults]
  EXPECT_TRUE(aapl->publish.restricted);
  EXPECT_TRUE(aapl->publish.allows(1001, 5));
  EXPECT_FALSE(aapl->publish.allows(1002, 5));
  EXPECT_TRUE(aapl->subscribe.allows(1002, 20));
  EXPECT_FALSE(aapl->subscribe.allows(1002, 21));
  const TopicConfig* camera = config.find_topic("robot.camera");
  ASSERT_NE(camera, nullptr);
  EXPECT_EQ(camera->shape.slot_size, 512U);
  EXPECT_EQ(camera->shape.policy, layout::FullPolicy::overwrite);
  EXPECT_FALSE(camera->publish.restricted);
  EXPECT_TRUE(camera->publish.allows(12345, 678));
}

TEST(DaemonConfig, ExampleFileParses) {
  const Config config = load_config(SHMBUSD_EXAMPLE_CONFIG);
  EXPECT_NE(config.find_topic("md.equities.AAPL"), nullptr);
}

TEST(DaemonConfig, IntegerPermissionsAreAccepted) {
  EXPECT_EQ(parse_config("[bus]\npermissions = 0o640\n").permissions, 0640U);
}

TEST(DaemonConfig, UnknownPolicyIsRefusedWithItsLine) {
  const std::string what = error_of("[defaults]\nslot_size = 64\npolicy = \"drop\"\n");
  EXPECT_NE(what.find("test.toml:3"), std::string::npos) << what;
  EXPECT_NE(what.find("unknown policy 'drop'"), std::string::npos) << what;
}

TEST(DaemonConfig, SlotCountMustBeAPowerOfTwo) {
  const std::string what = error_of("[[topic]]\nname = \"a.b\"\nslot_count = 1000\n");
  EXPECT_NE(what.find("test.toml:3"), std::string::npos) << what;
  EXPECT_NE(what.find("power of two"), std::string::npos) << what;
}

TEST(DaemonConfig, BadTopicNameIsRefused) {
  const std::string what = error_of("[[topic]]\nname = \"md..AAPL\"\n");
  EXPECT_NE(what.find("test.toml:2"), std::string::npos) << what;
  EXPECT_NE(what.find("empty level"), std::string::npos) << what;
  EXPECT_NE(error_of("[[topic]]\nname = \"md.*\"\n").find("reserved"), std::string::npos);
  EXPECT_NE(error_of("[[topic]]\nslot_size = 64\n").find("needs a 'name'"), std::string::npos);
}

TEST(DaemonConfig, UnknownKeysAreRefused) {
  std::string what = error_of("[bus]\nmax_topics = 4\nmax_topic = 5\n");
  EXPECT_NE(what.find("test.toml:3"), std::string::npos) << what;
  EXPECT_NE(what.find("unknown key 'max_topic'"), std::string::npos) << what;
  what = error_of("[busses]\nx = 1\n");
  EXPECT_NE(what.find("unknown key 'busses'"), std::string::npos) << what;
  what = error_of("[[topic]]\nname = \"a\"\npublish_uid = [1]\n");
  EXPECT_NE(what.find("unknown key 'publish_uid'"), std::string::npos) << what;
  EXPECT_NE(what.find("test.toml:3"), std::string::npos) << what;
}

TEST(DaemonConfig, SyntaxErrorsNameTheLine) {
  const std::string what = error_of("[bus]\nmax_topics = 4\nmax_clients = = 3\n");
  EXPECT_NE(what.find("test.toml:3"), std::string::npos) << what;
}

TEST(DaemonConfig, OutOfRangeAndWrongTypesAreRefused) {
  EXPECT_NE(error_of("[bus]\nmax_topics = 0\n").find("out of range"), std::string::npos);
  EXPECT_NE(error_of("[bus]\nmax_clients = 100000\n").find("out of range"), std::string::npos);
  EXPECT_NE(error_of("[defaults]\nslot_size = \"big\"\n").find("must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of("[defaults]\nslot_size = -1\n").find("out of range"), std::string::npos);
  EXPECT_NE(error_of("[bus]\npermissions = \"0999\"\n").find("permissions"), std::string::npos);
  EXPECT_NE(error_of("[[topic]]\nname = \"a\"\npublish_uids = [\"root\"]\n").find("uids"),
            std::string::npos);
  EXPECT_NE(error_of("bus = 3\n").find("must be a table"), std::string::npos);
  EXPECT_NE(error_of("[topic]\nname = \"a\"\n").find("[[topic]]"), std::string::npos);
}

TEST(DaemonConfig, DuplicateTopicsAndTooManyTopicsAreRefused) {
  EXPECT_NE(error_of("[[topic]]\nname = \"a\"\n[[topic]]\nname = \"a\"\n").find("twice"),
            std::string::npos);
  EXPECT_NE(error_of("[bus]\nmax_topics = 1\n[[topic]]\nname = \"a\"\n[[topic]]\nname = \"b\"\n")
                .find("max_topics"),
            std::string::npos);
}

TEST(DaemonConfig, OversizeTopicIsRefused) {
  const std::string what = error_of("[defaults]\nslot_size = 67108864\nslot_count = 16777216\n");
  EXPECT_NE(what.find("limit"), std::string::npos) << what;
}

TEST(DaemonConfig, MissingFileIsAConfigError) {
  try {
    (void)load_config("/nonexistent/shmbusd.toml");
    FAIL() << "a missing file was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::config_error);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/shmbusd.toml"), std::string::npos);
  }
}

}  // namespace
}  // namespace shmbus::daemon
