#include "store/redis/shard_map.h"

#include <algorithm>
#include <cstdint>

namespace herald::redis {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

uint64_t Fnv1a(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

// FNV-1a's low bits mix poorly for inputs that differ only at the end: a
// final avalanche (splitmix64's) so that scores compare fairly.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

Result<ShardMap> ShardMap::Make(std::vector<std::string> names) {
  if (names.empty()) return Status(ErrorCode::kInvalidArgument, "no shards");
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i].empty()) return Status(ErrorCode::kInvalidArgument, "a shard without a name");
    if (sorted[i].find(',') != std::string::npos)
      return Status(ErrorCode::kInvalidArgument, "shard name '" + sorted[i] + "' has a ','");
    if (i > 0 && sorted[i] == sorted[i - 1])
      return Status(ErrorCode::kInvalidArgument, "shard '" + sorted[i] + "' is named twice");
  }
  ShardMap map;
  map.names_ = std::move(names);
  for (const std::string& n : sorted) map.signature_ += (map.signature_.empty() ? "" : ",") + n;
  return map;
}

size_t ShardMap::Route(std::string_view topic) const {
  size_t best = 0;
  uint64_t best_score = 0;
  for (size_t i = 0; i < names_.size(); ++i) {
    // The name, a separator no name holds, the topic.
    const uint64_t score = Mix(Fnv1a(Fnv1a(Fnv1a(kFnvOffset, names_[i]), ","), topic));
    // Ties (astronomically rare) go to the smaller name: any order agrees.
    if (i == 0 || score > best_score || (score == best_score && names_[i] < names_[best])) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

}  // namespace herald::redis
