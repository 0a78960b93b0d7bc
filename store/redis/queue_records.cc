#include "store/redis/queue_records.h"

#include <algorithm>
#include <set>

#include "store/codec/bytes.h"

namespace herald::redis {

QueueKeys QueueKeysOf(std::string_view prefix, std::string_view queue) {
  std::string base;
  base.reserve(prefix.size() + queue.size() + 8);
  base.append(prefix).append(":wq:{").append(queue).append("}:");
  return QueueKeys{base + "j", base + "d", base + "r", base + "l", base + "o"};
}

std::string QueuesKey(std::string_view prefix) { return std::string(prefix) + ":queues"; }
std::string QueueNamesKey(std::string_view prefix) { return std::string(prefix) + ":wqs"; }

std::string JobField(uint64_t incarnation, uint64_t seq) {
  std::string f;
  f.reserve(16);
  store::codec::PutU64(f, incarnation);
  store::codec::PutU64(f, seq);
  return f;
}

std::optional<std::pair<uint64_t, uint64_t>> ParseJobField(std::string_view field) {
  if (field.size() != 16) return std::nullopt;
  return std::make_pair(store::codec::GetU64(field), store::codec::GetU64(field.substr(8)));
}

std::string SharedJobKey(const Message& m) {
  std::string k;
  k.reserve(16 + m.topic.size());
  store::codec::PutU64(k, m.epoch);
  store::codec::PutU64(k, m.offset);
  k.append(m.topic);
  return k;
}

// Numbers stay below 2^53 (µs since 1970 for centuries): Lua's doubles hold
// them exactly; string.format('%d') writes them back without an exponent.
const char* const kClaimScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nows = string.format('%d', now)
local out = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', nows, 'LIMIT', 0, 100)
for _, key in ipairs(out) do
  redis.call('ZREM', KEYS[4], key)
  redis.call('HDEL', KEYS[5], key)
  redis.call('ZADD', KEYS[3], nows, key)
end
local claimed = {}
if tonumber(ARGV[2]) == 0 then
  return {redis.call('ZCARD', KEYS[3]) + redis.call('ZCARD', KEYS[4]), claimed}
end
local found = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', nows, 'WITHSCORES', 'LIMIT', 0,
                         tonumber(ARGV[2]))
local ready, scores = {}, {}
for i = 1, #found, 2 do
  ready[#ready + 1] = found[i]
  scores[found[i]] = found[i + 1]
end
local until_us = string.format('%d', now + tonumber(ARGV[3]))
for _, key in ipairs(ready) do
  redis.call('ZREM', KEYS[3], key)
  local job = redis.call('HGET', KEYS[1], key)
  if job then
    local n = redis.call('HINCRBY', KEYS[2], key, 1)
    redis.call('ZADD', KEYS[4], until_us, key)
    redis.call('HSET', KEYS[5], key, ARGV[1])
    claimed[#claimed + 1] = key
    claimed[#claimed + 1] = job
    claimed[#claimed + 1] = n
    claimed[#claimed + 1] = scores[key]
  else
    redis.call('HDEL', KEYS[2], key)
  end
end
return {redis.call('ZCARD', KEYS[3]) + redis.call('ZCARD', KEYS[4]), claimed}
)lua";

const char* const kReleaseScript = R"lua(
if redis.call('HGET', KEYS[5], ARGV[1]) ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
if ARGV[4] == '1' then redis.call('HINCRBY', KEYS[2], ARGV[1], -1) end
local at = string.format('%d', now + tonumber(ARGV[3]))
if ARGV[5] and ARGV[5] ~= '' then at = ARGV[5] end
redis.call('ZADD', KEYS[3], at, ARGV[1])
return 1
)lua";

const char* const kExtendScript = R"lua(
if redis.call('HGET', KEYS[5], ARGV[1]) ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[4], 'XX', string.format('%d', now + tonumber(ARGV[3])), ARGV[1])
return 1
)lua";

const char* const kSettleScript = R"lua(
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
return 1
)lua";

const char* const kPutJobsScript = R"lua(
local t = redis.call('TIME')
local nows = string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2]))
for i = 1, #KEYS, 2 do
  local field = ARGV[1 + (i + 1) / 2]
  redis.call('HSET', KEYS[i], field, ARGV[1])
  redis.call('ZADD', KEYS[i + 1], nows, field)
end
return 1
)lua";

const char* const kReleaseEarlierScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nows = string.format('%d', now)
local held = redis.call('HGETALL', KEYS[5])
local n = 0
for i = 1, #held, 2 do
  local who = held[i + 1]
  if who ~= ARGV[2] and string.sub(who, 1, #ARGV[1]) == ARGV[1] then
    redis.call('ZREM', KEYS[4], held[i])
    redis.call('HDEL', KEYS[5], held[i])
    redis.call('ZADD', KEYS[3], nows, held[i])
    n = n + 1
  end
end
return n
)lua";

std::vector<StoredQueue> AssembleQueues(std::vector<QueueRecords> servers,
                                        std::vector<QueueStrays>& strays) {
  // A definition not written to every shard (a shard down at a create or
  // a delete, and the process stopped before it came back) leaves shards
  // that disagree. Incarnations are random, not ordered, so which is newer
  // cannot be told: the highest is taken, and nothing of that name is
  // deleted (its jobs of other incarnations stay in Redis, not served).
  std::map<std::string, StoredQueue> defined;
  std::set<std::string> disputed;
  for (const QueueRecords& s : servers) {
    for (const std::string& name : s.names) {
      if (!s.definitions.contains(name)) disputed.insert(name);
    }
    for (const auto& [name, def] : s.definitions) {
      auto [it, fresh] = defined.try_emplace(name, def);
      if (fresh) continue;
      if (def.incarnation != it->second.incarnation) disputed.insert(name);
      if (def.incarnation > it->second.incarnation) it->second = def;
    }
  }
  // (A name defined nowhere is a deleted queue's: its keys all go below.)
  std::map<std::string, StoredQueue> queues;
  for (auto& [name, def] : defined) {
    queues[name] = def;
    for (const QueueRecords& s : servers) {
      if (auto p = s.shared_pending.find(name); p != s.shared_pending.end()) {
        queues[name].shared_pending += p->second;
      }
    }
  }
  strays.assign(servers.size(), {});
  for (size_t i = 0; i < servers.size(); ++i) {
    QueueRecords& s = servers[i];
    for (const std::string& name : s.names) {
      if (!queues.contains(name)) strays[i].names.push_back(name);
    }
    for (auto& [name, fields] : s.stray_counts) {
      if (queues.contains(name)) strays[i].counts[name] = std::move(fields);
    }
    for (auto& [name, jobs] : s.jobs) {
      auto q = queues.find(name);
      if (q == queues.end()) continue;  // its keys go with the name
      for (QueueRecords::Job& j : jobs) {
        if (j.incarnation == q->second.incarnation) {
          q->second.jobs.push_back(std::move(j.job));
        } else if (!disputed.contains(name)) {
          strays[i].fields[name].push_back(JobField(j.incarnation, j.job.seq));
        }
      }
    }
  }
  std::vector<StoredQueue> out;
  for (auto& [name, q] : queues) {
    std::sort(q.jobs.begin(), q.jobs.end(),
              [](const StoredJob& a, const StoredJob& b) { return a.seq < b.seq; });
    out.push_back(std::move(q));
  }
  return out;
}

}  // namespace herald::redis
