// Wildcard topic patterns: AMQP topic-exchange matching and the rules for a valid pattern.
#include <gtest/gtest.h>

#include "routing/topic_pattern.hpp"
#include "shmbus/error.hpp"

namespace shmbus::testing {
namespace {

using routing::TopicPattern;

struct Case {
  const char* pattern;
  const char* topic;
  bool match;
};

TEST(TopicPattern, MatchesLikeAnAmqpTopicExchange) {
  const Case cases[] = {
      {"md.equities.AAPL", "md.equities.AAPL", true},
      {"md.equities.AAPL", "md.equities.MSFT", false},
      {"md.equities", "md.equities.AAPL", false},
      {"md.*.AAPL", "md.equities.AAPL", true},
      {"md.*.AAPL", "md.AAPL", false},
      {"md.*.AAPL", "md.a.b.AAPL", false},
      {"*", "md", true},
      {"*", "md.x", false},
      {"*.*", "md.x", true},
      {"#", "md", true},
      {"#", "md.equities.AAPL", true},
      {"md.#", "md", true},
      {"md.#", "md.equities.AAPL", true},
      {"md.#", "mdx.equities", false},
      {"#.AAPL", "AAPL", true},
      {"#.AAPL", "md.equities.AAPL", true},
      {"#.AAPL", "md.equities.AAPLX", false},
      {"a.#.b", "a.b", true},
      {"a.#.b", "a.x.b", true},
      {"a.#.b", "a.x.y.z.b", true},
      {"a.#.b", "a.x.y.z", false},
      {"a.#.b", "a.b.c", false},
      {"a.#.b.#", "a.b", true},
      {"a.#.b.#", "a.x.b.y.b.z", true},
      {"#.b.*", "a.b.c", true},
      {"#.b.*", "a.b.c.d", false},
      {"*.#", "a", true},
      {"*.#", "a.b.c", true},
      {"#.#", "a", true},
      {"a.*.#.c", "a.b.c", true},
      {"a.*.#.c", "a.c", false},
      {"md.*", "md.x", true},
      {"md.*", "md", false},
      // Internal topics: only a pattern naming the '_' level reaches them.
      {"#", "_reply.7.1", false},
      {"*.#", "_reply.7.1", false},
      {"#.1", "_reply.7.1", false},
      {"_reply.#", "_reply.7.1", true},
      {"_reply.*.1", "_reply.7.1", true},
      {"md.#", "md._x", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(TopicPattern(c.pattern).matches(c.topic), c.match)
        << "pattern " << c.pattern << " topic " << c.topic;
  }
}

TEST(TopicPattern, RefusesBadPatternsWithClearErrors) {
  for (const char* bad :
       {"", "a*", "*a", "#x", "a#", "a..b", ".a", "a.", "a.b*.c", "a.**", "a.##", "a b", "a/b"}) {
    try {
      TopicPattern pattern(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_name) << bad;
      EXPECT_NE(std::string(e.what()), "") << bad;
    }
  }
  EXPECT_NE(std::string(*routing::check_topic_pattern("a*")).find("stand alone"),
            std::string::npos);
  EXPECT_NE(std::string(*routing::check_topic_pattern("a..b")).find("empty level"),
            std::string::npos);
  EXPECT_FALSE(routing::check_topic_pattern(std::string(300, 'a')) == std::nullopt);
}

TEST(TopicPattern, TellsPatternsFromTopicNames) {
  EXPECT_TRUE(routing::is_pattern("md.#"));
  EXPECT_TRUE(routing::is_pattern("md.*.x"));
  EXPECT_FALSE(routing::is_pattern("md.x"));
}

}  // namespace
}  // namespace shmbus::testing
