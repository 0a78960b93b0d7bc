// fuzz/http_fuzz_target.h — the body of the HTTP request parser fuzzer.
//
// Input: [cut byte][bytes]. The bytes are fed to HttpParser whole, split in
// two at the cut, and byte by byte; the three must agree on every event and
// on the verdict — accepted, upgraded or refused (a request cannot read differently depending on
// how TCP happened to segment it — the root of most smuggling). Returns false on a broken rule.
#pragma once

#include <cstddef>
#include <cstdint>

namespace herald::fuzz {

bool FuzzHttp(const uint8_t* data, size_t size);

}  // namespace herald::fuzz
