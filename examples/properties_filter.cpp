// Message properties and filters: a publisher tags orders with headers, a content type and an
// ordering key; one subscriber takes only the EU orders of tier 1 (all conditions), another every
// order that is urgent or large (any condition). Skipped messages are never copied.
//
//   properties_filter [BUS]
//
// Without shmbus::embedded, start `shmbusd --bus BUS` first.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "example_main.hpp"
#include "shmbus/shmbus.hpp"

namespace {

using namespace std::chrono_literals;

struct Order {
  std::uint64_t id;
  std::uint32_t quantity;
};

constexpr std::uint64_t kOrders = 120;

int run(const std::string& bus) {
  shmbus::Client client({.bus = bus, .name = "properties-example"});

  shmbus::SubscribeOptions eu_tier1;
  eu_tier1.filter.where("region", "eu").where("tier", "1");  // match all (the default)
  shmbus::SubscribeOptions urgent_or_large;
  urgent_or_large.filter.match = shmbus::PropertyFilter::Match::any;
  urgent_or_large.filter.where("urgent").where("size", "large");  // "urgent": the key is present

  shmbus::Subscriber eu = client.subscriber("example.orders", eu_tier1);
  shmbus::Subscriber priority = client.subscriber("example.orders", urgent_or_large);
  shmbus::Publisher publisher = client.publisher("example.orders");

  // Building Properties allocates; publishing with them does not, so messages that share their
  // properties can reuse one object. Here each order has its own.
  for (std::uint64_t i = 0; i < kOrders; ++i) {
    shmbus::Properties properties;
    properties.content_type("application/x-order")
        .key("account-" + std::to_string(i % 7))  // the ordering key
        .set("region", i % 2 == 0 ? "eu" : "us")
        .set("tier", std::to_string(i % 3))
        .set("size", i % 10 == 0 ? "large" : "small");
    if (i % 4 == 0) properties.set("urgent", "yes");
    if (i % 2 == 1) {
      (void)publisher.publish(Order{i, 10}, properties);  // copy
    } else if (shmbus::Loan loan = publisher.loan(sizeof(Order))) {
      new (loan.data().data()) Order{i, 10};  // or in place, properties set on the loan
      loan.properties() = properties;
      (void)loan.commit();
    }
  }

  std::uint64_t eu_count = 0;
  std::uint64_t priority_count = 0;
  bool ok = true;
  shmbus::Message message;
  while (eu.receive(message, 100ms) == shmbus::Status::ok) {
    const auto props = message.properties();
    ok = ok && props.get("region") == "eu" && props.get("tier") == "1" &&
         props.content_type() == "application/x-order";
    ++eu_count;
  }
  while (priority.receive(message, 100ms) == shmbus::Status::ok) {
    const auto props = message.properties();
    ok = ok && (props.get("urgent") || props.get("size") == "large");
    ++priority_count;
  }
  // EU (even ids) and tier 1 (id % 3 == 1): id % 6 == 4, 20 of 120. Urgent (id % 4 == 0, 30) or
  // large (id % 10 == 0, 12), both for id % 20 == 0 (6): 36.
  std::printf("eu tier 1: %llu received, %llu skipped\n", static_cast<unsigned long long>(eu_count),
              static_cast<unsigned long long>(eu.filtered()));
  std::printf("urgent or large: %llu received, %llu skipped\n",
              static_cast<unsigned long long>(priority_count),
              static_cast<unsigned long long>(priority.filtered()));
  return ok && eu_count == 20 && priority_count == 36 && eu.filtered() == kOrders - 20 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return shmbus_example::example_main(argc, argv, "properties_filter", run);
}
