#include "cluster/rendezvous.h"

#include <cstdint>

namespace herald::cluster {
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

uint64_t RendezvousScore(std::string_view topic, std::string_view node) {
  return Mix(Fnv1a(topic, Mix(Fnv1a(node))));
}

std::string RendezvousOwner(std::string_view topic, const std::vector<std::string>& members) {
  const std::string* best = nullptr;
  uint64_t best_score = 0;
  for (const std::string& m : members) {
    const uint64_t score = RendezvousScore(topic, m);
    // Ties (astronomically rare) go to the smaller id, so every node agrees.
    if (!best || score > best_score || (score == best_score && m < *best)) {
      best = &m;
      best_score = score;
    }
  }
  return best ? *best : std::string();
}

}  // namespace herald::cluster
