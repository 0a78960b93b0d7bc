// base/rendezvous.h — rendezvous (highest-random-weight) hashing.
//
// Every bucket scores every key and the highest score wins. When a bucket
// leaves, only the keys it won move; when one joins, only the keys it now
// wins move to it; the order of the list does not matter. Used for a
// topic's owner among cluster members (cluster/rendezvous.h) and a topic's
// shard among Redis shards (store/redis/shard_map.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

// FNV-1a over the bucket, then the key, each mixed (splitmix64's finaliser).
uint64_t RendezvousScore(std::string_view key, std::string_view bucket);

// The index of the bucket that wins `key`; ties (astronomically rare) go to
// the smaller name, so any order agrees. `buckets.size()` when empty.
size_t RendezvousPick(std::string_view key, const std::vector<std::string>& buckets);

}  // namespace herald
