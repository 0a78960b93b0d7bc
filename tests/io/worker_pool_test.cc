#include "io/worker_pool.h"

#include <gtest/gtest.h>

#include <future>

namespace herald::io {
namespace {

// Every probe posted so far has run on every loop (tasks run in the order
// one thread posted them).
void RunPosted(WorkerPool& pool, size_t i) {
  ASSERT_TRUE(pool[i].RunSync([] {}));
}

TEST(WorkerPool, AProbeSaysTheLoopsTurn) {
  WorkerPool pool(2);
  ASSERT_TRUE(pool.Start().ok());
  EXPECT_TRUE(pool.Probe());  // nothing asked before
  RunPosted(pool, 0);
  RunPosted(pool, 1);
  EXPECT_TRUE(pool.Probe());
  RunPosted(pool, 0);
  RunPosted(pool, 1);
  EXPECT_TRUE(pool.Probe());
}

TEST(WorkerPool, AProbeSaysALoopThatRanNothingSinceTheLastIsStuck) {
  WorkerPool pool(2);
  ASSERT_TRUE(pool.Start().ok());
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  ASSERT_TRUE(pool[1].Post([released] { released.wait(); }));  // loop 1 stuck
  EXPECT_TRUE(pool.Probe());
  RunPosted(pool, 0);
  EXPECT_FALSE(pool.Probe());  // loop 1 has not run the first probe
  release.set_value();
  RunPosted(pool, 0);
  RunPosted(pool, 1);
  EXPECT_TRUE(pool.Probe());  // it ran both since
}

TEST(WorkerPool, AStoppedLoopIsNotTurning) {
  WorkerPool pool(1);
  ASSERT_TRUE(pool.Start().ok());
  pool.Stop();
  EXPECT_FALSE(pool.Probe());
}

}  // namespace
}  // namespace herald::io
