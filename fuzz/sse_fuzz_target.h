// fuzz/sse_fuzz_target.h — the body of the SSE fuzzer.
//
// Input: [mode byte][bytes]. Mode even: the bytes are a Last-Event-ID, parsed
// against a fixed list of topic parameters; an accepted id must name only
// valid topics that a parameter matches, and formatting its positions and
// parsing that again must give the same positions back. Mode odd: the bytes
// are a payload; its data lines, read back the way a browser does (WHATWG
// HTML §9.2.6), must give the payload with every CR LF / CR turned into LF.
// Returns false on a broken rule.
#pragma once

#include <cstddef>
#include <cstdint>

namespace herald::sse::fuzz {

bool FuzzSse(const uint8_t* data, size_t size);

}  // namespace herald::sse::fuzz
