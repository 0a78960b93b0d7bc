// libFuzzer entry point; the checks live in json_fuzz_target.cc.
#include <cstddef>
#include <cstdint>

#include "json_fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!herald::json::fuzz::FuzzJson(data, size)) __builtin_trap();
  return 0;
}
