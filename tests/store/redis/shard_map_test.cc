// Which shard keeps a topic (store/redis/shard_map.h).
#include "store/redis/shard_map.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herald::redis {
namespace {

std::vector<std::string> Topics(int n) {
  std::vector<std::string> t;
  for (int i = 0; i < n; ++i) t.push_back("orders." + std::to_string(i));
  return t;
}

TEST(ShardMap, SpreadsTopicsEvenlyAndTheOrderOfTheListDoesNotMatter) {
  Result<ShardMap> abc = ShardMap::Make({"a", "b", "c"});
  Result<ShardMap> cab = ShardMap::Make({"c", "a", "b"});
  ASSERT_TRUE(abc.ok() && cab.ok());
  std::vector<int> count(3);
  for (const std::string& t : Topics(30000)) {
    const std::string& on = abc->names()[abc->Route(t)];
    ++count[static_cast<size_t>(on[0] - 'a')];
    EXPECT_EQ(on, cab->names()[cab->Route(t)]) << t;
  }
  for (int c : count) {
    EXPECT_GT(c, 9000);
    EXPECT_LT(c, 11000);
  }
  EXPECT_EQ(abc->signature(), "a,b,c");
  EXPECT_EQ(cab->signature(), "a,b,c");
}

TEST(ShardMap, AddingAShardMovesOnlyTopicsToIt) {
  Result<ShardMap> before = ShardMap::Make({"a", "b", "c"});
  Result<ShardMap> after = ShardMap::Make({"a", "b", "c", "d"});
  ASSERT_TRUE(before.ok() && after.ok());
  int moved = 0;
  for (const std::string& t : Topics(20000)) {
    const std::string& was = before->names()[before->Route(t)];
    const std::string& now = after->names()[after->Route(t)];
    if (was == now) continue;
    ++moved;
    EXPECT_EQ(now, "d") << t << " moved from " << was << " to " << now;
  }
  EXPECT_GT(moved, 4000);  // about a quarter
  EXPECT_LT(moved, 6000);
}

TEST(ShardMap, RefusesNamesThatAreEmptyRepeatedOrHoldTheSeparator) {
  EXPECT_FALSE(ShardMap::Make({}).ok());
  EXPECT_FALSE(ShardMap::Make({"a", ""}).ok());
  EXPECT_NE(ShardMap::Make({"a", "b", "a"}).status().message().find("'a' is named twice"),
            std::string::npos);
  EXPECT_FALSE(ShardMap::Make({"a,b"}).ok());
}

}  // namespace
}  // namespace herald::redis
