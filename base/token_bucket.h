// A token bucket: `rate` tokens per second, at most `burst` saved up. Each
// message or command takes one; an empty bucket says no. Used per
// connection, on its own thread (no locking).
#pragma once

#include <algorithm>
#include <cstdint>

namespace herald {

class TokenBucket {
 public:
  TokenBucket(double rate_per_second, double burst)
      : rate_per_us_(rate_per_second / 1e6), burst_(std::max(burst, 1.0)), tokens_(burst_) {}

  // Takes a token at `now_us` (any monotonic microsecond clock).
  bool Take(int64_t now_us) {
    if (last_us_ != 0 && now_us > last_us_) {
      tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_us - last_us_) * rate_per_us_);
    }
    last_us_ = now_us;
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  const double rate_per_us_;
  const double burst_;
  double tokens_;
  int64_t last_us_ = 0;
};

}  // namespace herald
