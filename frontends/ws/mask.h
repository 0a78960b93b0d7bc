// frontends/ws/mask.h — RFC 6455 §5.3 payload masking.
//
// Every client frame is masked with a 4-byte key; byte i of the payload is
// XORed with key[i % 4]. A frame's payload may arrive in pieces, so
// `key_offset` says where in the key the piece starts. Works a 64-bit word at
// a time. Masking and unmasking are the same operation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace herald::ws {

using MaskKey = std::array<uint8_t, 4>;

// XORs `data[0..len)` in place with `key`, starting at key byte `key_offset % 4`.
void ApplyMask(char* data, size_t len, const MaskKey& key, size_t key_offset);

}  // namespace herald::ws
