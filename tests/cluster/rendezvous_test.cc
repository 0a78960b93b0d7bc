#include "cluster/rendezvous.h"

#include <gtest/gtest.h>

#include <map>

namespace herald::cluster {
namespace {

std::string Topic(int i) { return "orders." + std::to_string(i); }

TEST(Rendezvous, EveryNodeAgreesWhateverTheMemberOrder) {
  const std::vector<std::string> a{"n1", "n2", "n3"}, b{"n3", "n1", "n2"};
  for (int i = 0; i < 1000; ++i)
    EXPECT_EQ(RendezvousOwner(Topic(i), a), RendezvousOwner(Topic(i), b));
}

TEST(Rendezvous, OnlyTheLeaversTopicsMoveWhenAMemberLeaves) {
  const std::vector<std::string> all{"n1", "n2", "n3"}, survivors{"n1", "n2"};
  int moved = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string before = RendezvousOwner(Topic(i), all);
    const std::string after = RendezvousOwner(Topic(i), survivors);
    if (before != "n3") {
      EXPECT_EQ(before, after) << Topic(i);
    } else {
      ++moved;
    }
  }
  EXPECT_GT(moved, 700);  // about a third
  EXPECT_LT(moved, 1300);
}

TEST(Rendezvous, OnlyTopicsTheNewcomerWinsMoveWhenAMemberJoins) {
  const std::vector<std::string> before_set{"n1", "n2"}, after_set{"n1", "n2", "n3"};
  for (int i = 0; i < 3000; ++i) {
    const std::string after = RendezvousOwner(Topic(i), after_set);
    if (after != "n3") {
      EXPECT_EQ(after, RendezvousOwner(Topic(i), before_set)) << Topic(i);
    }
  }
}

TEST(Rendezvous, SpreadsTopicsEvenlyOverMembers) {
  const std::vector<std::string> members{"alpha", "beta", "gamma", "delta"};
  std::map<std::string, int> count;
  for (int i = 0; i < 40000; ++i) ++count[RendezvousOwner(Topic(i), members)];
  for (const auto& [node, n] : count) {
    EXPECT_GT(n, 9000) << node;
    EXPECT_LT(n, 11000) << node;
  }
}

TEST(Rendezvous, NoMembersMeansNoOwner) { EXPECT_EQ(RendezvousOwner("a", {}), ""); }

}  // namespace
}  // namespace herald::cluster
