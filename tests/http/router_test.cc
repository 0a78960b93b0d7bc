#include "frontends/http/router.h"

#include <gtest/gtest.h>

namespace herald::http {
namespace {

Handler Named(std::string* called, std::string name) {
  return [called, name](Request&, Response) { *called = name; };
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Handle("GET", "/hello", Named(&called_, "get hello"));
    router_.Handle("POST", "/echo", Named(&called_, "post echo"));
    router_.Handle("PUT", "/echo", Named(&called_, "put echo"));
    router_.HandlePrefix("POST", "/publish/", Named(&called_, "publish"));
    router_.HandlePrefix("POST", "/publish/special/", Named(&called_, "special"));
    router_.Handle("POST", "/publish/exact", Named(&called_, "exact"));
  }
  std::string Call(std::string_view method, std::string_view path) {
    Router::Match m = router_.Find(method, path);
    if (m.status != 200) return std::to_string(m.status);
    Request req;
    (*m.handler)(req, Response());
    return called_ + " rest=" + std::string(path.substr(m.prefix_length));
  }
  Router router_;
  std::string called_;
};

TEST_F(RouterTest, MatchesMethodAndExactPath) {
  EXPECT_EQ(Call("GET", "/hello"), "get hello rest=/hello");
  EXPECT_EQ(Call("POST", "/echo"), "post echo rest=/echo");
}

TEST_F(RouterTest, UnknownPathIs404) {
  EXPECT_EQ(Call("GET", "/nope"), "404");
  EXPECT_EQ(Call("GET", "/hello/"), "404");  // exact means exact
}

TEST_F(RouterTest, WrongMethodListsAllowedMethods) {
  Router::Match m = router_.Find("DELETE", "/echo");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "POST, PUT");
  EXPECT_EQ(router_.Find("POST", "/hello").allow, "GET, HEAD");
}

TEST_F(RouterTest, HeadIsServedByTheGetHandler) {
  EXPECT_EQ(Call("HEAD", "/hello"), "get hello rest=/hello");
  EXPECT_EQ(Call("HEAD", "/echo"), "405");
}

TEST_F(RouterTest, PrefixRoutesPassTheRestOfThePath) {
  EXPECT_EQ(Call("POST", "/publish/chat.room1"), "publish rest=chat.room1");
}

TEST_F(RouterTest, LongestPrefixWinsAndExactBeatsPrefix) {
  EXPECT_EQ(Call("POST", "/publish/special/x"), "special rest=x");
  EXPECT_EQ(Call("POST", "/publish/exact"), "exact rest=/publish/exact");
  EXPECT_EQ(Call("GET", "/publish/x"), "405");
}

}  // namespace
}  // namespace herald::http
