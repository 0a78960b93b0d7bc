#include "frontends/sse/topic_hash.h"

#include "base/seeded_hash.h"

namespace herald::sse {
namespace {

// "herald sse ids 1", as two little-endian words.
constexpr SipKey kKey{0x6473206c61726568ull, 0x3120736469206573ull};

}  // namespace

uint64_t SipHash24(uint64_t k0, uint64_t k1, std::string_view data) {
  return SipHash<2, 4>(SipKey{k0, k1}, data);
}

uint64_t TopicHash(std::string_view topic) { return SipHash<2, 4>(kKey, topic); }

}  // namespace herald::sse
