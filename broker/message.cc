#include "herald/message.h"

#include <bit>

namespace herald {

void Message::DropEncodings() const {
  if (filled_.load() == 0) return;  // the common case: nothing was encoded
  std::array<SharedBytes, kMaxEncodings> dropped;
  Lock();
  for (uint32_t mask = filled_.exchange(0); mask != 0; mask &= mask - 1) {
    const int slot = std::countr_zero(mask);
    dropped[slot] = std::move(encoded_[slot]);
  }
  Unlock();
  // `dropped` frees the bytes no connection still holds, outside the lock.
}

size_t Message::CachedEncodingBytes() const {
  size_t n = 0;
  Lock();
  for (const SharedBytes& bytes : encoded_) n += bytes ? bytes->size() : 0;
  Unlock();
  return n;
}

}  // namespace herald
