#include "herald/topic.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

void ExpectInvalid(std::string_view name, bool pattern, std::string_view fragment,
                   TopicLimits limits = {}) {
  Status s = pattern ? ValidatePattern(name, limits) : ValidateTopic(name, limits);
  ASSERT_FALSE(s.ok()) << name;
  EXPECT_EQ(s.code(), ErrorCode::kInvalidTopic);
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
}

TEST(TopicValidation, AcceptsDottedTokens) {
  EXPECT_TRUE(ValidateTopic("chat.room42.msgs").ok());
  EXPECT_TRUE(ValidateTopic("a").ok());
  EXPECT_TRUE(ValidateTopic("prix.été.€").ok());
}

TEST(TopicValidation, RejectsEmptyName) { ExpectInvalid("", false, "empty topic"); }

TEST(TopicValidation, RejectsEmptyTokenWithItsPosition) {
  ExpectInvalid("a..b", false, "empty token (token 2)");
  ExpectInvalid(".a", false, "empty token (token 1)");
  ExpectInvalid("a.", false, "empty token (token 2)");
}

TEST(TopicValidation, RejectsWildcardInPublishTopic) {
  ExpectInvalid("a.*.b", false, "wildcard '*'");
  ExpectInvalid("a.>", false, "wildcard '>'");
}

TEST(TopicValidation, RejectsGreaterThanNotLast) {
  ExpectInvalid("a.>.b", true, "must be the last");
}

TEST(TopicValidation, RejectsWildcardInsideToken) {
  ExpectInvalid("a.b*", true, "whole tokens");
  ExpectInvalid("a.>b", true, "whole tokens");
}

TEST(TopicValidation, RejectsControlCharactersAndWhitespace) {
  ExpectInvalid(std::string_view("a.b\x01", 4), false, "control character");
  ExpectInvalid(std::string_view("a\0b", 3), false, "control character");
  ExpectInvalid("a.b\x7f", false, "control character");
  ExpectInvalid("a b", false, "whitespace");
}

TEST(TopicValidation, RejectsInvalidUtf8) {
  ExpectInvalid("a.\xff", false, "invalid UTF-8");
  ExpectInvalid("a.\xc0\xaf", false, "invalid UTF-8");      // overlong '/'
  ExpectInvalid("a.\xed\xa0\x80", false, "invalid UTF-8");  // surrogate
  ExpectInvalid("a.\xe2\x82", false, "invalid UTF-8");      // truncated
}

TEST(TopicValidation, EnforcesLengthAndTokenLimits) {
  TopicLimits limits{.max_length = 8, .max_tokens = 3};
  EXPECT_TRUE(ValidateTopic("a.b.c", limits).ok());
  ExpectInvalid("abcdefghi", false, "over the limit of 8", limits);
  ExpectInvalid("a.b.c.d", false, "more than 3 tokens", limits);
}

TEST(TopicValidation, PatternsAcceptWildcards) {
  EXPECT_TRUE(ValidatePattern("chat.*.msgs").ok());
  EXPECT_TRUE(ValidatePattern("chat.>").ok());
  EXPECT_TRUE(ValidatePattern(">").ok());
  EXPECT_TRUE(ValidatePattern("*.*").ok());
}

TEST(PatternMatches, AWildcardFirstTokenNeverMatchesTheNodesOwnTopics) {
  EXPECT_FALSE(PatternMatches(">", "_HERALD.canary.n1"));
  EXPECT_FALSE(PatternMatches("*.canary.n1", "_HERALD.canary.n1"));
  EXPECT_TRUE(PatternMatches("_HERALD.>", "_HERALD.canary.n1"));
  EXPECT_TRUE(PatternMatches("_HERALD.*.n1", "_HERALD.canary.n1"));
  EXPECT_TRUE(PatternMatches(">", "_HERALDx.canary"));
}

TEST(PatternMatches, StarMatchesExactlyOneToken) {
  EXPECT_TRUE(PatternMatches("a.*.c", "a.b.c"));
  EXPECT_FALSE(PatternMatches("a.*.c", "a.c"));
  EXPECT_FALSE(PatternMatches("a.*.c", "a.b.x.c"));
  EXPECT_FALSE(PatternMatches("a.*", "a"));
}

TEST(PatternMatches, GreaterThanMatchesOneOrMoreTrailingTokens) {
  EXPECT_TRUE(PatternMatches("a.>", "a.b"));
  EXPECT_TRUE(PatternMatches("a.>", "a.b.c.d"));
  EXPECT_FALSE(PatternMatches("a.>", "a"));
  EXPECT_TRUE(PatternMatches(">", "x"));
}

TEST(PatternMatches, LiteralsMatchWholeTokensOnly) {
  EXPECT_TRUE(PatternMatches("orders.42", "orders.42"));
  EXPECT_FALSE(PatternMatches("orders.42", "orders.420"));
  EXPECT_FALSE(PatternMatches("orders.42", "orders.4"));
  EXPECT_FALSE(PatternMatches("orders.42", "ORDERS.42"));
}

}  // namespace
}  // namespace herald
