#include "frontends/http/url.h"

#include <gtest/gtest.h>

namespace herald::http {
namespace {

TEST(SplitTarget, SplitsOriginFormAtTheQuestionMark) {
  auto t = SplitTarget("/a/b?x=1&y");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/a/b");
  EXPECT_EQ(t->query, "x=1&y");
}

TEST(SplitTarget, AcceptsAbsoluteFormAndAsterisk) {
  auto t = SplitTarget("http://example.com:8080/p?q=1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/p");
  EXPECT_EQ(t->query, "q=1");
  auto bare = SplitTarget("http://example.com");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->path, "/");
  EXPECT_EQ(SplitTarget("*")->path, "*");
}

TEST(SplitTarget, DropsTheFragmentAndRejectsNonsense) {
  EXPECT_EQ(SplitTarget("/a#frag")->path, "/a");
  EXPECT_FALSE(SplitTarget(""));
  EXPECT_FALSE(SplitTarget("example.com"));
}

TEST(PercentDecode, DecodesEscapes) {
  EXPECT_EQ(*PercentDecode("chat%2Eroom%201"), "chat.room 1");
  EXPECT_EQ(*PercentDecode("a+b"), "a+b");
  EXPECT_EQ(*PercentDecode("a+b", /*plus_is_space=*/true), "a b");
}

TEST(PercentDecode, ReportsBadEscapesAsInvalidArgument) {
  EXPECT_EQ(PercentDecode("%zz").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(PercentDecode("abc%").ok());
  EXPECT_FALSE(PercentDecode("abc%4").ok());
}

TEST(ParseQuery, DecodesNamesAndValues) {
  Result<QueryParams> q = ParseQuery("topic=chat%2Eroom&name=a+b&flag&&empty=");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->Get("topic"), "chat.room");
  EXPECT_EQ(q->Get("name"), "a b");
  EXPECT_EQ(q->Get("flag"), "");
  EXPECT_EQ(q->Get("empty"), "");
  EXPECT_FALSE(q->Get("missing"));
  EXPECT_EQ(q->size(), 4u);
}

TEST(ParseQuery, ABadEscapeIsAnError) {
  Result<QueryParams> q = ParseQuery("a=%G1");
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("bad percent-escape"), std::string::npos);
}

}  // namespace
}  // namespace herald::http
