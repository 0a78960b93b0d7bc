#include "server/readiness.h"

#include <gtest/gtest.h>

#include <thread>

#include "herald/disk_store.h"
#include "tests/store/scratch_dir.h"

namespace herald::server {
namespace {

using namespace std::chrono_literals;

ReadinessOptions Fast() {
  ReadinessOptions o;
  o.interval = 10ms;
  o.timeout = 500ms;
  return o;
}

// Waits (bounded) until `r` reports `ready`; its last report.
Readiness::Report WaitFor(const Readiness& r, bool ready) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  Readiness::Report report = r.Check();
  while (report.ready != ready && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
    report = r.Check();
  }
  return report;
}

TEST(Readiness, NotReadyUntilTheLocalCanaryCameBackThenReady) {
  Broker broker;
  Readiness r(broker, nullptr, Fast());
  EXPECT_FALSE(r.Check().ready);
  EXPECT_EQ(r.Check().why, "not started");
  ASSERT_TRUE(r.Start().ok());
  Readiness::Report report = WaitFor(r, true);
  ASSERT_TRUE(report.ready) << report.why;
  ASSERT_EQ(report.targets.size(), 1u);
  EXPECT_EQ(report.targets[0].name, Readiness::kLocal);
  EXPECT_GT(report.targets[0].latency_s, 0);
  r.Stop();
  EXPECT_FALSE(r.Check().ready);
}

TEST(Readiness, ADrainingNodeIsNotReady) {
  Broker broker;
  Readiness r(broker, nullptr, Fast());
  ASSERT_TRUE(r.Start().ok());
  ASSERT_TRUE(WaitFor(r, true).ready);
  r.SetDraining();
  EXPECT_FALSE(r.Check().ready);
  EXPECT_EQ(r.Check().why, "draining");
}

TEST(Readiness, AStoreThatRefusesTheCanaryMakesTheNodeNotReady) {
  testing::ScratchDir dir;
  DiskStoreOptions store;
  store.dir = dir.Sub("store");
  store.max_disk_bytes = 1;  // full from the start: every append is refused
  Result<std::shared_ptr<HistoryStore>> opened = OpenDiskStore(store);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  BrokerOptions options;
  options.store = *opened;
  Broker broker(options);
  Readiness r(broker, nullptr, Fast());
  ASSERT_TRUE(r.Start().ok());
  // Never ready: its canaries are refused, and the reason says so.
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  Readiness::Report report = r.Check();
  while (std::chrono::steady_clock::now() < deadline &&
         (report.targets.empty() || report.targets[0].failures < 3)) {
    EXPECT_FALSE(report.ready);
    std::this_thread::sleep_for(5ms);
    report = r.Check();
  }
  EXPECT_FALSE(report.ready);
  EXPECT_GE(report.targets[0].failures, 3u);
  EXPECT_NE(report.why.find("full"), std::string::npos) << report.why;
  r.Stop();
}

}  // namespace
}  // namespace herald::server
