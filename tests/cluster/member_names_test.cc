#include "cluster/member_names.h"

#include <gtest/gtest.h>

#include <string>

namespace herald::cluster {
namespace {

TEST(MemberNames, AcceptsHostPortAddresses) {
  for (const char* a :
       {"127.0.0.1:7400", "node-2.internal:1", "[::1]:65535", "[fe80::1]:80", "localhost:7400"}) {
    EXPECT_TRUE(IsValidPeerAddress(a)) << a;
  }
}

TEST(MemberNames, RefusesAddressesThatAreNotTcpHostPort) {
  for (const char* a :
       {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:070",
        "127.0.0.1:+80", "unix:/tmp/sock", "unix:///tmp/x:80", "dns:///h:80", ":80", "-h:80",
        "h_1:80", "h/1:80", "[]:80", "[zz::1]:80", "a b:80", "h:80 ", "ipv4:1.2.3.4:80/x"}) {
    EXPECT_FALSE(IsValidPeerAddress(a)) << a;
  }
  EXPECT_FALSE(IsValidPeerAddress(std::string(254, 'a') + ":80"));
}

TEST(MemberNames, NodeIdsNameInboxesSoRefuseDotsAndControls) {
  EXPECT_TRUE(IsValidNodeId("n1"));
  EXPECT_TRUE(IsValidNodeId(std::string(255, 'x')));
  EXPECT_FALSE(IsValidNodeId(""));
  EXPECT_FALSE(IsValidNodeId("a.b"));
  EXPECT_FALSE(IsValidNodeId(std::string("a\0b", 3)));
  EXPECT_FALSE(IsValidNodeId("a\nb"));
  EXPECT_FALSE(IsValidNodeId(std::string(256, 'x')));
}

}  // namespace
}  // namespace herald::cluster
