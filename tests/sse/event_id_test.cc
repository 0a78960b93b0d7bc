#include "frontends/sse/event_id.h"

#include "frontends/sse/topic_hash.h"

#include <gtest/gtest.h>

#include <random>

namespace herald::sse {
namespace {

const std::vector<std::string> kParams = {"chat.room1", "prices.>", "chat.room2"};

Result<std::vector<ResumePoint>> Parse(std::string_view id,
                                       const std::vector<std::string>& params = kParams) {
  Result<ParsedEventId> parsed = ParseEventId(id, params, TopicLimits{}, 32);
  if (!parsed.ok()) return parsed.status();
  return std::move(parsed->points);
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

TEST(SseTopicHash, IsSipHash24) {
  // The reference implementation's vectors: key 00..0f, message 00..(n-1).
  const uint64_t k0 = 0x0706050403020100ull, k1 = 0x0f0e0d0c0b0a0908ull;
  std::string msg;
  EXPECT_EQ(SipHash24(k0, k1, msg), 0x726fdb47dd0e0e31ull);
  msg.push_back('\0');
  EXPECT_EQ(SipHash24(k0, k1, msg), 0x74f839c593dc67fdull);
  while (msg.size() < 8) msg.push_back(static_cast<char>(msg.size()));
  EXPECT_EQ(SipHash24(k0, k1, msg), 0x93f5f5799a932462ull);
  EXPECT_NE(TopicHash("a.b"), TopicHash("a.c"));
}

std::string LongTopic(int i) {
  std::string t = "wide." + std::to_string(i) + ".";
  t.resize(250, 'x');
  return t;
}

// Issue 14, defect 9: 32 topic names of 250 bytes made a 24 KB id, which the
// browser could not send back. Long names now go by hash: the id has a hard
// ceiling whatever the names are, and parses back to the same positions.
TEST(SseEventId, LongNamesGoByHashAndTheIdHasAHardCeiling) {
  const std::vector<std::string> params = {"wide.>"};
  StreamPositions p(32);
  for (int i = 0; i < 32; ++i) p.Advance(LongTopic(i), 0x7fffffffffffffffull, UINT64_MAX - 1);
  const std::string id = FormatEventId(p.entries(), params, p.forgot());
  EXPECT_LE(id.size(), MaxEventIdBytes(32));
  EXPECT_LE(MaxEventIdBytes(32), 2048u);
  EXPECT_EQ(id.find('@'), std::string::npos);
  auto parsed = ParseEventId(id, params, TopicLimits{}, 32);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_TRUE(parsed->points.empty());
  ASSERT_EQ(parsed->hashed.size(), 32u);
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(parsed->hashed[static_cast<size_t>(i)].hash, TopicHash(LongTopic(i)));
    EXPECT_EQ(parsed->hashed[static_cast<size_t>(i)].offset, UINT64_MAX - 1);
  }
  // The worst case of every kind of entry stays under the ceiling too.
  std::vector<TopicPosition> worst;
  for (int i = 0; i < 32; ++i) {
    worst.push_back(
        {"wide." + std::string(27, static_cast<char>('a' + i % 26)), UINT64_MAX, UINT64_MAX});
  }
  EXPECT_LE(FormatEventId(worst, params, true).size(), MaxEventIdBytes(32));
}

TEST(SseEventId, ShortNamesStayReadableAndOldLongIdsAreStillAccepted) {
  const std::vector<std::string> params = {"wide.>"};
  std::vector<TopicPosition> p = {{"wide.btc", 1, 2}};
  EXPECT_EQ(FormatEventId(p, params), "@wide.btc:1:2");
  // An id from before hashing names a long topic in full: still resumes it.
  const std::string old = "@" + LongTopic(3) + ":1:2";
  auto parsed = ParseEventId(old, params, TopicLimits{}, 32);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->points.size(), 1u);
  EXPECT_EQ(parsed->points[0].topic, LongTopic(3));
}

TEST(SseEventId, HashesAndTheLeftOutMarkAreChecked) {
  const std::vector<std::string> wild = {"wide.>"};
  const std::vector<std::string> exact = {"chat.room1"};
  EXPECT_FALSE(ParseEventId("#abc:1:2", exact, TopicLimits{}, 32).ok());  // no wildcard
  EXPECT_FALSE(ParseEventId("#abc:1:2,#abc:1:3", wild, TopicLimits{}, 32).ok());
  EXPECT_FALSE(ParseEventId("#:1:2", wild, TopicLimits{}, 32).ok());
  EXPECT_FALSE(ParseEventId("#ABC:1:2", wild, TopicLimits{}, 32).ok());
  EXPECT_FALSE(ParseEventId("!,!", wild, TopicLimits{}, 32).ok());
  const std::string both = "@" + LongTopic(1) + ":1:2,#" + [] {
    std::string h;
    uint64_t v = TopicHash(LongTopic(1));
    do {
      h.insert(h.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36]);
      v /= 36;
    } while (v != 0);
    return h;
  }() + ":1:3";
  EXPECT_FALSE(ParseEventId(both, wild, TopicLimits{}, 32).ok());  // the same topic twice
  auto flagged = ParseEventId("@wide.a:1:2,!", wild, TopicLimits{}, 1);
  ASSERT_TRUE(flagged.ok());  // "!" is not an entry: it does not count
  EXPECT_TRUE(flagged->forgot);
}

TEST(StreamPositions, AHashedPositionIsNamedByItsTopic) {
  StreamPositions p(4);
  p.SeedHashed({"", 7, 3, TopicHash(LongTopic(1))});
  EXPECT_EQ(p.unresolved(), 1u);
  EXPECT_FALSE(p.Resolve(LongTopic(2)).has_value());
  auto was = p.Resolve(LongTopic(1));
  ASSERT_TRUE(was.has_value());
  EXPECT_EQ(was->epoch, 7u);
  EXPECT_EQ(was->offset, 3u);
  EXPECT_EQ(p.unresolved(), 0u);
  EXPECT_TRUE(p.Knows(LongTopic(1)));
  EXPECT_FALSE(p.IsNew(LongTopic(1), 7, 3));
  EXPECT_TRUE(p.IsNew(LongTopic(1), 7, 4));
}

TEST(StreamPositions, ForgettingATopicMarksTheId) {
  StreamPositions p(2);
  p.Advance("a", 1, 1);
  p.Advance("b", 1, 1);
  EXPECT_FALSE(p.forgot());
  p.Advance("c", 1, 1);
  EXPECT_TRUE(p.forgot());
  EXPECT_EQ(FormatEventId(p.entries(), std::vector<std::string>{"*"}, p.forgot()),
            "@b:1:1,@c:1:1,!");
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
