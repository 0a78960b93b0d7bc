#include "broker/client_directory.h"

#include <algorithm>
#include <map>

namespace herald {

void ClientControl::ServerSubscribe(const std::string&, bool, std::function<void(Status)> done) {
  done(Status(ErrorCode::kUnavailable, "this connection takes no server subscriptions"));
}

void ClientControl::ServerUnsubscribe(const std::string&, std::function<void(Status)> done) {
  done(Status(ErrorCode::kUnavailable, "this connection takes no server subscriptions"));
}

void MergeAdminResult(AdminResult& into, AdminResult from, uint32_t limit) {
  into.nodes += from.nodes;
  for (std::string& n : from.unreached) into.unreached.push_back(std::move(n));
  into.matched += from.matched;
  into.applied += from.applied;
  into.refused += from.refused;
  for (std::string& e : from.errors) {
    if (into.errors.size() < kMaxAdminErrors) into.errors.push_back(std::move(e));
  }
  into.truncated = into.truncated || from.truncated;
  for (ClientRecord& c : from.clients) {
    if (into.clients.size() >= limit) {
      into.truncated = true;
      break;
    }
    into.clients.push_back(std::move(c));
  }
  if (from.topics.empty()) return;
  std::map<std::string, uint64_t> sum;
  for (TopicCount& t : into.topics) sum[std::move(t.pattern)] += t.subscribers;
  for (TopicCount& t : from.topics) sum[std::move(t.pattern)] += t.subscribers;
  into.topics.clear();
  for (auto& [pattern, n] : sum) {
    if (into.topics.size() >= limit) {
      into.truncated = true;
      break;
    }
    into.topics.push_back({pattern, n});
  }
}

std::shared_ptr<void> ClientDirectory::Register(ClientRecord record,
                                                std::weak_ptr<ClientControl> control) {
  std::string id = record.client;
  {
    std::lock_guard lock(mu_);
    by_user_[record.user].insert(id);
    by_id_.insert_or_assign(id, Entry{std::move(record), std::move(control)});
  }
  // A handle that unregisters when its last holder lets go. Never null: a
  // holder tests it to know it is registered (ClientSession::Renewed).
  struct Registration {
    std::weak_ptr<ClientDirectory> directory;
    std::string id;
    ~Registration() {
      if (auto self = directory.lock()) self->Unregister(id);
    }
  };
  auto handle = std::make_shared<Registration>();
  handle->directory = weak_from_this();
  handle->id = std::move(id);
  return handle;
}

void ClientDirectory::Unregister(const std::string& client) {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(client);
  if (it == by_id_.end()) return;
  auto u = by_user_.find(it->second.record.user);
  if (u != by_user_.end()) {
    u->second.erase(client);
    if (u->second.empty()) by_user_.erase(u);
  }
  by_id_.erase(it);
}

void ClientDirectory::Renewed(std::string_view client, std::string token_id, int64_t issued_at_s,
                              int64_t expires_at_s) {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(std::string(client));
  if (it == by_id_.end()) return;
  it->second.record.token_id = std::move(token_id);
  it->second.record.issued_at_s = issued_at_s;
  it->second.record.expires_at_s = expires_at_s;
}

std::vector<ClientDirectory::Found> ClientDirectory::Select(std::string_view client,
                                                            std::string_view user) const {
  std::vector<Found> out;
  std::lock_guard lock(mu_);
  if (!client.empty()) {
    auto it = by_id_.find(std::string(client));
    if (it != by_id_.end() && (user.empty() || it->second.record.user == user)) {
      out.push_back(Take(it->second));
    }
    return out;
  }
  auto u = by_user_.find(std::string(user));
  if (u == by_user_.end()) return out;
  for (const std::string& id : u->second) {
    if (auto it = by_id_.find(id); it != by_id_.end()) out.push_back(Take(it->second));
  }
  return out;
}

std::vector<ClientDirectory::Found> ClientDirectory::Revoked(const Revocation& r) const {
  std::vector<Found> out;
  std::lock_guard lock(mu_);
  if (r.kind == Revocation::Kind::kUser) {
    auto u = by_user_.find(r.key);
    if (u == by_user_.end()) return out;
    for (const std::string& id : u->second) {
      auto it = by_id_.find(id);
      if (it == by_id_.end() || it->second.record.anonymous) continue;
      if (it->second.record.issued_at_s < r.issued_before_s) out.push_back(Take(it->second));
    }
    return out;
  }
  // By jti: not indexed (revocations are rare; connections are many).
  for (const auto& [id, e] : by_id_) {
    if (!e.record.token_id.empty() && e.record.token_id == r.key) out.push_back(Take(e));
  }
  return out;
}

size_t ClientDirectory::size() const {
  std::lock_guard lock(mu_);
  return by_id_.size();
}

Result<Revocation> Revocations::Add(const Revocation& r, bool* changed,
                                    const std::function<void(const Revocation&)>& kept) {
  std::lock_guard lock(mu_);
  auto& map = r.kind == Revocation::Kind::kToken ? tokens_ : users_;
  auto it = map.find(r.key);
  if (it != map.end()) {
    Revocation& held = it->second;
    const bool more = r.until_s > held.until_s || r.issued_before_s > held.issued_before_s;
    if (changed) *changed = more;
    held.until_s = std::max(held.until_s, r.until_s);
    held.issued_before_s = std::max(held.issued_before_s, r.issued_before_s);
    if (more && kept) kept(held);
    return held;
  }
  if (changed) *changed = true;
  if (const size_t max = max_; tokens_.size() + users_.size() >= max) {
    return Status(ErrorCode::kResourceExhausted,
                  "at most " + std::to_string(max) + " revocations (max_revocations)");
  }
  map.emplace(r.key, r);
  count_.store(tokens_.size() + users_.size(), std::memory_order_relaxed);
  if (kept) kept(r);
  return r;
}

bool Revocations::Refuses(std::string_view user, std::string_view token_id, int64_t issued_at_s,
                          int64_t now_s) const {
  if (count_.load(std::memory_order_relaxed) == 0) return false;
  std::lock_guard lock(mu_);
  if (!token_id.empty()) {
    auto t = tokens_.find(std::string(token_id));
    if (t != tokens_.end() && t->second.until_s > now_s) return true;
  }
  auto u = users_.find(std::string(user));
  return u != users_.end() && u->second.until_s > now_s && issued_at_s < u->second.issued_before_s;
}

void Revocations::Expire(int64_t now_s, const std::function<void(const Revocation&)>& gone) {
  if (count_.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard lock(mu_);
  for (auto* map : {&tokens_, &users_}) {
    std::erase_if(*map, [&](const auto& kv) {
      if (kv.second.until_s > now_s) return false;
      if (gone) gone(kv.second);
      return true;
    });
  }
  count_.store(tokens_.size() + users_.size(), std::memory_order_relaxed);
}

std::vector<Revocation> Revocations::All() const {
  std::lock_guard lock(mu_);
  std::vector<Revocation> out;
  for (const auto& [k, r] : tokens_) out.push_back(r);
  for (const auto& [k, r] : users_) out.push_back(r);
  return out;
}

size_t Revocations::size() const { return count_.load(std::memory_order_relaxed); }

}  // namespace herald
