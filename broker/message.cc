#include "herald/message.h"

#include <bit>

namespace herald {

void Message::DropEncodings() const {
  if (filled_.load() == 0) return;  // the common case: nothing was encoded
  for (uint32_t mask = filled_.exchange(0); mask != 0; mask &= mask - 1) {
    encoded_[std::countr_zero(mask)].store(nullptr);
  }
}

size_t Message::CachedEncodingBytes() const {
  size_t n = 0;
  for (const auto& slot : encoded_) {
    if (SharedBytes bytes = slot.load()) n += bytes->size();
  }
  return n;
}

}  // namespace herald
