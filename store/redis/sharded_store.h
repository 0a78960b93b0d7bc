// store/redis/sharded_store.h — the Redis store on several servers.
//
// A sharded store is one RedisStore per shard (each with its own loop
// thread and connections, and its own Sentinel lookup), and routes every
// call about a topic to the shard that keeps it (ShardMap). Completions
// keep their order per topic (a topic lives on one shard), which is all the
// broker relies on; across shards they may interleave.
#pragma once

#include <memory>
#include <vector>

#include "herald/shared_history_store.h"
#include "store/redis/shard_map.h"

namespace herald::redis {

// A store over opened shards, shards[i] being map->names()[i]'s.
std::shared_ptr<SharedHistoryStore> MakeShardedStore(
    std::shared_ptr<const ShardMap> map, std::vector<std::shared_ptr<SharedHistoryStore>> shards);

}  // namespace herald::redis
