// Names of buses and topics, and the shared-memory names derived from them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shmbus::naming {

// Why a name was refused, or nullopt if it is valid. Topic names are dot-separated levels of
// [A-Za-z0-9_-], 1..255 bytes, no empty level ("md.equities.AAPL"); '*' and '#' are reserved for
// wildcard patterns. Bus names are 1..63 bytes of [A-Za-z0-9_-].
std::optional<std::string> check_topic_name(std::string_view name);
std::optional<std::string> check_bus_name(std::string_view name);
// Group names: 1..63 bytes of [A-Za-z0-9_-.].
std::optional<std::string> check_group_name(std::string_view name);

// The bus to use when none is given: $SHMBUS_BUS, else "default".
std::string default_bus();

std::string control_segment_name(std::string_view bus);
std::string topic_segment_name(std::string_view bus, std::uint32_t topic_id,
                               std::uint32_t generation);
// The prefix every shared-memory name of the bus starts with (for clean-up and listing).
std::string segment_prefix(std::string_view bus);

}  // namespace shmbus::naming
