// Message properties: the builder's rules and limits, the encoding's round trip, decoding of
// corrupted bytes, filters, and the ring's bounds checks on a slot's properties size.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "layout/key_hash.hpp"
#include "message/property_codec.hpp"
#include "message/property_filter.hpp"
#include "ring/heap_topic.hpp"
#include "shmbus/error.hpp"
#include "shmbus/properties.hpp"

namespace shmbus::testing {
namespace {

// "k<i>". Built by appending: GCC 12 at -O3 takes `"k" + std::to_string(i)` for an overlapping
// memcpy (-Wrestrict, a false positive), which fails the release preset's -Werror build.
std::string key(int i) {
  std::string text = "k";
  text += std::to_string(i);
  return text;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return {};
}

TEST(Properties, RoundTripThroughTheEncoding) {
  Properties properties;
  properties.set("region", "eu").content_type("application/json").key("AAPL").set("empty", "");
  EXPECT_EQ(properties.size(), 4U);
  EXPECT_EQ(properties.get("region"), "eu");
  EXPECT_TRUE(message::validate(properties.encoded()));

  const MessageProperties view(properties.encoded());
  EXPECT_EQ(view.size(), 4U);
  EXPECT_EQ(view.get("region"), "eu");
  EXPECT_EQ(view.content_type(), "application/json");
  EXPECT_EQ(view.key(), "AAPL");
  EXPECT_EQ(view.get("empty"), "");
  EXPECT_FALSE(view.get("missing"));
  std::vector<std::string> keys;
  for (const Property& p : view)
    keys.emplace_back(p.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"region", "content-type", "key", "empty"}));
}

TEST(Properties, SetReplacesAndEraseRemoves) {
  Properties properties;
  properties.set("a", "1").set("a", "22");
  EXPECT_EQ(properties.size(), 1U);
  EXPECT_EQ(properties.get("a"), "22");
  EXPECT_TRUE(properties.erase("a"));
  EXPECT_FALSE(properties.erase("a"));
  EXPECT_TRUE(properties.empty());
  EXPECT_TRUE(properties.encoded().empty());
}

// A same-length value is rewritten in the encoded block itself: no reallocation, nothing else
// moves.
TEST(Properties, SameLengthValueIsRewrittenInPlace) {
  Properties properties;
  properties.set("reply-to", "_reply.1.0").set("correlation-id", "0000000000000001").key("k1");
  const std::byte* block = properties.encoded().data();
  const std::size_t size = properties.encoded().size();
  const std::uint32_t hash = properties.key_hash();
  properties.set("correlation-id", "00000000000000ff").key("k2");
  EXPECT_EQ(properties.encoded().data(), block);
  EXPECT_EQ(properties.encoded().size(), size);
  EXPECT_EQ(properties.get("correlation-id"), "00000000000000ff");
  EXPECT_EQ(properties.get("reply-to"), "_reply.1.0");
  EXPECT_EQ(properties.get("key"), "k2");
  EXPECT_NE(properties.key_hash(), hash);
  properties.set("correlation-id", "longer than sixteen");  // a new length takes the full path
  EXPECT_EQ(properties.get("correlation-id"), "longer than sixteen");
  EXPECT_EQ(properties.size(), 3U);
}

TEST(Properties, OrderingKeyIsHashedWithZeroReserved) {
  Properties properties;
  EXPECT_EQ(properties.key_hash(), 0U);
  properties.key("order-42");
  EXPECT_EQ(properties.key_hash(), layout::key_hash("order-42"));
  EXPECT_NE(properties.key_hash(), 0U);
  properties.erase("key");
  EXPECT_EQ(properties.key_hash(), 0U);
  // FNV-1a reference values.
  EXPECT_EQ(layout::key_hash("a"), 0xe40c292cU);
  EXPECT_EQ(layout::key_hash("foobar"), 0xbf9cf968U);
}

TEST(Properties, RefusesBadKeysAndValuesWithClearErrors) {
  Properties properties;
  EXPECT_NE(error_of([&] { properties.set("", "v"); }).find("empty"), std::string::npos);
  EXPECT_NE(error_of([&] { properties.set("a=b", "v"); }).find("'='"), std::string::npos);
  EXPECT_NE(error_of([&] { properties.set("a b", "v"); }).find("0x20"), std::string::npos);
  EXPECT_NE(error_of([&] { properties.set(std::string(65, 'k'), "v"); }).find("limit is 64"),
            std::string::npos);
  EXPECT_NE(error_of([&] { properties.set("k", std::string(256, 'v')); }).find("limit is 255"),
            std::string::npos);
  EXPECT_TRUE(properties.empty());
}

TEST(Properties, EnforcesCountAndTotalSizeLimits) {
  Properties properties;
  for (int i = 0; i < 16; ++i)
    properties.set(key(i), "v");
  EXPECT_NE(error_of([&] { properties.set("k16", "v"); }).find("at most 16"), std::string::npos);
  EXPECT_EQ(properties.size(), 16U);

  Properties big;
  // 2 + 3 * (3 + 2 + 255) = 782 fits; a fourth such entry (1042) does not.
  for (int i = 0; i < 3; ++i)
    big.set(key(i), std::string(255, 'x'));
  EXPECT_NE(error_of([&] { big.set("k3", std::string(255, 'x')); }).find("limit is 1024"),
            std::string::npos);
  EXPECT_EQ(big.size(), 3U);
  EXPECT_LE(big.encoded().size(), kMaxPropertiesEncodedSize);
}

