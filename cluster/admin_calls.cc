#include "cluster/admin_calls.h"

#include "broker/broker_cluster.h"

namespace herald::cluster {
namespace {

pb::PeerFrame CallFrame(uint64_t id, const AdminCall& c) {
  pb::PeerFrame f;
  pb::AdminCall* a = f.mutable_admin_call();
  a->set_id(id);
  a->set_op(static_cast<uint32_t>(c.op));
  a->set_client(c.client);
  a->set_user(c.user);
  a->set_topic(c.topic);
  a->set_presence(c.presence);
  a->set_code(c.notice.code);
  a->set_reason(c.notice.reason);
  a->set_reconnect(c.notice.reconnect);
  a->set_revocation_kind(static_cast<uint32_t>(c.revocation.kind));
  a->set_revocation_key(c.revocation.key);
  a->set_issued_before(c.revocation.issued_before_s);
  a->set_until(c.revocation.until_s);
  a->set_limit(c.limit);
  return f;
}

// A peer's call as the broker takes it; false when it names an operation
// this node does not know (a newer peer's).
bool CallOf(const pb::AdminCall& a, AdminCall& c) {
  if (a.op() > static_cast<uint32_t>(AdminCall::Op::kRevoke) || a.revocation_kind() > 1 ||
      a.code() > 65535) {
    return false;
  }
  c.op = static_cast<AdminCall::Op>(a.op());
  c.client = a.client();
  c.user = a.user();
  c.topic = a.topic();
  c.presence = a.presence();
  c.notice = {static_cast<uint16_t>(a.code()), a.reason(), a.reconnect()};
  c.revocation = {static_cast<Revocation::Kind>(a.revocation_kind()), a.revocation_key(),
                  a.issued_before(), a.until()};
  c.limit = a.limit();
  return true;
}

pb::PeerFrame ResultFrame(uint64_t id, const AdminResult& r) {
  pb::PeerFrame f;
  pb::AdminResult* a = f.mutable_admin_result();
  a->set_id(id);
  a->set_matched(r.matched);
  a->set_applied(r.applied);
  a->set_refused(r.refused);
  for (const std::string& e : r.errors) a->add_errors(e);
  for (const ClientRecord& c : r.clients) {
    pb::AdminClient* o = a->add_clients();
    o->set_client(c.client);
    o->set_user(c.user);
    o->set_anonymous(c.anonymous);
    o->set_jti(c.token_id);
    o->set_issued_at(c.issued_at_s);
    o->set_expires_at(c.expires_at_s);
    o->set_transport(c.transport);
    o->set_connected_at_ms(c.connected_at_ms);
  }
  for (const TopicCount& t : r.topics) {
    pb::AdminTopic* o = a->add_topics();
    o->set_pattern(t.pattern);
    o->set_subscribers(t.subscribers);
  }
  a->set_truncated(r.truncated);
  return f;
}

AdminResult ResultOf(pb::AdminResult& a) {
  AdminResult r;
  r.nodes = 1;
  r.matched = a.matched();
  r.applied = a.applied();
  r.refused = a.refused();
  for (std::string& e : *a.mutable_errors()) r.errors.push_back(std::move(e));
  for (pb::AdminClient& c : *a.mutable_clients()) {
    r.clients.push_back({std::move(*c.mutable_client()), std::move(*c.mutable_user()),
                         c.anonymous(), std::move(*c.mutable_jti()), c.issued_at(), c.expires_at(),
                         std::move(*c.mutable_transport()), c.connected_at_ms()});
  }
  for (pb::AdminTopic& t : *a.mutable_topics()) {
    r.topics.push_back({std::move(*t.mutable_pattern()), t.subscribers()});
  }
  r.truncated = a.truncated();
  return r;
}

}  // namespace

void AdminCalls::Answer(const std::shared_ptr<FanOut>& fan, const std::string& peer, bool reached,
                        AdminResult r) {
  std::unique_lock lock(fan->mu);
  if (reached) {
    MergeAdminResult(fan->result, std::move(r), fan->limit);
  } else {
    fan->result.unreached.push_back(peer);
  }
  if (--fan->waiting > 0) return;
  lock.unlock();
  fan->done(std::move(fan->result));
}

void AdminCalls::Send(const std::vector<std::shared_ptr<PeerLink>>& links, const AdminCall& call,
                      const std::string& wanted, AdminCallback done) {
  auto fan = std::make_shared<FanOut>();
  fan->limit = call.limit;
  fan->done = std::move(done);
  fan->waiting = links.size() + 1;  // +1: held until every call is sent
  if (!wanted.empty() && links.empty()) fan->result.unreached.push_back(wanted);
  const Clock::time_point deadline = Clock::now() + options_.admin_timeout;
  for (const std::shared_ptr<PeerLink>& link : links) {
    uint64_t id = 0;
    {
      std::lock_guard lock(mu_);
      if (!stopped_) {  // stopped: no tick would expire it
        id = next_id_++;
        pending_.emplace(id, Pending{link->peer_id(), deadline, fan});
      }
    }
    if (id == 0) {
      Fail({Pending{link->peer_id(), deadline, fan}});
      continue;
    }
    sent_.fetch_add(1, std::memory_order_relaxed);
    if (!link->Send(CallFrame(id, call))) {
      std::vector<Pending> gone;
      {
        std::lock_guard lock(mu_);
        auto it = pending_.find(id);
        if (it == pending_.end()) continue;  // failed meanwhile (the link went)
        gone.push_back(std::move(it->second));
        pending_.erase(it);
      }
      Fail(std::move(gone));
    }
  }
  Answer(fan, "", true, AdminResult{});
}

void AdminCalls::Apply(PeerLink& link, const pb::AdminCall& frame) {
  AdminCall call;
  const uint64_t id = frame.id();
  if (!CallOf(frame, call)) {
    if (id == 0) return;
    AdminResult r;
    r.refused = 1;
    r.errors.push_back("node '" + broker_.options().node_id + "' does not know this operation");
    link.Send(ResultFrame(id, r));
    return;
  }
  // The answer may come on another thread, after the link ended: it holds
  // the link, whose Send is then a no-op.
  BrokerCluster::ApplyAdmin(broker_, call, [link = link.shared_from_this(), id](AdminResult r) {
    if (id != 0) link->Send(ResultFrame(id, r));
  });
}

void AdminCalls::Announce(const std::shared_ptr<PeerLink>& link) {
  if (!link->speaks(kAdminFeature)) return;
  AdminCall call;
  call.op = AdminCall::Op::kRevoke;
  for (const Revocation& r : BrokerCluster::Revocations(broker_)) {
    call.revocation = r;
    link->Send(CallFrame(0, call));
  }
}

void AdminCalls::OnResult(const PeerLink& from, pb::AdminResult& result) {
  Pending p;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(result.id());
    if (it == pending_.end() || it->second.peer != from.peer_id()) return;
    p = std::move(it->second);
    pending_.erase(it);
  }
  Answer(p.fan, p.peer, true, ResultOf(result));
}

void AdminCalls::Fail(std::vector<Pending> gone) {
  for (Pending& p : gone) {
    unreached_.fetch_add(1, std::memory_order_relaxed);
    Answer(p.fan, p.peer, false, AdminResult{});
  }
}

void AdminCalls::Expire(Clock::time_point now) {
  std::vector<Pending> gone;
  {
    std::lock_guard lock(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      gone.push_back(std::move(it->second));
      it = pending_.erase(it);
    }
  }
  Fail(std::move(gone));
}

void AdminCalls::FailPeer(const std::string& peer) {
  std::vector<Pending> gone;
  {
    std::lock_guard lock(mu_);
    if (peer.empty()) stopped_ = true;  // the cluster stops: nothing later may wait
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (!peer.empty() && it->second.peer != peer) {
        ++it;
        continue;
      }
      gone.push_back(std::move(it->second));
      it = pending_.erase(it);
    }
  }
  Fail(std::move(gone));
}

}  // namespace herald::cluster
