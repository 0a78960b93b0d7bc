// What the broker's long-lived objects really cost the heap, for the budgets
// that bound them (history, topic state). Figures follow glibc malloc (16-byte
// chunks with an 8-byte header, 32 at least) and libstdc++'s std::string
// (15 bytes inline); on other runtimes they are close estimates.
#pragma once

#include <cstddef>
#include <string>

namespace herald {

// Bytes one allocation of `n` bytes takes from the heap.
constexpr size_t MallocBytes(size_t n) {
  const size_t chunk = (n + 8 + 15) & ~size_t{15};
  return chunk < 32 ? 32 : chunk;
}

// Heap bytes behind a string of `capacity` (none while it fits inline).
constexpr size_t StringHeapBytes(size_t capacity) {
  return capacity > 15 ? MallocBytes(capacity + 1) : 0;
}
inline size_t StringHeapBytes(const std::string& s) { return StringHeapBytes(s.capacity()); }

// A std::make_shared<T> block: the object plus the control block's counts.
template <typename T>
constexpr size_t SharedBytesOf() {
  return MallocBytes(sizeof(T) + 16);
}

}  // namespace herald
