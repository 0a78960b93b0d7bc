#include "frontends/http/response_format.h"

#include <gtest/gtest.h>

#include "frontends/http/headers.h"

namespace herald::http {
namespace {

TEST(FormatHead, WritesStatusDateServerAndFraming) {
  HeaderList extra{{"Allow", "GET, HEAD"}};
  const std::string head = FormatHead(
      {.status = 405, .content_type = "application/json", .content_length = 12, .close = true},
      extra);
  EXPECT_EQ(head.rfind("HTTP/1.1 405 Method Not Allowed\r\nDate: ", 0), 0u);
  EXPECT_NE(head.find("\r\nServer: herald\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nContent-Type: application/json\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nContent-Length: 12\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_NE(head.find("\r\nAllow: GET, HEAD\r\n\r\n"), std::string::npos);
}

TEST(FormatHead, Omits204ContentLength) {
  const std::string head = FormatHead({.status = 204, .content_length = 0}, {});
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);
}

TEST(ErrorJson, EscapesTheMessage) {
  EXPECT_EQ(ErrorJson("bad_request", "a \"quoted\"\nline\x01"),
            "{\"error\":\"bad_request\",\"message\":\"a \\\"quoted\\\"\\nline\\u0001\"}");
}

TEST(HttpDate, IsAnImfFixdate) {
  const std::string_view d = HttpDate();
  EXPECT_EQ(d.size(), 29u);  // "Sun, 06 Nov 1994 08:49:37 GMT"
  EXPECT_EQ(d.substr(26), "GMT");
}

TEST(HeaderList, LooksUpCaseInsensitively) {
  HeaderList h{{"Content-Type", "text/plain"}, {"X-A", "1"}, {"x-a", "2"}};
  EXPECT_EQ(h.Get("content-TYPE"), "text/plain");
  EXPECT_EQ(h.Get("X-A"), "1");
  EXPECT_EQ(h.Count("x-A"), 2u);
  EXPECT_FALSE(h.Get("missing"));
}

TEST(HasToken, FindsATokenInACommaList) {
  EXPECT_TRUE(HasToken("keep-alive, Upgrade", "upgrade"));
  EXPECT_FALSE(HasToken("keep-alive, Upgrades", "upgrade"));
}

}  // namespace
}  // namespace herald::http
