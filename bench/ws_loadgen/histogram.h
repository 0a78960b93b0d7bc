// bench/ws_loadgen/histogram.h — an HDR-style log-bucket latency histogram:
// exact below 128 ns, then 64 sub-buckets per power of two (<1.6% error),
// fixed size, no allocation per sample, mergeable across threads.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

namespace herald::wsbench {

class LatencyHistogram {
 public:
  void Record(uint64_t ns) {
    ++counts_[Index(ns)];
    ++total_;
    max_ = std::max(max_, ns);
  }
  void Merge(const LatencyHistogram& o) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
  }
  uint64_t total() const { return total_; }
  uint64_t max() const { return max_; }
  // The value at quantile q (0..1), in ns (bucket midpoint); 0 when empty.
  uint64_t Quantile(double q) const {
    if (total_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total_));
    if (rank >= total_) rank = total_ - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) return std::min(Value(i), max_);
    }
    return max_;
  }

  static size_t Index(uint64_t v) {
    if (v < 128) return static_cast<size_t>(v);
    int e = 63 - __builtin_clzll(v) - 6;  // v >> e is in [64, 128)
    return static_cast<size_t>(e) * 64 + static_cast<size_t>(v >> e);
  }
  static uint64_t Value(size_t idx) {
    if (idx < 128) return idx;
    int e = static_cast<int>(idx / 64) - 1;
    uint64_t m = idx - static_cast<size_t>(e) * 64;
    return (m << e) + ((uint64_t{1} << e) >> 1);
  }

 private:
  std::array<uint64_t, 57 * 64 + 128> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

}  // namespace herald::wsbench
