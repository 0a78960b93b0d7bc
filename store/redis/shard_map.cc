#include "store/redis/shard_map.h"

#include <algorithm>

#include "base/rendezvous.h"

namespace herald::redis {

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

size_t ShardMap::Route(std::string_view topic) const { return RendezvousPick(topic, names_); }

}  // namespace herald::redis
