// libFuzzer entry point; the checks live in fuzz_targets.cc.
#include <cstddef>
#include <cstdint>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!herald::ws::fuzz::FuzzHandshake(data, size)) __builtin_trap();
  return 0;
}
