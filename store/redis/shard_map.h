// store/redis/shard_map.h — which Redis shard keeps a topic.
//
// Shards are named, and a topic goes to the shard with the highest
// rendezvous score of (topic, name) (base/rendezvous.h): the order of the
// list does not matter, and adding or removing a shard moves only the topics
// whose best shard changes. Names, not addresses, are hashed, so a shard can move
// to another machine (or behind a failover) and keep its topics.
//
// A topic that moved to another shard would leave its history on the old
// one, so each shard keeps the map it belongs to (`<prefix>:shards`), and
// opening refuses a shard whose map differs or that holds a topic the map
// puts elsewhere (RedisStore::Open).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "herald/status.h"

namespace herald::redis {

class ShardMap {
 public:
  // Names must be unique and non-empty (kInvalidArgument otherwise).
  static Result<ShardMap> Make(std::vector<std::string> names);

  // The index (into names()) of the shard that keeps `topic`.
  size_t Route(std::string_view topic) const;
  const std::vector<std::string>& names() const { return names_; }
  // What each shard keeps to recognise its map: the names, sorted, joined
  // with ','.
  const std::string& signature() const { return signature_; }

 private:
  std::vector<std::string> names_;
  std::string signature_;
};

}  // namespace herald::redis
