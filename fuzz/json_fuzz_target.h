// fuzz/json_fuzz_target.h — the body of the JSON protocol fuzzer.
//
// Input: [mode byte][bytes]. Mode even: the bytes are a client command, which
// DecodeCommand must answer (a command or a specific error) without crashing,
// and a decoded JSON payload must itself be valid JSON. Mode odd: the bytes
// are a payload published with one of three content types; its message
// envelope must be valid JSON whose payload field gives back exactly the
// published bytes (or the same JSON value). Returns false on a broken rule.
#pragma once

#include <cstddef>
#include <cstdint>

namespace herald::json::fuzz {

bool FuzzJson(const uint8_t* data, size_t size);

}  // namespace herald::json::fuzz
