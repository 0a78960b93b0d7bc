// Replays the fuzzers' committed seed corpora and every crash they found
// (fuzz/regressions/<target>/) through the same checks the fuzzers run, so a
// plain `make test` guards against regressions without clang or libFuzzer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "fuzz_targets.h"

namespace herald::ws {
namespace {

namespace fs = std::filesystem;
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
int ReplayAll(const fs::path& root) {
  int count = 0;
  for (const Target& t : kTargets) {
    fs::path dir = root / t.name;
    if (!fs::exists(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      EXPECT_TRUE(t.body(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()))
          << entry.path();
      ++count;
    }
  }
  return count;
}

TEST(FuzzRegressions, EveryCrashInputNowPasses) { ReplayAll(HERALD_FUZZ_REGRESSIONS_DIR); }

TEST(FuzzRegressions, EverySeedPasses) { EXPECT_GT(ReplayAll(HERALD_FUZZ_CORPUS_DIR), 0); }

}  // namespace
}  // namespace herald::ws
