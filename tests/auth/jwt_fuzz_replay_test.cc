// Replays the JWT fuzzer's seeds and regressions (make test, no clang): the
// verifier must refuse every one of them.
#include <gtest/gtest.h>

#include "jwt_fuzz_target.h"
#include "tests/fuzz_replay.h"

namespace herald {
namespace {

TEST(JwtFuzzReplay, NoSeedOrRegressionIsEverAccepted) {
  EXPECT_GE(test_support::ReplayFuzzCorpus(HERALD_JWT_FUZZ_DIRS, fuzz::FuzzJwt), 8);
}

}  // namespace
}  // namespace herald
