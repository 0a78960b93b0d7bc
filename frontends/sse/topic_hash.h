// frontends/sse/topic_hash.h — the short name of a topic inside an SSE event
// id: a 64-bit keyed hash (SipHash-2-4), so an id stays small whatever the
// topic names are.
//
// The key is fixed, not secret: an id must mean the same on every node of a
// cluster and after a restart. A hash is never trusted on its own: it is
// only matched against topics this stream's patterns deliver (or names the
// node itself hashed), and finding a second topic name with a given hash
// takes about 2^64 tries.
#pragma once

#include <cstdint>
#include <string_view>

namespace herald::sse {

uint64_t TopicHash(std::string_view topic);
// The function itself (key as two little-endian words; base/seeded_hash.h's
// SipHash<2, 4>), for its test vectors.
uint64_t SipHash24(uint64_t k0, uint64_t k1, std::string_view data);

}  // namespace herald::sse
