#include "broker/presence_table.h"

#include <algorithm>

#include "herald/topic.h"

namespace herald {
namespace {

// What one member entry costs beyond its strings: the map node, the shared
// member, the user count's share.
constexpr uint64_t kEntryOverhead = 160;

// What a topic costs before its members: its Topic (maps, watchers), the
// shard's map node, and its name there and in the due list.
uint64_t TopicCost(std::string_view name) { return 256 + 2 * name.size(); }

// What a peer's member costs beyond its entry: its key in the node's list.
uint64_t RemoteCost(std::string_view topic, std::string_view client) {
  return 96 + topic.size() + client.size();
}

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
  if (fresh) {
    counters_.topics.fetch_add(1, std::memory_order_relaxed);
    counters_.bytes.fetch_add(TopicCost(topic), std::memory_order_relaxed);
  }
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
               limits_.max_presence_bytes) {  // (a new topic's cost is in already)
      counters_.refused_bytes.fetch_add(1, std::memory_order_relaxed);
      refused = Status(ErrorCode::kResourceExhausted,
                       "this node holds max_presence_bytes of presence already");
    }
    if (!refused.ok()) {
      if (fresh) {
        shard.topics.erase(it);
        counters_.topics.fetch_sub(1, std::memory_order_relaxed);
        counters_.bytes.fetch_sub(TopicCost(topic), std::memory_order_relaxed);
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
    if (changed_) changed_(topic, *shared, true);
    Note(shard, topic, t, member.client, +1, std::move(shared), now_us);
    return Status::Ok();
  }
  // The client is a member already (another presence subscription of it).
  if (!m->second.node.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  "client id '" + member.client + "' is another node's");
  }
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
  if (m != t.members.end() && m->second.node.empty() && --m->second.refs == 0) {
    if (changed_) changed_(topic, *m->second.member, false);
    EraseMember(shard, topic, t, m, now_us);
  }
  DropIfEmpty(shard, topic);
}

void PresenceTable::EraseMember(Shard& shard, const std::string& name, Topic& t,
                                std::map<std::string, Entry, std::less<>>::iterator m,
                                int64_t now_us) {
  MemberPtr member = std::move(m->second.member);
  const bool peer = !m->second.node.empty();
  const std::string client = m->first;
  t.members.erase(m);
  if (auto u = t.users.find(member->user); u != t.users.end() && --u->second == 0) {
    t.users.erase(u);
  }
  const uint64_t cost = Cost(*member) + (peer ? RemoteCost(name, client) : 0);
  t.bytes -= cost;
  counters_.bytes.fetch_sub(cost, std::memory_order_relaxed);
  counters_.members.fetch_sub(1, std::memory_order_relaxed);
  if (peer) counters_.peer_members.fetch_sub(1, std::memory_order_relaxed);
  Note(shard, name, t, client, -1, std::move(member), now_us);
}

