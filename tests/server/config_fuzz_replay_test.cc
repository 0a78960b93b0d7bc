// Replays the config fuzzer's seeds and regressions (make test, no clang).
#include <gtest/gtest.h>

#include "config_fuzz_target.h"
#include "tests/fuzz_replay.h"

namespace herald {
namespace {

TEST(ConfigFuzzReplay, EveryDocumentIsAnsweredWithoutEscapingErrors) {
  EXPECT_GE(test_support::ReplayFuzzCorpus(HERALD_CONFIG_FUZZ_DIRS, fuzz::FuzzConfig), 5);
}

}  // namespace
}  // namespace herald
