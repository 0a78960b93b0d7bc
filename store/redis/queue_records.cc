#include "store/redis/queue_records.h"

#include <algorithm>
#include <set>

#include "store/codec/bytes.h"

namespace herald::redis {

QueueKeys QueueKeysOf(std::string_view prefix, std::string_view queue) {
  std::string base;
  base.reserve(prefix.size() + queue.size() + 8);
  base.append(prefix).append(":wq:{").append(queue).append("}:");
  return QueueKeys{base + "j", base + "d"};
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

std::vector<StoredQueue> AssembleQueues(std::vector<QueueRecords> servers,
                                        std::vector<QueueStrays>& strays) {
  // A definition not written to every shard (a shard down at a create or
  // a delete, and the process stopped before it came back) leaves shards
  // that disagree. Incarnations are random, not ordered, so which is newer
  // cannot be told: the highest is taken, and nothing of that name is
  // deleted (its jobs of other incarnations stay in Redis, not served).
  std::map<std::string, std::pair<QueueOptions, uint64_t>> defined;
  std::set<std::string> disputed;
  for (const QueueRecords& s : servers) {
    for (const std::string& name : s.names) {
      if (!s.definitions.contains(name)) disputed.insert(name);
    }
    for (const auto& [name, def] : s.definitions) {
      auto [it, fresh] = defined.try_emplace(name, def);
      if (fresh) continue;
      if (def.second != it->second.second) disputed.insert(name);
      if (def.second > it->second.second) it->second = def;
    }
  }
  // (A name defined nowhere is a deleted queue's: its keys all go below.)
  std::map<std::string, StoredQueue> queues;
  for (auto& [name, def] : defined) queues[name] = StoredQueue{def.first, def.second, {}};
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
