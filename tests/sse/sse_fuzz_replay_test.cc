// Replays the SSE fuzzer's seed corpus and crash regressions through the
// fuzzer's own checks, so `make test` guards them without clang.
#include <gtest/gtest.h>

#include "sse_fuzz_target.h"
#include "tests/fuzz_replay.h"

namespace herald::sse {
namespace {

TEST(SseFuzzReplay, SeedsAndRegressionsKeepEveryRule) {
  EXPECT_GE(test_support::ReplayFuzzCorpus(HERALD_SSE_FUZZ_DIRS, fuzz::FuzzSse), 5);
}

}  // namespace
}  // namespace herald::sse
