// libFuzzer entry point; the checks live in config_fuzz_target.cc.
#include <cstddef>
#include <cstdint>

#include "config_fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!herald::fuzz::FuzzConfig(data, size)) __builtin_trap();
  return 0;
}
