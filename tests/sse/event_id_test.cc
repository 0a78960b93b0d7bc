#include "frontends/sse/event_id.h"

#include <gtest/gtest.h>

#include <random>

namespace herald::sse {
namespace {

const std::vector<std::string> kParams = {"chat.room1", "prices.>", "chat.room2"};

Result<std::vector<ResumePoint>> Parse(std::string_view id,
                                       const std::vector<std::string>& params = kParams) {
  return ParseEventId(id, params, TopicLimits{}, 32);
}

TEST(SseEventId, ExactTopicIsNamedByItsParameterIndex) {
  std::vector<TopicPosition> p = {{"chat.room1", 1795910076831676, 7}};
  EXPECT_EQ(FormatEventId(p, kParams), "0:holhp6pz24:7");
  std::vector<TopicPosition> q = {{"chat.room2", 36, 35}};
  EXPECT_EQ(FormatEventId(q, kParams), "2:10:z");
}

TEST(SseEventId, WildcardMatchIsNamedAndPercentEncoded) {
  std::vector<TopicPosition> p = {{"prices.btc", 1, 2}, {"prices.a:b,c@%é", 3, 4}};
  EXPECT_EQ(FormatEventId(p, kParams), "@prices.btc:1:2,@prices.a%3Ab%2Cc%40%25%C3%A9:3:4");
}

TEST(SseEventId, RoundTripsThroughParse) {
  std::vector<TopicPosition> p = {
      {"chat.room1", 1795910076831676, 7}, {"prices.eu-west_1", 5, 0}, {"prices.€", 0, 0}};
  const std::string id = FormatEventId(p, kParams);
  auto points = Parse(id);
  ASSERT_TRUE(points.ok()) << points.status().message();
  ASSERT_EQ(points->size(), 3u);
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_EQ((*points)[i].topic, p[i].topic);
    EXPECT_EQ((*points)[i].epoch, p[i].epoch);
    EXPECT_EQ((*points)[i].after_offset, p[i].offset);
  }
}

TEST(SseEventId, EmptyIdMeansNoResume) {
  auto points = Parse("");
  ASSERT_TRUE(points.ok());
  EXPECT_TRUE(points->empty());
}

TEST(SseEventId, RejectsMalformedIds) {
  for (std::string_view bad : {
           "abc",                    // not ref:epoch:offset
           "0:1",                    // missing offset
           ":1:2",                   // empty ref
           "0::2",                   // empty epoch
           "0:1:",                   // empty offset
           "0:1:2,",                 // trailing comma
           "0:1:2,,0:1:2",           // empty entry
           "0:1:Z",                  // base 36 is lower case
           "0:-1:2",                 // not a number
           "0:1:zzzzzzzzzzzzzz",     // more than 64 bits
           "3:1:2",                  // no fourth parameter
           "1:1:2",                  // index of a wildcard parameter
           "00000:1:2",              // absurd index
           "@orders.1:1:2",          // no parameter matches the topic
           "@prices.%zz:1:2",        // bad escape
           "@prices.%4:1:2",         // truncated escape
           "@prices.a b:1:2",        // unencoded byte outside the kept set
           "@prices..x:1:2",         // not a valid topic
           "0:1:2,0:3:4",            // the same topic twice
           "0:1:2,@chat.room1:3:4",  // …also when named two ways
       }) {
    auto points = Parse(bad);
    EXPECT_FALSE(points.ok()) << bad;
    if (!points.ok()) {
      EXPECT_EQ(points.status().code(), ErrorCode::kInvalidArgument) << bad;
    }
  }
}

TEST(SseEventId, RejectsMoreEntriesThanTheLimit) {
  std::string id;
  for (int i = 0; i < 4; ++i)
    id += (i ? "," : "") + std::string("@prices.t") + char('a' + i) + ":1:1";
  EXPECT_TRUE(ParseEventId(id, kParams, TopicLimits{}, 4).ok());
  EXPECT_FALSE(ParseEventId(id, kParams, TopicLimits{}, 3).ok());
}

TEST(SseEventId, ParsesArbitraryBytesWithoutCrashing) {
  std::mt19937 rng(7);
  const std::string alphabet = "0123456789az:,@%.>*_-AZ\xC3\xA9";
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 24, ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    auto points = Parse(s);
    if (points.ok()) {
      for (const ResumePoint& p : *points) EXPECT_TRUE(ValidateTopic(p.topic).ok()) << s;
    }
  }
}

TEST(StreamPositions, FiltersCopiesAlreadyDelivered) {
  StreamPositions p(8);
  EXPECT_TRUE(p.Advance("a", 10, 1));
  EXPECT_FALSE(p.Advance("a", 10, 1));  // the same message through a second pattern
  EXPECT_TRUE(p.Advance("a", 10, 2));
  EXPECT_FALSE(p.Advance("a", 10, 1));  // a replayed copy
  EXPECT_TRUE(p.Advance("a", 11, 1));   // a new epoch restarts the numbering
  EXPECT_FALSE(p.Advance("a", 10, 9));  // the old epoch is over
  EXPECT_TRUE(p.Advance("b", 10, 1));   // topics are independent
}

TEST(StreamPositions, SeedSkipsWhatTheClientHasSeen) {
  StreamPositions p(8);
  p.Seed({"a", 10, 5});
  EXPECT_FALSE(p.IsNew("a", 10, 5));
  EXPECT_TRUE(p.IsNew("a", 10, 6));
  p.Seed({"b", 0, 0});  // did not exist: anything is new
  EXPECT_TRUE(p.IsNew("b", 1, 1));
  EXPECT_EQ(FormatEventId(p.entries(), std::vector<std::string>{"a", "b"}), "0:a:5,1:0:0");
}

TEST(StreamPositions, GapMovesThePositionPastTheMissingRange) {
  StreamPositions p(8);
  p.Advance("a", 10, 3);
  p.Skip(Gap{"a", GapReason::kSlowConsumer, 10, 4, 9});
  EXPECT_FALSE(p.IsNew("a", 10, 9));
  EXPECT_TRUE(p.IsNew("a", 10, 10));
  p.Skip(Gap{"a", GapReason::kEpochChanged, 20, 1, 4});
  EXPECT_EQ(p.entries().back().epoch, 20u);
  EXPECT_EQ(p.entries().back().offset, 4u);
  p.Skip(Gap{"a", GapReason::kEpochChanged, 0, 0, 0});  // the topic is gone
  EXPECT_EQ(p.size(), 0u);
}

TEST(StreamPositions, ForgetsTheLeastRecentTopicBeyondItsLimit) {
  StreamPositions p(2);
  p.Advance("a", 1, 1);
  p.Advance("b", 1, 1);
  p.Advance("a", 1, 2);  // a is now the most recent
  p.Advance("c", 1, 1);  // b goes
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p.entries()[0].topic, "a");
  EXPECT_EQ(p.entries()[1].topic, "c");
}

}  // namespace
}  // namespace herald::sse
