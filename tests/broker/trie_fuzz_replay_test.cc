// Replays the topic trie fuzzer's seeds and regressions (make test, no clang).
#include <gtest/gtest.h>

#include "tests/fuzz_replay.h"
#include "trie_fuzz_target.h"

namespace herald {
namespace {

TEST(TrieFuzzReplay, IndexAgreesWithTheReferenceMatcherOnEverySeed) {
  EXPECT_GE(test_support::ReplayFuzzCorpus(HERALD_TRIE_FUZZ_DIRS, fuzz::FuzzTrie), 3);
}

}  // namespace
}  // namespace herald
