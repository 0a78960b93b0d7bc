#include "herald/message.h"

namespace herald {

Message::~Message() {
  for (auto& slot : encoded_) delete slot.load(std::memory_order_acquire);
}

}  // namespace herald
