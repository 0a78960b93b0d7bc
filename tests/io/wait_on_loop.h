// tests/io/wait_on_loop.h — polls a condition on a loop's thread.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

#include "io/loop.h"

namespace herald::io::testing {

// Runs `pred` on `loop` (Loop::RunSync) until it holds; false after `limit`.
inline bool WaitOnLoop(Loop& loop, const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    bool ok = false;
    loop.RunSync([&] { ok = pred(); });
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

}  // namespace herald::io::testing
