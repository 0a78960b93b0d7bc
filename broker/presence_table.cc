#include "broker/presence_table.h"

#include <algorithm>

#include "herald/topic.h"

namespace herald {
namespace {

// What one member entry costs beyond its strings: the map node, the shared
// member, the user count's share.
constexpr uint64_t kEntryOverhead = 160;

}  // namespace

PresenceTable::PresenceTable(const PresenceLimits& limits, Push push,
                             std::function<void(int64_t)> note_deadline)
    : limits_(limits),
      push_(std::move(push)),
      note_deadline_(std::move(note_deadline)),
      interval_us_(
          std::chrono::duration_cast<std::chrono::microseconds>(limits.event_interval).count()) {}

PresenceTable::Shard& PresenceTable::ShardOf(std::string_view topic) const {
  return shards_[SeededHashBytes(topic) % kShards];
}

uint64_t PresenceTable::Cost(const PresenceMember& m) {
  return kEntryOverhead + 2 * m.client.size() + m.user.size() + m.info.size();
}

Status PresenceTable::Allowed(std::string_view topic, uint32_t* max_members) const {
  bool enabled = limits_.enabled;
  uint32_t max = limits_.max_members_per_topic;
  for (const PresenceRule& r : limits_.rules) {
    if (!PatternMatches(r.pattern, topic)) continue;
    enabled = r.enabled;
    if (r.max_members > 0) max = r.max_members;
    break;
  }
  if (!enabled) {
    return Status(ErrorCode::kInvalidArgument,
                  "presence is off for topic '" + std::string(topic) + "'");
  }
  if (max_members) *max_members = max;
  return Status::Ok();
}

Status PresenceTable::Join(const std::string& topic, const PresenceMember& member,
                           const SubscriptionPtr& watcher, int64_t now_us) {
  uint32_t max_members = 0;
  if (Status s = Allowed(topic, &max_members); !s.ok()) return s;
  if (member.info.size() > limits_.max_info_bytes) {
    return Status(ErrorCode::kInvalidArgument,
                  "presence info is over " + std::to_string(limits_.max_info_bytes) + " bytes");
  }
  Shard& shard = ShardOf(topic);
  std::lock_guard lock(shard.mu);
  auto [it, fresh] = shard.topics.try_emplace(topic);
  Topic& t = it->second;
  if (fresh) counters_.topics.fetch_add(1, std::memory_order_relaxed);
  auto m = t.members.find(member.client);
  if (m == t.members.end()) {
    const uint64_t cost = Cost(member);
    Status refused;
    if (t.members.size() >= max_members) {
      counters_.refused_full.fetch_add(1, std::memory_order_relaxed);
      refused =
          Status(ErrorCode::kResourceExhausted, "presence of '" + topic + "' is full (" +
                                                    std::to_string(max_members) + " members)");
    } else if (counters_.bytes.load(std::memory_order_relaxed) + cost >
               limits_.max_presence_bytes) {
      counters_.refused_bytes.fetch_add(1, std::memory_order_relaxed);
      refused = Status(ErrorCode::kResourceExhausted,
                       "this node holds max_presence_bytes of presence already");
    }
    if (!refused.ok()) {
      if (fresh) {
        shard.topics.erase(it);
        counters_.topics.fetch_sub(1, std::memory_order_relaxed);
      }
      return refused;
    }
    // The snapshot is the published view, taken before this join: the join
    // reaches the new watcher (and everyone else) as a change.
    std::shared_ptr<PresenceEvent> snapshot = PublishedView(topic, t);
    auto shared = std::make_shared<const PresenceMember>(member);
    m = t.members.emplace(member.client, Entry{shared, 0}).first;
    ++t.users[member.user];
    t.bytes += cost;
    counters_.bytes.fetch_add(cost, std::memory_order_relaxed);
    counters_.members.fetch_add(1, std::memory_order_relaxed);
    t.watchers.push_back(watcher);
    push_(watcher, std::move(snapshot));
    m->second.refs = 1;
    Note(shard, topic, t, member.client, +1, std::move(shared), now_us);
    return Status::Ok();
  }
  // The client is a member already (another presence subscription of it).
  ++m->second.refs;
  std::shared_ptr<PresenceEvent> snapshot = PublishedView(topic, t);
  t.watchers.push_back(watcher);
  push_(watcher, std::move(snapshot));
  return Status::Ok();
}

void PresenceTable::Leave(const std::string& topic, const std::string& client,
                          const Subscription* watcher, int64_t now_us) {
  Shard& shard = ShardOf(topic);
  std::lock_guard lock(shard.mu);
  auto it = shard.topics.find(topic);
  if (it == shard.topics.end()) return;
  Topic& t = it->second;
  std::erase_if(t.watchers, [&](const SubscriptionPtr& w) { return w.get() == watcher; });
  auto m = t.members.find(client);
  if (m != t.members.end() && --m->second.refs == 0) {
    MemberPtr member = std::move(m->second.member);
    t.members.erase(m);
    if (auto u = t.users.find(member->user); u != t.users.end() && --u->second == 0) {
      t.users.erase(u);
    }
    const uint64_t cost = Cost(*member);
    t.bytes -= cost;
    counters_.bytes.fetch_sub(cost, std::memory_order_relaxed);
    counters_.members.fetch_sub(1, std::memory_order_relaxed);
    Note(shard, topic, t, client, -1, std::move(member), now_us);
  }
  DropIfEmpty(shard, topic);
}

void PresenceTable::DropIfEmpty(Shard& shard, const std::string& name) {
  auto it = shard.topics.find(name);
  if (it == shard.topics.end()) return;
  const Topic& t = it->second;
  if (!t.members.empty() || !t.watchers.empty()) return;
  // Nobody left to tell: what was queued goes with it.
  shard.due.erase(name);
  shard.topics.erase(it);
  counters_.topics.fetch_sub(1, std::memory_order_relaxed);
}

void PresenceTable::Note(Shard& shard, const std::string& name, Topic& t, const std::string& client,
                         int delta, MemberPtr member, int64_t now_us) {
  auto [p, fresh] = t.pending.try_emplace(client);
  if (!fresh && p->second.delta == -delta) {
    // A join and a leave of one client inside one interval: nothing to say.
    t.pending.erase(p);
    counters_.coalesced.fetch_add(2, std::memory_order_relaxed);
  } else {
    p->second = Change{delta, std::move(member)};
  }
  if (t.pending.empty()) {
    shard.due.erase(name);
    return;
  }
  const int64_t due = t.last_sent_us + interval_us_;
  if (due <= now_us) {
    Send(name, t, now_us);  // the first change after a quiet interval: at once
    shard.due.erase(name);
    return;
  }
  if (shard.due.emplace(name, due).second) note_deadline_(due);
}

std::shared_ptr<PresenceEvent> PresenceTable::PublishedView(const std::string& name,
                                                            const Topic& t) const {
  auto e = std::make_shared<PresenceEvent>();
  e->topic = name;
  e->snapshot = true;
  // The current members less the queued joins, plus the queued leaves.
  std::unordered_map<std::string_view, uint32_t, SeededHash, std::equal_to<>> users;
  auto add = [&](const PresenceMember& m) {
    ++e->clients;
    ++users[m.user];
    if (e->joins.size() < limits_.snapshot_members) {
      e->joins.push_back(m);
    } else {
      e->truncated = true;
    }
  };
  auto pending = t.pending.begin();
  for (const auto& [client, entry] : t.members) {
    // Queued leaves of clients ordered before this one (they are no longer
    // in `members`), in client order.
    for (; pending != t.pending.end() && pending->first < client; ++pending) {
      if (pending->second.delta < 0) add(*pending->second.member);
    }
    if (pending != t.pending.end() && pending->first == client) {
      ++pending;
      continue;  // a queued join: not published yet
    }
    add(*entry.member);
  }
  for (; pending != t.pending.end(); ++pending) {
    if (pending->second.delta < 0) add(*pending->second.member);
  }
  e->users = static_cast<uint32_t>(users.size());
  return e;
}

void PresenceTable::Send(const std::string& name, Topic& t, int64_t now_us) {
  auto e = std::make_shared<PresenceEvent>();
  e->topic = name;
  e->clients = static_cast<uint32_t>(t.members.size());
  e->users = static_cast<uint32_t>(t.users.size());
  if (t.pending.size() > limits_.max_event_members) {
    e->resync = true;
    counters_.resyncs.fetch_add(1, std::memory_order_relaxed);
  } else {
    for (auto& [client, change] : t.pending) {
      if (change.delta > 0) {
        e->joins.push_back(*change.member);
      } else {
        e->leaves.push_back({client, change.member->user, {}});
      }
    }
  }
  if (t.pending.size() > 1) {
    counters_.coalesced.fetch_add(t.pending.size() - 1, std::memory_order_relaxed);
  }
  t.pending.clear();
  t.last_sent_us = now_us;
  counters_.events.fetch_add(1, std::memory_order_relaxed);
  counters_.deliveries.fetch_add(t.watchers.size(), std::memory_order_relaxed);
  for (const SubscriptionPtr& w : t.watchers) push_(w, e);
}

int64_t PresenceTable::Flush(int64_t now_us) {
  int64_t next = INT64_MAX;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (auto it = shard.due.begin(); it != shard.due.end();) {
      if (it->second > now_us) {
        next = std::min(next, it->second);
        ++it;
        continue;
      }
      if (auto t = shard.topics.find(it->first); t != shard.topics.end()) {
        Send(it->first, t->second, now_us);
      }
      it = shard.due.erase(it);
    }
  }
  return next;
}

Result<PresenceSnapshot> PresenceTable::Query(const std::string& topic,
                                              const PresenceQuery& query) const {
  if (Status s = Allowed(topic); !s.ok()) return s;
  const uint32_t limit = std::clamp<uint32_t>(query.limit, 1, limits_.max_query_members);
  PresenceSnapshot out;
  Shard& shard = ShardOf(topic);
  std::lock_guard lock(shard.mu);
  auto it = shard.topics.find(topic);
  if (it == shard.topics.end()) return out;
  const Topic& t = it->second;
  out.clients = static_cast<uint32_t>(t.members.size());
  out.users = static_cast<uint32_t>(t.users.size());
  for (auto m = t.members.upper_bound(query.after); m != t.members.end(); ++m) {
    if (out.members.size() == limit) {
      out.next = out.members.back().client;
      break;
    }
    out.members.push_back(*m->second.member);
  }
  return out;
}

}  // namespace herald
