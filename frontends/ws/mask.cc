#include "frontends/ws/mask.h"

#include <cstring>

namespace herald::ws {

void ApplyMask(char* data, size_t len, const MaskKey& key, size_t key_offset) {
  // The key rotated so that rotated[0] applies to data[0].
  uint8_t rotated[8];
  for (size_t i = 0; i < 8; ++i) rotated[i] = key[(key_offset + i) & 3];
  uint64_t word_key;
  std::memcpy(&word_key, rotated, 8);  // byte order matches memory order either way
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    w ^= word_key;
    std::memcpy(data + i, &w, 8);
  }
  for (; i < len; ++i) data[i] = static_cast<char>(data[i] ^ rotated[i & 7]);
}

}  // namespace herald::ws
