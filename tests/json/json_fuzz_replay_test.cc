// Replays the JSON fuzzer's seed corpus and crash regressions through the
// fuzzer's own checks, so `make test` guards them without clang.
#include <gtest/gtest.h>

#include "json_fuzz_target.h"
#include "tests/fuzz_replay.h"

namespace herald::json {
namespace {

TEST(JsonFuzzReplay, SeedsAndRegressionsKeepEveryRule) {
  EXPECT_GE(test_support::ReplayFuzzCorpus(HERALD_JSON_FUZZ_DIRS, fuzz::FuzzJson), 6);
}

}  // namespace
}  // namespace herald::json
