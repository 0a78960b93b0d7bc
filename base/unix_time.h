// The wall clock as Unix seconds: what tokens' exp/iat, revocations and hook
// decisions are written in.
#pragma once

#include <chrono>
#include <cstdint>

namespace herald {

inline int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace herald
