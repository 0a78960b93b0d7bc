// libFuzzer entry point; the checks live in jwt_fuzz_target.cc.
#include <cstddef>
#include <cstdint>

#include "jwt_fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!herald::fuzz::FuzzJwt(data, size)) __builtin_trap();
  return 0;
}
