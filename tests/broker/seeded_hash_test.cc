#include "base/seeded_hash.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "broker/token_map.h"

namespace herald {
namespace {

// The reference vectors of the SipHash paper (Aumasson and Bernstein,
// appendix A): key 00 01 .. 0f; messages 00 01 .. (n-1).
TEST(SeededHash, SipHash24MatchesTheReferenceVectors) {
  const SipKey key{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
  std::string msg;
  for (int i = 0; i < 15; ++i) msg.push_back(static_cast<char>(i));
  EXPECT_EQ((SipHash<2, 4>(key, "")), 0x726fdb47dd0e0e31ull);
  EXPECT_EQ((SipHash<2, 4>(key, msg)), 0xa129ca6149be45e5ull);
}

TEST(SeededHash, KeyChangesEveryHash) {
  const SipKey a{1, 2};
  const SipKey b{1, 3};
  int same = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string s = "topic." + std::to_string(i);
    if (SipHash<1, 3>(a, s) == SipHash<1, 3>(b, s)) ++same;
  }
  EXPECT_EQ(same, 0);
}

TEST(SeededHash, ProcessKeyIsRandomAndUsed) {
  const SipKey& key = ProcessHashKey();
  EXPECT_FALSE(key.k0 == 0 && key.k1 == 0);
  EXPECT_EQ(SeededHashBytes("chat.room1"), (SipHash<1, 3>(key, "chat.room1")));
  EXPECT_EQ(SeededHash{}(std::string_view("x")), SeededHashBytes("x"));
}

// Tokens that collide under the unkeyed std::hash would still collide if the
// token map used it; with the keyed hash, a set of distinct tokens spreads
// over distinct hashes (a sanity check, not a proof).
TEST(SeededHash, TokenMapStillFindsEverything) {
  TokenMap<int> map;
  std::set<size_t> hashes;
  for (int i = 0; i < 5000; ++i) {
    const std::string t = "t" + std::to_string(i);
    *map.FindOrInsert(t) = i;
    hashes.insert(SeededHash{}(t));
  }
  EXPECT_EQ(hashes.size(), 5000u);
  for (int i = 0; i < 5000; i += 7) ASSERT_EQ(*map.Find("t" + std::to_string(i)), i);
  for (int i = 0; i < 5000; i += 2) ASSERT_TRUE(map.Erase("t" + std::to_string(i)));
  for (int i = 1; i < 5000; i += 2) ASSERT_EQ(*map.Find("t" + std::to_string(i)), i);
  EXPECT_EQ(map.Find("t0"), nullptr);
}

}  // namespace
}  // namespace herald
