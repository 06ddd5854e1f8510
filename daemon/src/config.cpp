#include "config.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>

#include "layout/naming.hpp"
#include "layout/segment_format.hpp"
#include "shmbus/error.hpp"

namespace shmbus::daemon {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  [[noreturn]] void fail(const toml::source_region& where, std::string_view what) const {
    if (where.begin.line != 0) {
      throw Error(ErrorCode::config_error,
                  fmt::format("{}:{}: {}", source_, where.begin.line, what));
    }
    throw Error(ErrorCode::config_error, fmt::format("{}: {}", source_, what));
  }

  // Typos must not silently fall back to defaults, so every key is checked against the known set.
  void check_keys(const toml::table& table, std::string_view where,
                  std::initializer_list<std::string_view> known) const {
    for (const auto& [key, node] : table) {
      if (std::find(known.begin(), known.end(), key.str()) == known.end()) {
        fail(key.source(), fmt::format("unknown key '{}' in {}", key.str(), where));
      }
    }
  }

  const toml::table* table(const toml::table& parent, std::string_view key) const {
    const toml::node* node = parent.get(key);
    if (node == nullptr) return nullptr;
    const toml::table* result = node->as_table();
    if (result == nullptr) fail(node->source(), fmt::format("'{}' must be a table", key));
    return result;
  }

  std::optional<std::uint32_t> u32(const toml::table& parent, std::string_view key,
                                   std::uint32_t min, std::uint32_t max) const {
    const toml::node* node = parent.get(key);
    if (node == nullptr) return std::nullopt;
    const auto* value = node->as_integer();
    if (value == nullptr) fail(node->source(), fmt::format("'{}' must be an integer", key));
    const std::int64_t v = value->get();
    if (v < min || v > max) {
      fail(node->source(), fmt::format("'{}' = {} is out of range {}..{}", key, v, min, max));
    }
    return static_cast<std::uint32_t>(v);
  }

  std::optional<std::string> string(const toml::table& parent, std::string_view key) const {
    const toml::node* node = parent.get(key);
    if (node == nullptr) return std::nullopt;
    const auto* value = node->as_string();
    if (value == nullptr) fail(node->source(), fmt::format("'{}' must be a string", key));
    return value->get();
  }

  std::optional<std::vector<std::uint32_t>> id_list(const toml::table& parent,
                                                    std::string_view key) const {
    const toml::node* node = parent.get(key);
    if (node == nullptr) return std::nullopt;
    const auto* array = node->as_array();
    if (array == nullptr) fail(node->source(), fmt::format("'{}' must be an array of ids", key));
    std::vector<std::uint32_t> ids;
    for (const auto& element : *array) {
      const auto* value = element.as_integer();
      if (value == nullptr || value->get() < 0 ||
          value->get() > std::numeric_limits<std::uint32_t>::max()) {
        fail(element.source(), fmt::format("'{}' must hold numeric uids/gids", key));
      }
      ids.push_back(static_cast<std::uint32_t>(value->get()));
    }
    return ids;
  }

  void shape(const toml::table& t, TopicShape& shape) const {
    if (auto v = u32(t, "slot_size", 1, layout::kMaxSlotSize)) shape.slot_size = *v;
    if (const toml::node* node = t.get("slot_count")) {
      const auto v = u32(t, "slot_count", 2, layout::kMaxSlotCount);
      if (!layout::is_power_of_two(*v)) {
        fail(node->source(), fmt::format("'slot_count' = {} is not a power of two", *v));
      }
      shape.slot_count = *v;
    }
    if (auto text = string(t, "policy")) {
      const auto policy = parse_policy(*text);
      if (!policy) {
        fail(t.get("policy")->source(),
             fmt::format("unknown policy '{}': use \"block\" or \"overwrite\"", *text));
      }
      shape.policy = *policy;
    }
    if (auto v = u32(t, "max_publishers", 1, layout::kMaxPublishersLimit)) {
      shape.max_publishers = *v;
    }
    if (auto v = u32(t, "max_subscribers", 1, layout::kMaxSubscribersLimit)) {
      shape.max_subscribers = *v;
    }
    if (auto v = u32(t, "max_groups", 0, layout::kMaxGroupsLimit)) shape.max_groups = *v;
    if (auto v = u32(t, "max_group_members", 1, layout::kMaxGroupMembersLimit)) {
      shape.max_group_members = *v;
    }
  }

