#include "server/metric_table.h"

#include <gtest/gtest.h>

#include <atomic>

#include "herald/broker.h"
#include "herald/server.h"

namespace herald::server {
namespace {

TEST(MetricTable, RendersEachRowOnceWithHelpTypeAndSamples) {
  std::atomic<uint64_t> refused{3};
  std::atomic<int64_t> open{-1};  // a gauge that raced below zero reads 0
  MetricTable t;
  t.Counter(
      "x_refused_total", "Refusals.", [&](const MetricSnapshot&) { return Get(refused); },
      Trip::kYes);
  t.Gauge("x_open", "Open things.", [&](const MetricSnapshot&) { return Get(open); });
  t.Family("x_by_reason_total", "counter", "By reason.",
           [](const MetricSnapshot&, std::vector<MetricSample>& out) {
             out.push_back({"", "reason=\"a\"", 1});
             out.push_back({"", "reason=\"" + LabelValue("q\"\n") + "\"", 2});
           });
  EXPECT_EQ(t.Render({}),
            "# HELP x_refused_total Refusals.\n# TYPE x_refused_total counter\n"
            "x_refused_total 3\n"
            "# HELP x_open Open things.\n# TYPE x_open gauge\nx_open 0\n"
            "# HELP x_by_reason_total By reason.\n# TYPE x_by_reason_total counter\n"
            "x_by_reason_total{reason=\"a\"} 1\nx_by_reason_total{reason=\"q\\\"\\n\"} 2\n");
}

TEST(MetricTable, TripsAreTheMarkedRowsSamplesReadFromTheSameSource) {
  std::atomic<uint64_t> refused{0};
  MetricTable t;
  t.Counter(
      "x_refused_total", "Refusals.", [&](const MetricSnapshot&) { return Get(refused); },
      Trip::kYes);
  t.Counter("x_messages_total", "Not a limit.", [](const MetricSnapshot&) { return 9; });
  refused = 4;
  auto trips = t.Trips({});
  ASSERT_EQ(trips.size(), 1u);
  EXPECT_EQ(trips[0], (std::pair<std::string, uint64_t>("x_refused_total", 4)));
}

// The server's table, end to end: every trip counter the limit log watches is
// also a metric on /metrics, under the same name (one declaration for both).
TEST(MetricTable, EveryLimitCounterOfTheServerIsOnItsMetricsPage) {
  Broker broker;
  Server server(broker, {.listen = "127.0.0.1:0", .workers = 1});
  ASSERT_TRUE(server.Start().ok());
  const std::string text = server.MetricsText();
  const auto trips = server.LimitCounters();
  EXPECT_GE(trips.size(), 10u);
  for (const auto& [sample, value] : trips) {
    EXPECT_NE(text.find("\n" + sample + " "), std::string::npos) << sample;
  }
  server.Stop();
}

}  // namespace
}  // namespace herald::server
