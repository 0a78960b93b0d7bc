// Replays the fuzzers' committed seed corpora and every crash they found
// (fuzz/regressions/<target>/) through the same checks the fuzzers run, so a
// plain `make test` guards against regressions without clang or libFuzzer.
#include <gtest/gtest.h>

#include <string>

#include "fuzz_targets.h"
#include "tests/fuzz_replay.h"

namespace herald::ws {
namespace {

using Body = bool (*)(const uint8_t*, size_t);

struct Target {
  const char* name;
  Body body;
};

constexpr Target kTargets[] = {{"frame_parser", fuzz::FuzzFrameParser},
                               {"handshake", fuzz::FuzzHandshake},
                               {"inflate", fuzz::FuzzInflate},
                               {"utf8", fuzz::FuzzUtf8}};

// Runs every file under root/<target>/; returns how many ran.
int ReplayAll(const std::string& root) {
  int count = 0;
  for (const Target& t : kTargets) {
    count += test_support::ReplayFuzzCorpus(root + "/" + t.name, t.body);
  }
  return count;
}

TEST(FuzzRegressions, EveryCrashInputNowPasses) { ReplayAll(HERALD_FUZZ_REGRESSIONS_DIR); }

TEST(FuzzRegressions, EverySeedPasses) { EXPECT_GT(ReplayAll(HERALD_FUZZ_CORPUS_DIR), 0); }

}  // namespace
}  // namespace herald::ws
