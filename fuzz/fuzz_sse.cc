// libFuzzer entry point; the checks live in sse_fuzz_target.cc.
#include <cstddef>
#include <cstdint>

#include "sse_fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!herald::sse::fuzz::FuzzSse(data, size)) __builtin_trap();
  return 0;
}
