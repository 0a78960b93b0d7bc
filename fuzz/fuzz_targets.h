// fuzz/fuzz_targets.h — the bodies of the WebSocket codec fuzzers.
//
// Each function checks the codec's invariants on one input and returns false
// (after printing which check failed) when one breaks. The libFuzzer entry
// points (fuzz_*.cc) trap on false; tests/ws/fuzz_regressions_test.cc replays
// the committed corpora and crash regressions through the same functions, so
// `make test` covers them without clang.
#pragma once

#include <cstddef>
#include <cstdint>

namespace herald::ws::fuzz {

// Input: [flags][split seed][client byte stream]. Whole vs split vs
// byte-by-byte must agree; events respect the size and UTF-8 rules.
bool FuzzFrameParser(const uint8_t* data, size_t size);

// Input: "METHOD\nMAJOR MINOR\nName: value\n..." with an options byte first;
// also the whole input as a Sec-WebSocket-Extensions value.
bool FuzzHandshake(const uint8_t* data, size_t size);

// Input: [flags][split seed][raw DEFLATE]. Output never passes the bound and
// does not depend on how the input is split.
bool FuzzInflate(const uint8_t* data, size_t size);

// Differential: the DFA validator against a plain decoder, whole and split.
bool FuzzUtf8(const uint8_t* data, size_t size);

}  // namespace herald::ws::fuzz
