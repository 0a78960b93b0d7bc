// Names the calling thread, so that `top -H`, `perf` and gdb tell heraldd's
// threads apart (loops, the store's writer, the delivery threads, ...).
#pragma once

#include <string_view>

namespace herald {

// Linux keeps at most 15 bytes of a thread's name; a longer one is cut.
void NameThisThread(std::string_view name);

}  // namespace herald
