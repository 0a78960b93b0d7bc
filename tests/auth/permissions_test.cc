#include "auth/permissions.h"

#include <gtest/gtest.h>

namespace herald::auth {
namespace {

struct Case {
  const char* grant;
  const char* wanted;  // a topic (publish) or pattern (subscribe)
  bool covered;
};

// The permission matrix: 0 false accepts, 0 false denies.
const Case kMatrix[] = {
    // A literal grant covers exactly itself.
    {"orders.42", "orders.42", true},
    {"orders.42", "orders.43", false},
    {"orders.42", "orders.>", false},
    {"orders.42", "orders.*", false},
    {"orders.42", "ORDERS.42", false},
    {"orders.42", "orders.42.x", false},
    {"orders.42", "orders", false},
    {"orders.42", "orders.4", false},
    {"orders.42", "orders.420", false},
    {"orders.42", ">", false},
    // '*' covers one token, literal or '*', never '>'.
    {"orders.*", "orders.42", true},
    {"orders.*", "orders.*", true},
    {"orders.*", "orders.>", false},
    {"orders.*", "orders", false},
    {"orders.*", "orders.42.x", false},
    {"orders.*", "shipping.42", false},
    {"orders.*", "Orders.42", false},
    {"*.42", "orders.42", true},
    {"*.42", "orders.43", false},
    {"*.42", "*.42", true},
    {"*.42", "*.*", false},
    {"*.*", "a.b", true},
    {"*.*", "a.*", true},
    {"*.*", "a.b.c", false},
    // '>' covers one or more tokens, wildcards included.
    {"orders.>", "orders.42", true},
    {"orders.>", "orders.42.items", true},
    {"orders.>", "orders.*", true},
    {"orders.>", "orders.>", true},
    {"orders.>", "orders.*.items", true},
    {"orders.>", "orders", false},
    {"orders.>", "order.42", false},
    {"orders.>", "ordersx.42", false},
    {"orders.>", "*.42", false},
    {"orders.>", ">", false},
    {">", "anything.at.all", true},
    {">", ">", true},
    {">", "*", true},
    {"a.*.c", "a.b.c", true},
    {"a.*.c", "a.b.d", false},
    {"a.*.c", "a.>", false},
    {"a.*.>", "a.b.c.d", true},
    {"a.*.>", "a.b", false},
    {"a.b", "a.*", false},
    {"a.b.>", "a.*.c", false},
};

TEST(Permissions, MatrixHasNoFalseAcceptOrFalseDeny) {
  int false_accepts = 0, false_denies = 0;
  for (const Case& c : kMatrix) {
    const bool got = GrantCovers(c.grant, c.wanted);
    EXPECT_EQ(got, c.covered) << "grant '" << c.grant << "' wanted '" << c.wanted << "'";
    false_accepts += got && !c.covered;
    false_denies += !got && c.covered;
  }
  EXPECT_GE(std::size(kMatrix), 40u);
  EXPECT_EQ(false_accepts, 0);
  EXPECT_EQ(false_denies, 0);
}

TEST(Permissions, PublishAndSubscribeGrantsAreSeparate) {
  Grants g;
  g.publish = {"chat.room1"};
  g.subscribe = {"chat.>"};
  EXPECT_TRUE(g.MayPublish("chat.room1"));
  EXPECT_FALSE(g.MayPublish("chat.room2"));
  EXPECT_TRUE(g.MaySubscribe("chat.room2"));
  EXPECT_TRUE(g.MaySubscribe("chat.*"));
  EXPECT_FALSE(g.MaySubscribe("news.>"));
}

TEST(Permissions, NoGrantAllowsNothingAndAllAllowsEverything) {
  Grants none;
  EXPECT_FALSE(none.MayPublish("a"));
  EXPECT_FALSE(none.MaySubscribe(">"));
  Grants all;
  all.all = true;
  EXPECT_TRUE(all.MayPublish("a.b"));
  EXPECT_TRUE(all.MaySubscribe(">"));
}

TEST(Permissions, EmptyGrantsOrTopicsCoverNothing) {
  EXPECT_FALSE(GrantCovers("", "a"));
  EXPECT_FALSE(GrantCovers("a", ""));
}

}  // namespace
}  // namespace herald::auth
