// libFuzzer entry point; the checks live in peer_fuzz_target.cc.
#include <cstddef>
#include <cstdint>

#include "peer_fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!herald::fuzz::FuzzPeer(data, size)) __builtin_trap();
  return 0;
}
