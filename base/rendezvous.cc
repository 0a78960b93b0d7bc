#include "base/rendezvous.h"

namespace herald {
namespace {

uint64_t Fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// splitmix64's finaliser: spreads FNV's weak low bits over the whole word.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t RendezvousScore(std::string_view key, std::string_view bucket) {
  return Mix(Fnv1a(key, Mix(Fnv1a(bucket))));
}

size_t RendezvousPick(std::string_view key, const std::vector<std::string>& buckets) {
  size_t best = buckets.size();
  uint64_t best_score = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    const uint64_t score = RendezvousScore(key, buckets[i]);
    if (best == buckets.size() || score > best_score ||
        (score == best_score && buckets[i] < buckets[best])) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

}  // namespace herald