void PresenceTable::JoinRemote(const std::string& node, const void* link, const std::string& topic,
                               const PresenceMember& member, int64_t now_us) {
  std::lock_guard remote(remote_mu_);
  auto rit = remote_.find(node);
  // Only from the link whose reset began last (a replaced link's late frames
  // are not the node's state any more).
  if (rit == remote_.end() || rit->second.link != link) return;
  Remote& r = rit->second;
  // A peer names only its own clients, with bounded info.
  if (!member.client.starts_with(node + ".") || member.info.size() > limits_.max_info_bytes ||
      !Allowed(topic).ok()) {
    counters_.peer_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto key = std::make_pair(topic, member.client);
  Shard& shard = ShardOf(topic);
  std::lock_guard lock(shard.mu);
  if (auto known = r.members.find(key); known != r.members.end()) {
    known->second = true;  // named again (a reset): kept
    auto t = shard.topics.find(topic);
    auto m = t == shard.topics.end() ? decltype(t->second.members.end()){}
                                     : t->second.members.find(member.client);
    if (t != shard.topics.end() && m != t->second.members.end()) {
      const PresenceMember& had = *m->second.member;
      if (had.user == member.user && had.info == member.info) return;
      // Someone else now (frames lost with a replaced link): a leave, then
      // the join below.
      EraseMember(shard, topic, t->second, m, now_us);
    }
    r.members.erase(known);
  }
  auto [it, fresh] = shard.topics.try_emplace(topic);
  const uint64_t cost =
      Cost(member) + RemoteCost(topic, member.client) + (fresh ? TopicCost(topic) : 0);
  // Over the budget, or an id already taken (a node names only its own
  // clients, so only an embedder's own ids could collide): not mirrored.
  if (counters_.bytes.load(std::memory_order_relaxed) + cost > limits_.max_presence_bytes ||
      it->second.members.contains(member.client)) {
    counters_.peer_dropped.fetch_add(1, std::memory_order_relaxed);
    if (fresh) {
      shard.topics.erase(it);
    } else {
      DropIfEmpty(shard, topic);  // the rename above may have emptied it
    }
    return;
  }
  Topic& t = it->second;
  if (fresh) counters_.topics.fetch_add(1, std::memory_order_relaxed);
  auto shared = std::make_shared<const PresenceMember>(member);
  t.members.emplace(member.client, Entry{shared, 1, node});
  ++t.users[member.user];
  t.bytes += cost - (fresh ? TopicCost(topic) : 0);
  counters_.bytes.fetch_add(cost, std::memory_order_relaxed);
  counters_.members.fetch_add(1, std::memory_order_relaxed);
  counters_.peer_members.fetch_add(1, std::memory_order_relaxed);
  r.members.emplace(std::move(key), true);
  Note(shard, topic, t, member.client, +1, std::move(shared), now_us);
}

void PresenceTable::LeaveRemote(const std::string& node, const void* link, const std::string& topic,
                                const std::string& client, int64_t now_us) {
  std::lock_guard remote(remote_mu_);
  auto r = remote_.find(node);
  if (r == remote_.end() || (link != nullptr && r->second.link != link) ||
      r->second.members.erase({topic, client}) == 0) {
    return;
  }
  Shard& shard = ShardOf(topic);
  std::lock_guard lock(shard.mu);
  auto it = shard.topics.find(topic);
  if (it == shard.topics.end()) return;
  auto m = it->second.members.find(client);
  if (m == it->second.members.end() || m->second.node != node) return;
  EraseMember(shard, topic, it->second, m, now_us);
  DropIfEmpty(shard, topic);
}

void PresenceTable::Adopt(const std::string& node, const void* link) {
  std::lock_guard remote(remote_mu_);
  if (auto r = remote_.find(node); r != remote_.end()) r->second.link = link;
}

void PresenceTable::BeginReset(const std::string& node, const void* link) {
  std::lock_guard remote(remote_mu_);
  Remote& r = remote_[node];
  r.link = link;
  r.resetting = true;
  for (auto& [key, confirmed] : r.members) confirmed = false;
}

void PresenceTable::EndReset(const std::string& node, const void* link, int64_t now_us) {
  std::vector<std::pair<std::string, std::string>> gone;
  {
    std::lock_guard remote(remote_mu_);
    auto r = remote_.find(node);
    if (r == remote_.end() || r->second.link != link || !r->second.resetting) return;
    r->second.resetting = false;
    for (const auto& [key, confirmed] : r->second.members) {
      if (!confirmed) gone.push_back(key);
    }
  }
  for (const auto& [topic, client] : gone) LeaveRemote(node, link, topic, client, now_us);
}

void PresenceTable::DropNode(const std::string& node, const void* link, int64_t now_us) {
  std::vector<std::pair<std::string, std::string>> gone;
  {
    std::lock_guard remote(remote_mu_);
    auto r = remote_.find(node);
    // A newer link began a reset since: its state is the node's now.
    if (r == remote_.end() || (link != nullptr && r->second.link != link)) return;
    r->second.link = nullptr;  // nothing more from any link until a reset
    r->second.resetting = false;
    for (const auto& [key, confirmed] : r->second.members) gone.push_back(key);
  }
  for (const auto& [topic, client] : gone) LeaveRemote(node, nullptr, topic, client, now_us);
}

void PresenceTable::ForEachLocal(
    const std::function<void(const std::vector<std::pair<std::string, PresenceMember>>&)>& each) {
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    std::vector<std::pair<std::string, PresenceMember>> local;
    for (const auto& [name, t] : shard.topics) {
      for (const auto& [client, entry] : t.members) {
        if (entry.node.empty()) local.emplace_back(name, *entry.member);
      }
    }
    each(local);
  }
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
  counters_.bytes.fetch_sub(TopicCost(name), std::memory_order_relaxed);
}