  std::optional<bool> boolean(const toml::table& parent, std::string_view key) const {
    const toml::node* node = parent.get(key);
    if (node == nullptr) return std::nullopt;
    const auto* value = node->as_boolean();
    if (value == nullptr) fail(node->source(), fmt::format("'{}' must be true or false", key));
    return value->get();
  }

  std::vector<GroupConfig> groups(const toml::table& t, const TopicConfig& topic) const {
    std::vector<GroupConfig> result;
    const toml::node* node = t.get("group");
    if (node == nullptr) return result;
    const toml::array* array = node->as_array();
    if (array == nullptr || !array->is_array_of_tables()) {
      fail(node->source(), "'group' must be an array of tables: write [[topic.group]]");
    }
    for (const auto& element : *array) {
      const toml::table& g = *element.as_table();
      check_keys(g, "[[topic.group]]",
                 {"name", "max_deliveries", "ack_timeout_ms", "key_ordered", "dead_letter_topic"});
      GroupConfig group;
      auto name = string(g, "name");
      if (!name) fail(g.source(), "[[topic.group]] needs a 'name'");
      if (auto why = naming::check_group_name(*name)) fail(g.get("name")->source(), *why);
      for (const auto& other : result) {
        if (other.name == *name) {
          fail(g.get("name")->source(),
               fmt::format("group '{}' is declared twice on topic '{}'", *name, topic.name));
        }
      }
      group.name = std::move(*name);
      if (auto v = u32(g, "max_deliveries", 0, layout::kMaxDeliveryCount - 1)) {
        group.max_deliveries = *v;
      }
      if (auto v = u32(g, "ack_timeout_ms", 0, 86'400'000)) group.ack_timeout_ms = *v;
      if (auto v = boolean(g, "key_ordered")) group.key_ordered = *v;
      if (auto v = string(g, "dead_letter_topic")) {
        if (auto why = naming::check_topic_name(*v)) {
          fail(g.get("dead_letter_topic")->source(), *why);
        }
        group.dead_letter_topic = std::move(*v);
      }
      result.push_back(std::move(group));
    }
    if (result.size() > topic.shape.max_groups) {
      fail(node->source(), fmt::format("topic '{}' declares {} groups but max_groups is {}",
                                       topic.name, result.size(), topic.shape.max_groups));
    }
    return result;
  }

  void check_shape(const toml::source_region& where, const TopicShape& s,
                   std::string_view what) const {
    const layout::TopicParams params{0,
                                     1,
                                     s.slot_size,
                                     s.slot_count,
                                     s.policy,
                                     s.max_publishers,
                                     s.max_subscribers,
                                     s.max_groups,
                                     s.max_group_members};
    if (auto error = layout::check_topic_params(params)) {
      fail(where, fmt::format("{}: {}", what, error->what()));
    }
  }

  Acl acl(const toml::table& t, std::string_view uids_key, std::string_view gids_key) const {
    Acl result;
    auto uids = id_list(t, uids_key);
    auto gids = id_list(t, gids_key);
    result.restricted = uids.has_value() || gids.has_value();
    if (uids) result.uids = std::move(*uids);
    if (gids) result.gids = std::move(*gids);
    return result;
  }

  std::uint32_t permissions(const toml::table& bus) const {
    const toml::node* node = bus.get("permissions");
    if (node == nullptr) return 0600;
    std::int64_t mode = -1;
    if (const auto* text = node->as_string()) {
      // A string so that the usual "0600" reads as octal, as in chmod.
      const std::string& s = text->get();
      mode = s.empty() ? -1 : 0;
      for (const char c : s) {
        if (c < '0' || c > '7') {
          mode = -1;
          break;
        }
        mode = mode * 8 + (c - '0');
        if (mode > 0777) break;
      }
    } else if (const auto* value = node->as_integer()) {
      mode = value->get();
    }
    if (mode < 0 || mode > 0777) {
      fail(node->source(), "'permissions' must be octal mode bits such as \"0600\" or \"0660\"");
    }
    return static_cast<std::uint32_t>(mode);
  }

