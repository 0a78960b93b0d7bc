// Replays the SSE fuzzer's seed corpus and crash regressions through the
// fuzzer's own checks, so `make test` guards them without clang.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "sse_fuzz_target.h"

namespace herald::sse {
namespace {

TEST(SseFuzzReplay, SeedsAndRegressionsKeepEveryRule) {
  int count = 0;
  std::stringstream dirs(HERALD_SSE_FUZZ_DIRS);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!std::filesystem::exists(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      EXPECT_TRUE(fuzz::FuzzSse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()))
          << entry.path();
      ++count;
    }
  }
  EXPECT_GE(count, 5);
}

}  // namespace
}  // namespace herald::sse
