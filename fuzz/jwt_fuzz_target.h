// fuzz/jwt_fuzz_target.h — the body of the JWT verification fuzzer.
//
// Input: a token. A verifier with an HS256, an RS256 and an ES256 key must
// never accept it (a forger without the keys cannot sign) and never crash,
// whatever the bytes: oversized, malformed, `alg: none`, confused algorithms.
// Returns false on a broken rule (an accepted token).
#pragma once

#include <cstddef>
#include <cstdint>

namespace herald::fuzz {

bool FuzzJwt(const uint8_t* data, size_t size);

}  // namespace herald::fuzz
