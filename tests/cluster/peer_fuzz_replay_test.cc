// Replays the peer-frame fuzzer's seeds and regressions (make test, no clang).
#include <gtest/gtest.h>

#include "peer_fuzz_target.h"
#include "tests/fuzz_replay.h"

namespace herald {
namespace {

TEST(PeerFuzzReplay, EverySeedLeavesTheNodeWhole) {
  EXPECT_GE(test_support::ReplayFuzzCorpus(HERALD_PEER_FUZZ_DIRS, fuzz::FuzzPeer), 6);
}

}  // namespace
}  // namespace herald
