// Replays the gRPC handler fuzzer's seeds and regressions (make test, no clang).
#include <gtest/gtest.h>

#include "grpc_fuzz_target.h"
#include "tests/fuzz_replay.h"

namespace herald {
namespace {

TEST(GrpcFuzzReplay, EverySeedIsAnsweredAsDocumentedAndLeavesNothingBehind) {
  EXPECT_GE(test_support::ReplayFuzzCorpus(HERALD_GRPC_FUZZ_DIRS, fuzz::FuzzGrpc), 6);
}

}  // namespace
}  // namespace herald
