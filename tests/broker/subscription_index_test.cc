#include "broker/subscription_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "herald/topic.h"

namespace herald {
namespace {

SubscriptionPtr MakeSub(uint64_t id, std::string pattern, std::string group = "") {
  auto s = std::make_shared<Subscription>();
  s->id = id;
  s->pattern = std::move(pattern);
  s->queue_group = std::move(group);
  return s;
}

std::set<uint64_t> Ids(const MatchResult& r) {
  std::set<uint64_t> ids;
  for (const auto& slice : r.plain) {
    for (const Subscription* s : slice.subscriptions) ids.insert(s->id);
  }
  for (const auto& g : r.groups) {
    for (const SubscriptionPtr& s : g.members) ids.insert(s->id);
  }
  return ids;
}

// Every test runs with the match cache on and off: the cache must never
// change an answer.
class SubscriptionIndexTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { index_.set_cache_enabled(GetParam()); }
  SubscriptionIndex index_;
};

INSTANTIATE_TEST_SUITE_P(CacheOnAndOff, SubscriptionIndexTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Cached" : "Uncached"; });

TEST_P(SubscriptionIndexTest, LiteralPatternMatchesOnlyItsTopic) {
  index_.Add(MakeSub(1, "a.b"));
  EXPECT_EQ(Ids(*index_.Match("a.b")), (std::set<uint64_t>{1}));
  EXPECT_TRUE(index_.Match("a.c")->empty());
  EXPECT_TRUE(index_.Match("a.b.c")->empty());
}

TEST_P(SubscriptionIndexTest, TheNodesOwnTopicsAreReachedOnlyByTheirLiteralFirstToken) {
  index_.Add(MakeSub(1, ">"));
  index_.Add(MakeSub(2, "*.canary.>"));
  index_.Add(MakeSub(3, "_HERALD.>"));
  index_.Add(MakeSub(4, "_HERALD.canary.*"));
  EXPECT_EQ(Ids(*index_.Match("_HERALD.canary.n1")), (std::set<uint64_t>{3, 4}));
  EXPECT_EQ(Ids(*index_.Match("x.canary.n1")), (std::set<uint64_t>{1, 2}));
  EXPECT_EQ(Ids(*index_.MatchUncached("_HERALD.canary.n1")), (std::set<uint64_t>{3, 4}));
  // Only "_HERALD." is the nodes': a first token merely like it is not.
  EXPECT_EQ(Ids(*index_.Match("_HERALDx.canary.n1")), (std::set<uint64_t>{1, 2}));
}

TEST_P(SubscriptionIndexTest, PartialWildcardMatchesExactlyOneToken) {
  index_.Add(MakeSub(1, "a.*.c"));
  EXPECT_EQ(Ids(*index_.Match("a.x.c")), (std::set<uint64_t>{1}));
  EXPECT_TRUE(index_.Match("a.c")->empty());
  EXPECT_TRUE(index_.Match("a.x.y.c")->empty());
}

TEST_P(SubscriptionIndexTest, FullWildcardNeedsAtLeastOneMoreToken) {
  index_.Add(MakeSub(1, "a.>"));
  EXPECT_TRUE(index_.Match("a")->empty());
  EXPECT_EQ(Ids(*index_.Match("a.b")), (std::set<uint64_t>{1}));
  EXPECT_EQ(Ids(*index_.Match("a.b.c.d")), (std::set<uint64_t>{1}));
}

TEST_P(SubscriptionIndexTest, RemovedSubscriptionNoLongerMatches) {
  auto s1 = MakeSub(1, "a.*");
  auto s2 = MakeSub(2, "a.b");
  index_.Add(s1);
  index_.Add(s2);
  EXPECT_EQ(Ids(*index_.Match("a.b")), (std::set<uint64_t>{1, 2}));
  EXPECT_TRUE(index_.Remove(s1));
  EXPECT_EQ(Ids(*index_.Match("a.b")), (std::set<uint64_t>{2}));
  EXPECT_FALSE(index_.Remove(s1));
  EXPECT_TRUE(index_.Remove(s2));
  EXPECT_TRUE(index_.Match("a.b")->empty());
  EXPECT_EQ(index_.size(), 0u);
}

TEST_P(SubscriptionIndexTest, QueueGroupMembersAreGroupedTogether) {
  index_.Add(MakeSub(1, "jobs.*", "workers"));
  index_.Add(MakeSub(2, "jobs.*", "workers"));
  index_.Add(MakeSub(3, "jobs.*", "auditors"));
  index_.Add(MakeSub(4, "jobs.*"));
  MatchResultPtr r = index_.Match("jobs.email");
  ASSERT_EQ(r->groups.size(), 2u);
  EXPECT_EQ(r->groups[0].members.size() + r->groups[1].members.size(), 3u);
  ASSERT_EQ(r->plain.size(), 1u);
  EXPECT_EQ(r->plain[0].subscriptions.size(), 1u);
}

// Looks `topics` up and returns how many of them missed the cache.
uint64_t Misses(SubscriptionIndex& index, std::initializer_list<const char*> topics) {
  const uint64_t before = index.cache_misses();
  for (const char* t : topics) index.Match(t);
  return index.cache_misses() - before;
}

TEST(SubscriptionIndexCache, LiteralChangeEvictsOnlyItsTopic) {
  SubscriptionIndex index;
  index.Add(MakeSub(1, "a.b"));
  EXPECT_EQ(Misses(index, {"a.b", "a.c", "x.y"}), 3u);
  EXPECT_EQ(Misses(index, {"a.b", "a.c", "x.y"}), 0u);
  index.Add(MakeSub(2, "x.y"));
  EXPECT_EQ(Misses(index, {"a.b", "a.c"}), 0u);
  EXPECT_EQ(Misses(index, {"x.y"}), 1u);
  EXPECT_EQ(Ids(*index.Match("x.y")), (std::set<uint64_t>{2}));
}

TEST(SubscriptionIndexCache, WildcardChangeEvictsOnlyTopicsUnderItsFirstToken) {
  SubscriptionIndex index;
  index.Add(MakeSub(1, "a.b"));
  Misses(index, {"a.b", "a.c.d", "x.y"});
  index.Add(MakeSub(2, "a.*.d"));
  EXPECT_EQ(Misses(index, {"x.y"}), 0u);  // another first token: still cached
  EXPECT_EQ(Misses(index, {"a.b", "a.c.d"}), 2u);
  EXPECT_EQ(Ids(*index.Match("a.c.d")), (std::set<uint64_t>{2}));
  EXPECT_EQ(Ids(*index.Match("a.b")), (std::set<uint64_t>{1}));
}

TEST(SubscriptionIndexCache, LeadingWildcardChangeEvictsEverything) {
  SubscriptionIndex index;
  Misses(index, {"a.b", "x.y"});
  index.Add(MakeSub(1, "*.y"));
  EXPECT_EQ(Misses(index, {"a.b", "x.y"}), 2u);
  EXPECT_EQ(Ids(*index.Match("x.y")), (std::set<uint64_t>{1}));
  EXPECT_TRUE(index.Match("a.b")->empty());
}

// Subscribe/unsubscribe is the amplifier of defect 8: with a full cache, each
// change used to scan every entry. Now a change touches at most one entry, so
// a warm cache survives any number of changes elsewhere and each change only
// costs the lookups it invalidated.
TEST(SubscriptionIndexCache, ChangesDoNotScanTheCache) {
  SubscriptionIndex index;
  std::vector<std::string> hot;
  for (int i = 0; i < 16000; ++i) hot.push_back("hot.t" + std::to_string(i));
  for (const auto& t : hot) index.Match(t);
  ASSERT_EQ(index.cache_size(), hot.size());
  for (int i = 0; i < 20000; ++i) {
    auto lit = MakeSub(1, "other.t" + std::to_string(i % 7));
    auto wild = MakeSub(2, "other.*.x");
    index.Add(lit);
    index.Add(wild);
    ASSERT_TRUE(index.Remove(lit));
    ASSERT_TRUE(index.Remove(wild));
  }
  const uint64_t before = index.cache_misses();
  for (const auto& t : hot) index.Match(t);
  EXPECT_EQ(index.cache_misses() - before, 0u);  // nothing under "hot." was touched
}

// The cache stays exact while changes and lookups interleave (the property
// test below adds everything first, then removes).
TEST(SubscriptionIndexCache, InterleavedChangesAgreeWithBruteForce) {
  std::mt19937 rng(7);
  const std::vector<std::string> tok = {"a", "b", "c"};
  auto topic = [&] {
    std::string t = tok[rng() % 3];
    for (int n = rng() % 3; n > 0; --n) t += "." + tok[rng() % 3];
    return t;
  };
  auto pattern = [&] {
    std::string p;
    const int len = 1 + rng() % 3;
    for (int i = 0; i < len; ++i) {
      if (i) p += ".";
      const int r = rng() % 8;
      p += r == 0 ? "*" : (r == 1 && i == len - 1) ? ">" : tok[rng() % 3];
    }
    return p;
  };
  SubscriptionIndex index(/*cache_capacity=*/32);
  std::vector<SubscriptionPtr> subs;
  for (uint64_t id = 1; id < 20000; ++id) {
    if (subs.empty() || rng() % 2) {
      subs.push_back(MakeSub(id, pattern()));
      index.Add(subs.back());
    } else {
      const size_t k = rng() % subs.size();
      ASSERT_TRUE(index.Remove(subs[k]));
      subs.erase(subs.begin() + static_cast<long>(k));
    }
    for (int i = 0; i < 3; ++i) {
      const std::string t = topic();
      std::set<uint64_t> expected;
      for (const auto& s : subs) {
        if (PatternMatches(s->pattern, t)) expected.insert(s->id);
      }
      ASSERT_EQ(Ids(*index.Match(t)), expected) << t << " after change " << id;
    }
  }
}

TEST(SubscriptionIndexCache, CapacityBoundsTheCache) {
  SubscriptionIndex index(/*cache_capacity=*/4);
  index.Add(MakeSub(1, ">"));
  for (int i = 0; i < 20; ++i) index.Match("t" + std::to_string(i));
  EXPECT_LE(index.cache_size(), 4u);
}

// Property test: the trie (cached and uncached) agrees with the brute-force
// reference matcher on thousands of random patterns and topics, including
// while subscriptions are removed.
TEST_P(SubscriptionIndexTest, AgreesWithBruteForceMatcherOnRandomPatterns) {
  std::mt19937 rng(20261128);
  const std::vector<std::string> alphabet = {"a", "b", "c", "dd", "e1"};
  auto token = [&] { return alphabet[rng() % alphabet.size()]; };
  auto random_topic = [&] {
    std::string t = token();
    for (int n = rng() % 4; n > 0; --n) t += "." + token();
    return t;
  };
  auto random_pattern = [&] {
    const int len = 1 + rng() % 4;
    std::string p;
    for (int i = 0; i < len; ++i) {
      if (i) p += ".";
      const int r = rng() % 10;
      if (r < 2) {
        p += "*";
      } else if (r == 2 && i == len - 1) {
        p += ">";
      } else {
        p += token();
      }
    }
    return p;
  };

  std::vector<SubscriptionPtr> subs;
  for (uint64_t id = 1; id <= 3000; ++id) {
    auto s = MakeSub(id, random_pattern(), rng() % 5 == 0 ? "g" + std::to_string(rng() % 3) : "");
    ASSERT_TRUE(ValidatePattern(s->pattern).ok()) << s->pattern;
    subs.push_back(s);
    index_.Add(s);
  }
  auto check = [&](int rounds) {
    for (int i = 0; i < rounds; ++i) {
      const std::string topic = random_topic();
      std::set<uint64_t> expected;
      for (const auto& s : subs) {
        if (PatternMatches(s->pattern, topic)) expected.insert(s->id);
      }
      ASSERT_EQ(Ids(*index_.Match(topic)), expected) << topic;
      ASSERT_EQ(Ids(*index_.Match(topic)), expected) << topic << " (second lookup)";
      ASSERT_EQ(Ids(*index_.MatchUncached(topic)), expected) << topic;
    }
  };
  check(2000);
  std::shuffle(subs.begin(), subs.end(), rng);
  for (size_t i = 0; i < 1500; ++i) ASSERT_TRUE(index_.Remove(subs[i]));
  subs.erase(subs.begin(), subs.begin() + 1500);
  check(2000);
}

}  // namespace
}  // namespace herald
