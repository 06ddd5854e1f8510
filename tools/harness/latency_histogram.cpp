#include "latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace shmbus::perf {

static_assert(LatencyHistogram::bucket_of(63) == 63);
static_assert(LatencyHistogram::bucket_of(64) == 64);
static_assert(LatencyHistogram::bucket_of(127) == 127);
static_assert(LatencyHistogram::bucket_of(128) == 128);
static_assert(LatencyHistogram::bucket_of(129) == 128);
static_assert(LatencyHistogram::upper_bound_of(128) == 129);
static_assert(LatencyHistogram::bucket_of(~std::uint64_t{0}) == LatencyHistogram::kBuckets - 1);
static_assert(LatencyHistogram::upper_bound_of(LatencyHistogram::kBuckets - 1) ==
              ~std::uint64_t{0});

std::uint64_t LatencyHistogram::percentile(double quantile) const noexcept {
  if (count_ == 0) return 0;
  quantile = std::clamp(quantile, 0.0, 1.0);
  // The rank of the wanted value, 1-based: at least the first, at most the last.
  auto rank = static_cast<std::uint64_t>(std::ceil(quantile * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t bucket = 0; bucket < kBuckets; ++bucket) {
    seen += counts_[bucket];
    if (seen >= rank) return std::min(upper_bound_of(bucket), max_);
  }
  return max_;
}

}  // namespace shmbus::perf