TEST(Properties, CorruptedEncodingsNeverCrashOrReadOutside) {
  std::mt19937 random(12345);
  Properties valid;
  valid.set("alpha", "1").set("beta", std::string(40, 'b')).key("k");
  std::vector<std::byte> bytes;
  for (int round = 0; round < 20000; ++round) {
    const std::size_t size = random() % 80;
    if (round % 2 == 0) {
      bytes.assign(size, std::byte{0});
      for (auto& b : bytes)
        b = static_cast<std::byte>(random());
      if (size > 1 && round % 4 == 0) bytes[0] = std::byte{message::kPropertiesFormat};
    } else {
      // Flip bytes of (and truncate) a valid encoding.
      const auto good = valid.encoded();
      bytes.assign(good.begin(), good.end());
      bytes[random() % bytes.size()] = static_cast<std::byte>(random());
      bytes.resize(random() % (bytes.size() + 1));
    }
    // A heap copy of exactly `size` bytes: ASan catches any read past it.
    auto exact = std::make_unique<std::byte[]>(bytes.size() + 1);
    std::memcpy(exact.get(), bytes.data(), bytes.size());
    const std::span<const std::byte> span(exact.get(), bytes.size());
    const MessageProperties view(span);
    std::size_t seen = 0;
    for (const Property& p : view) {
      ASSERT_GE(p.key.data(), reinterpret_cast<const char*>(span.data()));
      ASSERT_LE(p.value.data() + p.value.size(),
                reinterpret_cast<const char*>(span.data() + span.size()));
      ++seen;
    }
    EXPECT_LE(seen, kMaxProperties);
    (void)view.get("alpha");
    (void)message::validate(span);
    PropertyFilter filter;
    filter.where("alpha", "1");
    (void)matches(filter, view);
  }
}

TEST(Properties, ValidateRejectsTrailingBytesAndOtherVersions) {
  Properties properties;
  properties.set("a", "b");
  std::vector<std::byte> bytes(properties.encoded().begin(), properties.encoded().end());
  EXPECT_TRUE(message::validate(bytes));
  bytes.push_back(std::byte{0});
  EXPECT_FALSE(message::validate(bytes));
  bytes.pop_back();
  bytes[0] = std::byte{2};
  EXPECT_FALSE(message::validate(bytes));
  EXPECT_TRUE(MessageProperties(bytes).empty());  // another format version: no properties
}

TEST(PropertyFilter, AllAnyAndPresence) {
  Properties p;
  p.set("region", "eu").set("kind", "trade");
  const MessageProperties view(p.encoded());
  const MessageProperties none;

  PropertyFilter all;
  all.where("region", "eu").where("kind", "trade");
  EXPECT_TRUE(matches(all, view));
  all.where("venue", "x");
  EXPECT_FALSE(matches(all, view));

  PropertyFilter any{.match = PropertyFilter::Match::any, .conditions = {}};
  any.where("region", "us").where("kind", "trade");
  EXPECT_TRUE(matches(any, view));
  EXPECT_FALSE(matches(any, none));

  PropertyFilter present;
  present.where("region");
  EXPECT_TRUE(matches(present, view));
  EXPECT_FALSE(matches(present, none));

  EXPECT_TRUE(matches(PropertyFilter{}, none));  // an empty filter lets everything through
  PropertyFilter bad;
  bad.where("a=b", "x");
  EXPECT_TRUE(check_filter(bad));
  EXPECT_FALSE(check_filter(all));
}

TEST(PropertyFilter, SlotOverloadBoundsChecksTheHeader) {
  TestTopic topic(128, 4, layout::FullPolicy::overwrite);
  auto writer = topic.writer();
  Properties p;
  p.set("region", "eu");
  const auto encoded = p.encoded();
  std::uint64_t sequence = 0;
  ASSERT_EQ(writer.claim(sequence, {}), Status::ok);
  std::byte* payload = writer.begin_write(sequence);
  std::memcpy(payload + 128 - encoded.size(), encoded.data(), encoded.size());
  writer.commit(sequence, 8, 0, static_cast<std::uint32_t>(encoded.size()), 0);
  PropertyFilter filter;
  filter.where("region", "eu");
  auto& slot = topic.view().slot(sequence);
  EXPECT_TRUE(message::matches(filter, slot, payload, 128));
  slot.properties_size = 129;  // larger than the slot
  EXPECT_FALSE(message::matches(filter, slot, payload, 128));
  slot.properties_size = static_cast<std::uint32_t>(encoded.size());
  slot.size = 128;  // payload and properties overlap
  EXPECT_FALSE(message::matches(filter, slot, payload, 128));
}

TEST(Ring, CarriesPropertiesSizeAndDropsOversizeOnes) {
  TestTopic topic(128, 4, layout::FullPolicy::block);
  auto writer = topic.writer();
  auto reader = topic.reader();
  std::uint64_t sequence = 0;
  ASSERT_EQ(writer.claim(sequence, {}), Status::ok);
  (void)writer.begin_write(sequence);
  writer.commit(sequence, 100, 0, 28, 77);
  ring::ReadResult result;
  ASSERT_TRUE(reader->poll(result));
  EXPECT_EQ(result.properties_size, 28U);
  EXPECT_EQ(result.key_hash, 77U);
  EXPECT_EQ(reader->corrupt(), 0U);

  ASSERT_EQ(writer.claim(sequence, {}), Status::ok);
  (void)writer.begin_write(sequence);
  writer.commit(sequence, 100, 0, 29, 77);  // 100 + 29 > 128: a corrupted header
  ASSERT_TRUE(reader->poll(result));
  EXPECT_EQ(result.properties_size, 0U);  // delivered without properties
  EXPECT_EQ(reader->corrupt(), 1U);
}

}  // namespace
}  // namespace shmbus::testing
