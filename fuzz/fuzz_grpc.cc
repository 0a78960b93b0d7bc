// libFuzzer entry point; the checks live in grpc_fuzz_target.cc.
#include <cstddef>
#include <cstdint>

#include "grpc_fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!herald::fuzz::FuzzGrpc(data, size)) __builtin_trap();
  return 0;
}
