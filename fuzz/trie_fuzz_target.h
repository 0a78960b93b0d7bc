// fuzz/trie_fuzz_target.h — the body of the topic trie fuzzer: a
// differential test of the subscription index (trie + match cache) against
// the reference matcher PatternMatches.
//
// Input: lines. A line "+P" subscribes pattern P, "-P" removes the oldest
// subscription of P, anything else is a topic to match. Invalid patterns and
// topics are skipped (validation is fuzzed elsewhere). Every match must name
// exactly the live subscriptions whose pattern PatternMatches the topic —
// with the cache warm and cold. Returns false on a broken rule.
#pragma once

#include <cstddef>
#include <cstdint>

namespace herald::fuzz {

bool FuzzTrie(const uint8_t* data, size_t size);

}  // namespace herald::fuzz
