#include "io/timer_wheel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "io/loop.h"

namespace herald::io {
namespace {

using Clock = std::chrono::steady_clock;

struct Probe : TimerWheel::Entry {
  std::atomic<int> fired{0};
  Clock::time_point at;
  std::function<void()> then;
  void OnTimerExpired() override {
    at = Clock::now();
    fired++;
    if (then) then();
  }
};

bool WaitFor(const std::function<bool()>& pred, int ms = 3000) {
  for (int i = 0; i < ms; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

TEST(TimerWheel, FiresAfterTheDeadlineNeverBefore) {
  Loop loop;
  ASSERT_TRUE(loop.Start().ok());
  Probe p;
  Clock::time_point start;
  ASSERT_TRUE(loop.RunSync([&] {
    start = Clock::now();
    loop.timers().Schedule(&p, 100);
  }));
  ASSERT_TRUE(WaitFor([&] { return p.fired.load() == 1; }));
  EXPECT_GE(p.at - start, std::chrono::milliseconds(100));
  EXPECT_LT(p.at - start, std::chrono::milliseconds(1000));
  loop.Stop();
}

TEST(TimerWheel, CancelledAndReplacedDeadlinesDoNotFire) {
  Loop loop;
  ASSERT_TRUE(loop.Start().ok());
  Probe cancelled, replaced;
  Clock::time_point start;
  ASSERT_TRUE(loop.RunSync([&] {
    start = Clock::now();
    loop.timers().Schedule(&cancelled, 30);
    loop.timers().Cancel(&cancelled);
    loop.timers().Schedule(&replaced, 30);
    loop.timers().Schedule(&replaced, 200);  // replaces the 30 ms deadline
  }));
  ASSERT_TRUE(WaitFor([&] { return replaced.fired.load() == 1; }));
  EXPECT_GE(replaced.at - start, std::chrono::milliseconds(200));
  EXPECT_EQ(cancelled.fired.load(), 0);
  EXPECT_EQ(replaced.fired.load(), 1);
  loop.Stop();
}

TEST(TimerWheel, DeadlinesBeyondOneTurnOfTheWheelWaitTheirTurn) {
  Loop loop;
  ASSERT_TRUE(loop.Start().ok());
  Probe far;
  Clock::time_point start;
  // One turn is 1024 x 16 ms; the wheel must not fire this at the first
  // pass over its slot.
  const uint64_t delay = TimerWheel::kSlots * TimerWheel::kTickMs + 50;
  ASSERT_TRUE(loop.RunSync([&] {
    start = Clock::now();
    loop.timers().Schedule(&far, delay);
  }));
  ASSERT_TRUE(WaitFor([&] { return far.fired.load() == 1; }, 30000));
  EXPECT_GE(far.at - start, std::chrono::milliseconds(delay));
  loop.Stop();
}

TEST(TimerWheel, ACallbackMayCancelAnotherDueInTheSameTick) {
  Loop loop;
  ASSERT_TRUE(loop.Start().ok());
  Probe a, b;
  a.then = [&] { loop.timers().Cancel(&b); };
  b.then = [&] { loop.timers().Cancel(&a); };
  ASSERT_TRUE(loop.RunSync([&] {
    loop.timers().Schedule(&a, 20);
    loop.timers().Schedule(&b, 20);
  }));
  ASSERT_TRUE(WaitFor([&] { return a.fired.load() + b.fired.load() >= 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(a.fired.load() + b.fired.load(), 1);  // whichever ran first cancelled the other
  loop.Stop();
}

}  // namespace
}  // namespace herald::io