void PresenceTable::Note(Shard& shard, const std::string& name, Topic& t, const std::string& client,
                         int delta, MemberPtr member, int64_t now_us) {
  if (t.watchers.empty()) {
    // Nobody to tell: what is published is what is there.
    t.pending.clear();
    shard.due.erase(name);
    return;
  }
  auto [p, fresh] = t.pending.try_emplace(client);
  Change& c = p->second;
  // Without a queued change, what was published is what was there: a join
  // means it was not a member, a leave that it was this one.
  if (fresh && delta < 0) c.before = member;
  c.after = delta > 0 ? std::move(member) : nullptr;
  const bool same =
      c.before && c.after && c.before->user == c.after->user && c.before->info == c.after->info;
  if ((!c.before && !c.after) || same) {
    // Back where it was (a join and a leave of one member inside one
    // interval): nothing to say. A member back as someone else is told as a
    // leave and a join.
    t.pending.erase(p);
    counters_.coalesced.fetch_add(2, std::memory_order_relaxed);
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

void PresenceTable::ForPublished(const Topic& t,
                                 const std::function<void(const PresenceMember&)>& each) {
  // The members, each as the last event told it (a queued change's
  // `before`; nothing for a queued join), in client order.
  auto p = t.pending.begin();
  for (const auto& [client, entry] : t.members) {
    for (; p != t.pending.end() && p->first < client; ++p) {
      if (p->second.before) each(*p->second.before);  // left since
    }
    if (p != t.pending.end() && p->first == client) {
      if (p->second.before) each(*p->second.before);
      ++p;
      continue;
    }
    each(*entry.member);
  }
  for (; p != t.pending.end(); ++p) {
    if (p->second.before) each(*p->second.before);
  }
}

std::shared_ptr<PresenceEvent> PresenceTable::PublishedView(const std::string& name,
                                                            const Topic& t) const {
  auto e = std::make_shared<PresenceEvent>();
  e->topic = name;
  e->snapshot = true;
  std::unordered_map<std::string_view, uint32_t, SeededHash, std::equal_to<>> users;
  ForPublished(t, [&](const PresenceMember& m) {
    ++e->clients;
    ++users[m.user];
    if (e->joins.size() < limits_.snapshot_members) {
      e->joins.push_back(m);
    } else {
      e->truncated = true;
    }
  });
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
      if (change.before) e->leaves.push_back({client, change.before->user, {}});
      if (change.after) e->joins.push_back(*change.after);
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
  const uint32_t limit =
      std::clamp<uint32_t>(query.limit, 1, std::max<uint32_t>(1, limits_.max_query_members));
  PresenceSnapshot out;
  Shard& shard = ShardOf(topic);
  std::lock_guard lock(shard.mu);
  auto it = shard.topics.find(topic);
  if (it == shard.topics.end()) return out;
  // The published view, like a snapshot: the changes still queued reach the
  // asker as events after this answer, and apply to it exactly once.
  std::unordered_map<std::string_view, uint32_t, SeededHash, std::equal_to<>> users;
  ForPublished(it->second, [&](const PresenceMember& m) {
    ++out.clients;
    ++users[m.user];
    if (!query.after.empty() && m.client <= query.after) return;
    if (out.members.size() < limit) {
      out.members.push_back(m);
    } else if (out.next.empty()) {
      out.next = out.members.back().client;
    }
  });
  out.users = static_cast<uint32_t>(users.size());
  return out;
}

}  // namespace herald
