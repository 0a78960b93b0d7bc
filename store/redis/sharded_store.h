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

#include "herald/queue_store.h"
#include "herald/shared_history_store.h"
#include "store/redis/shard_map.h"

namespace herald::redis {

// A store over opened shards, shards[i] being map->names()[i]'s. When the
// shards keep work queues (herald/queue_store.h: each is a QueueStore), so
// does the sharded store: `queues` is what they held, assembled
// (queue_records.h); a job is kept with its message, on its topic's shard,
// and a queue's definition on every shard.
std::shared_ptr<SharedHistoryStore> MakeShardedStore(
    std::shared_ptr<const ShardMap> map, std::vector<std::shared_ptr<SharedHistoryStore>> shards,
    std::vector<StoredQueue> queues = {});

}  // namespace herald::redis
