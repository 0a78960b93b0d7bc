#include "io/loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "io/worker_pool.h"

namespace herald::io {
namespace {

TEST(Loop, RunsPostedTasksOnTheLoopThread) {
  Loop loop;
  ASSERT_TRUE(loop.Start().ok());
  EXPECT_FALSE(loop.InLoopThread());
  bool in_loop = false;
  ASSERT_TRUE(loop.RunSync([&] { in_loop = loop.InLoopThread(); }));
  EXPECT_TRUE(in_loop);
  loop.Stop();
}

TEST(Loop, PostsFromManyThreadsAllArriveInOrderPerThread) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 5000;
  Loop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::vector<int> last(kThreads, -1);  // loop thread only
  int total = 0;
  bool in_order = true;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        loop.Post([&, t, i] {
          if (last[t] + 1 != i) in_order = false;
          last[t] = i;
          ++total;
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  loop.RunSync([] {});
  loop.Stop();
  EXPECT_TRUE(in_order);
  EXPECT_EQ(total, kThreads * kPerThread);
  // Wake-ups are merged: far fewer loop turns than posts.
  EXPECT_LT(loop.wakeups(), static_cast<uint64_t>(kThreads * kPerThread));
}

TEST(Loop, ManyPostsBeforeOneTurnCostOneWakeUp) {
  Loop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::atomic<bool> blocking{false};
  std::atomic<bool> release{false};
  // Wake-up 1: a task that holds the loop until every post below is queued.
  loop.Post([&] {
    blocking = true;
    while (!release.load()) std::this_thread::yield();
  });
  while (!blocking.load()) std::this_thread::yield();
  int ran = 0;  // loop thread only
  for (int i = 0; i < 1000; ++i) loop.Post([&] { ++ran; });
  release = true;
  // Wake-up 2 runs all 1000 (and maybe this RunSync, else wake-up 3).
  loop.RunSync([] {});
  EXPECT_EQ(ran, 1000);
  EXPECT_LE(loop.wakeups(), 3u);
  loop.Stop();
}

TEST(Loop, DeferredWorkRunsInTheSameTurnWithoutAWakeUp) {
  Loop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::vector<int> order;
  uint64_t wakeups_before = 0;
  ASSERT_TRUE(loop.RunSync([&] {
    wakeups_before = loop.wakeups();
    loop.Defer([&] {
      order.push_back(2);
      loop.Defer([&] { order.push_back(3); });  // deferred from deferred work
    });
    order.push_back(1);
  }));
  // A posted task runs on a later turn: by then the deferred ones have run.
  ASSERT_TRUE(loop.RunSync([] {}));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(loop.wakeups(), wakeups_before + 1);  // only the second RunSync's post
  loop.Stop();
}

TEST(Loop, HandlePostsWhileTheLoopRunsAndFailsSafelyAfterItIsGone) {
  std::shared_ptr<LoopHandle> handle;
  std::atomic<int> ran{0};
  {
    Loop loop;
    ASSERT_TRUE(loop.Start().ok());
    handle = loop.handle();
    ASSERT_TRUE(handle->Post([&] { ran++; }));
    ASSERT_TRUE(loop.RunSync([] {}));
    EXPECT_EQ(ran.load(), 1);
  }  // stopped and destroyed
  EXPECT_FALSE(handle->Post([&] { ran++; }));
  EXPECT_FALSE(handle->PostOrDefer([&] { ran++; }));
  EXPECT_EQ(ran.load(), 1);
}

TEST(Loop, StopRunsPendingTasksThenRefusesNewOnes) {
  Loop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) loop.Post([&] { ran++; });
  loop.Stop();
  EXPECT_EQ(ran.load(), 100);
  EXPECT_FALSE(loop.Post([] {}));
  EXPECT_FALSE(loop.RunSync([] {}));
}

TEST(Loop, StopClosesForeignHandles) {
  Loop loop;
  ASSERT_TRUE(loop.Start().ok());
  auto* timer = new uv_timer_t;
  loop.RunSync([&] {
    uv_timer_init(loop.raw(), timer);
    uv_timer_start(
        timer, [](uv_timer_t*) {}, 100000, 0);
  });
  loop.Stop();  // would assert in uv_loop_close if the timer stayed open
  delete timer;
}

TEST(WorkerPool, StartsAndStopsEveryLoop) {
  WorkerPool pool(3);
  ASSERT_TRUE(pool.Start().ok());
  ASSERT_EQ(pool.size(), 3u);
  std::atomic<int> ran{0};
  for (size_t i = 0; i < pool.size(); ++i) {
    EXPECT_TRUE(pool[i].RunSync([&] { ran++; }));
  }
  pool.Stop();
  EXPECT_EQ(ran.load(), 3);
  EXPECT_FALSE(pool[0].Post([] {}));
}

TEST(WorkerPool, ZeroWorkersMeansOne) {
  WorkerPool pool(0);
  EXPECT_EQ(pool.size(), 1u);
}

}  // namespace
}  // namespace herald::io
