#include "server/logging.h"

#include <gtest/gtest.h>

namespace herald::server {
namespace {

TEST(JsonLogLine, IsOneObjectWithTimeLevelMessageAndFields) {
  // 2026-12-06T09:48:33.123Z
  const int64_t ms = 1796550513123;
  EXPECT_EQ(JsonLogLine(ms, "info", "stopped"),
            R"({"ts":"2026-12-06T09:48:33.123Z","level":"info","msg":"stopped"})");
  EXPECT_EQ(JsonLogLine(ms, "debug", "connection opened\x1e\"front\":\"ws\",\"user\":\"alice\""),
            R"({"ts":"2026-12-06T09:48:33.123Z","level":"debug","msg":"connection opened",)"
            R"("front":"ws","user":"alice"})");
}

TEST(JsonLogLine, OnlyTheFieldsLoggersLinesAreSplitIntoFields) {
  // Any other line is all message, whatever it holds (a peer's reason, say).
  EXPECT_EQ(JsonLogLine(0, "warn", "refused: x\x1e\"user\":\"root\"", /*split=*/false),
            "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"warn\",\"msg\":"
            "\"refused: x\\u001e\\\"user\\\":\\\"root\\\"\"}");
}

TEST(JsonLogLine, EscapesTheMessageAndReplacesInvalidUtf8) {
  const std::string line = JsonLogLine(0, "warn", "a \"quoted\"\nline \xff\xfe and \xc3\xa9");
  EXPECT_EQ(line,
            "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"warn\",\"msg\":\"a "
            "\\\"quoted\\\"\\nline \xEF\xBF\xBD\xEF\xBF\xBD and \xc3\xa9\"}");
  // An overlong encoding and a lone surrogate are not UTF-8 either.
  EXPECT_EQ(JsonLogLine(0, "info", "\xc0\xaf\xed\xa0\x80").find("\xc0"), std::string::npos);
  EXPECT_EQ(JsonLogLine(0, "info", "\xed\xa0\x80").find("\xed\xa0"), std::string::npos);
}

}  // namespace
}  // namespace herald::server
