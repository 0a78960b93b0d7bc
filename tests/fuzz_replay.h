// tests/fuzz_replay.h — replays a fuzzer's seed corpus and crash regressions
// through the fuzzer's own checks, so `make test` guards them without clang.
//
//   EXPECT_GE(ReplayFuzzCorpus(HERALD_JSON_FUZZ_DIRS, fuzz::FuzzJson), 6);
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace herald::test_support {

// `dirs`: folders separated by ':' (missing ones are skipped). Each file is
// one input; `check` returns false when the input breaks a rule. Returns how
// many inputs were replayed.
template <typename Check>
int ReplayFuzzCorpus(const std::string& dirs, Check&& check) {
  int count = 0;
  std::stringstream list(dirs);
  for (std::string dir; std::getline(list, dir, ':');) {
    if (!std::filesystem::exists(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      EXPECT_TRUE(check(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()))
          << entry.path();
      ++count;
    }
  }
  return count;
}

}  // namespace herald::test_support
