// Live<T>: a reload swaps the value while readers keep the snapshot they took.
#include "base/live.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace herald {
namespace {

struct Pair {
  int a = 0;
  int b = 0;  // always equal to a: a torn read would show
};

TEST(Live, ASnapshotStaysWhileTheValueIsReplaced) {
  Live<std::string> live(std::string("old"));
  const uint64_t v0 = live.version();
  std::shared_ptr<const std::string> held = live.Get();
  live.Set(std::string("new"));
  EXPECT_EQ(*held, "old");
  EXPECT_EQ(*live.Get(), "new");
  EXPECT_NE(live.version(), v0);
  const uint64_t v1 = live.version();
  live.Update([](std::string& s) { s += "er"; });  // from the current value
  EXPECT_EQ(*live.Get(), "newer");
  EXPECT_EQ(*held, "old");
  EXPECT_NE(live.version(), v1);
}

TEST(Live, ReadersOnOtherThreadsNeverSeeAMixOfTwoValues) {
  Live<Pair> live(Pair{});
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        std::shared_ptr<const Pair> p = live.Get();
        if (p->a != p->b) torn.fetch_add(1);
      }
    });
  }
  for (int i = 1; i <= 20000; ++i) live.Set(Pair{i, i});
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(live.Get()->a, 20000);
}

}  // namespace
}  // namespace herald
