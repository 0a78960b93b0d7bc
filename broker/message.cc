#include "herald/message.h"

namespace herald {

void Message::DropEncodings() const {
  for (auto& slot : encoded_) {
    if (slot.load()) slot.store(nullptr);
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
