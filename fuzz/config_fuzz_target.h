// fuzz/config_fuzz_target.h — the body of the config file fuzzer.
//
// Input: a TOML document. ApplyToml must answer it (applied, or an error
// naming the key or line) without crashing or throwing, and a document it
// accepted must leave a configuration heraldd's own checks can judge.
// Returns false on a broken rule.
#pragma once

#include <cstddef>
#include <cstdint>

namespace herald::fuzz {

bool FuzzConfig(const uint8_t* data, size_t size);

}  // namespace herald::fuzz