  Config parse(const toml::table& root) const {
    Config config;
    check_keys(root, "the top level", {"bus", "defaults", "topic"});
    if (const toml::table* bus = table(root, "bus")) {
      check_keys(*bus, "[bus]", {"max_topics", "max_clients", "permissions"});
      if (auto v = u32(*bus, "max_topics", 1, layout::kMaxTopicsLimit)) config.max_topics = *v;
      if (auto v = u32(*bus, "max_clients", 1, layout::kMaxClientsLimit)) config.max_clients = *v;
      config.permissions = permissions(*bus);
    }
    if (const toml::table* defaults = table(root, "defaults")) {
      check_keys(*defaults, "[defaults]",
                 {"slot_size", "slot_count", "policy", "max_publishers", "max_subscribers",
                  "max_groups", "max_group_members"});
      shape(*defaults, config.defaults);
      check_shape(defaults->source(), config.defaults, "[defaults]");
    }
    if (const toml::node* topics = root.get("topic")) {
      const toml::array* array = topics->as_array();
      if (array == nullptr || !array->is_array_of_tables()) {
        fail(topics->source(), "'topic' must be an array of tables: write [[topic]]");
      }
      for (const auto& node : *array) {
        const toml::table& t = *node.as_table();
        check_keys(t, "[[topic]]",
                   {"name", "slot_size", "slot_count", "policy", "max_publishers",
                    "max_subscribers", "max_groups", "max_group_members", "publish_uids",
                    "publish_gids", "subscribe_uids", "subscribe_gids", "group"});
        TopicConfig topic;
        auto name = string(t, "name");
        if (!name) fail(t.source(), "[[topic]] needs a 'name'");
        if (auto why = naming::check_topic_name(*name)) fail(t.get("name")->source(), *why);
        if (config.find_topic(*name) != nullptr) {
          fail(t.get("name")->source(), fmt::format("topic '{}' is declared twice", *name));
        }
        topic.name = std::move(*name);
        topic.shape = config.defaults;
        shape(t, topic.shape);
        check_shape(t.source(), topic.shape, fmt::format("topic '{}'", topic.name));
        topic.publish = acl(t, "publish_uids", "publish_gids");
        topic.subscribe = acl(t, "subscribe_uids", "subscribe_gids");
        topic.groups = groups(t, topic);
        config.topics.push_back(std::move(topic));
      }
    }
    if (config.topics.size() > config.max_topics) {
      fail({}, fmt::format("{} topics are declared but max_topics is {}", config.topics.size(),
                           config.max_topics));
    }
    return config;
  }

 private:
  std::string source_;
};

}  // namespace

bool Acl::allows(std::uint32_t uid, std::uint32_t gid) const {
  if (!restricted) return true;
  return std::find(uids.begin(), uids.end(), uid) != uids.end() ||
         std::find(gids.begin(), gids.end(), gid) != gids.end();
}

const TopicConfig* Config::find_topic(std::string_view name) const {
  const auto it = std::find_if(topics.begin(), topics.end(),
                               [&](const TopicConfig& t) { return t.name == name; });
  return it == topics.end() ? nullptr : &*it;
}

Config parse_config(std::string_view text, std::string_view source) {
  const Parser parser(source);
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    parser.fail(e.source(), e.description());
  }
  return parser.parse(root);
}

Config load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::config_error,
                fmt::format("cannot read configuration file '{}'", file.string()));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), file.string());
}

std::string_view policy_name(layout::FullPolicy policy) {
  return policy == layout::FullPolicy::overwrite ? "overwrite" : "block";
}

std::optional<layout::FullPolicy> parse_policy(std::string_view text) {
  if (text == "block") return layout::FullPolicy::block;
  if (text == "overwrite") return layout::FullPolicy::overwrite;
  return std::nullopt;
}

}  // namespace shmbus::daemon
