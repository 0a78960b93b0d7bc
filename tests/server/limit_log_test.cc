#include "server/limit_log.h"

#include <gtest/gtest.h>

namespace herald::server {
namespace {

TEST(LimitLog, OneLinePerTrippedLimitWithItsReasonAndCount) {
  LimitLog log;
  EXPECT_TRUE(log.Report({{"herald_http_rejects_total{reason=\"max_connections_per_ip\"}", 2},
                          {"herald_ws_rate_limited_total", 5}})
                  .empty());  // the first report takes stock
  std::vector<std::string> lines =
      log.Report({{"herald_http_rejects_total{reason=\"max_connections_per_ip\"}", 7},
                  {"herald_http_rejects_total{reason=\"header_timeout\"}", 1},
                  {"herald_ws_rate_limited_total", 5}});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "limit tripped: herald_http_rejects_total{reason=\"max_connections_per_ip\"} +5 "
            "(total 7)");
  EXPECT_EQ(lines[1],
            "limit tripped: herald_http_rejects_total{reason=\"header_timeout\"} +1 (total 1)");
  EXPECT_TRUE(log.Report({{"herald_ws_rate_limited_total", 5}}).empty());  // nothing moved
}

}  // namespace
}  // namespace herald::server
