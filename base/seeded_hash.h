// base/seeded_hash.h — a keyed hash for maps whose keys a client chooses.
//
// std::hash<std::string_view> is unkeyed: anyone who knows the library can
// compute, offline, thousands of topic names that land in one bucket and turn
// every lookup of a hash map into a list walk (hash flooding). The maps keyed
// by topic names and tokens (the topic table, the subscription trie's token
// maps, the match cache) use SeededHash instead: SipHash-1-3 (the keyed PRF
// Rust's HashMap and Python's str hash use) under a 128-bit key drawn from
// the OS once per process. Without the key, collisions cannot be crafted.
//
//   std::unordered_map<std::string, V, SeededHash, std::equal_to<>> m;
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace herald {

struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;
};

// SipHash-c-d of `data` under `key` (c compression rounds, d finalization
// rounds): SipHash<2, 4> is the reference function, SipHash<1, 3> the fast one.
template <int C, int D>
uint64_t SipHash(const SipKey& key, std::string_view data);

// The process's key: random, drawn on first use (getrandom via std::random_device).
const SipKey& ProcessHashKey();

// SipHash-1-3 under the process key.
uint64_t SeededHashBytes(std::string_view data);

struct SeededHash {
  using is_transparent = void;  // look up by std::string_view without a copy
  size_t operator()(std::string_view s) const { return static_cast<size_t>(SeededHashBytes(s)); }
};

}  // namespace herald
