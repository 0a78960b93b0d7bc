// Replays the HTTP parser fuzzer's seeds and regressions (make test, no clang).
#include <gtest/gtest.h>

#include "http_fuzz_target.h"
#include "tests/fuzz_replay.h"

namespace herald {
namespace {

TEST(HttpFuzzReplay, EverySeedReadsTheSameHoweverItIsSplit) {
  EXPECT_GE(test_support::ReplayFuzzCorpus(HERALD_HTTP_FUZZ_DIRS, fuzz::FuzzHttp), 8);
}

}  // namespace
}  // namespace herald
