// The server API (herald/clients.h): the node's clients, found by id or by
// user and acted on through their fronts' ClientControl; revocations; the
// subscribed patterns. A call is answered here and, through the cluster
// hook, by the nodes it names; the answers are merged.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>

#include "base/unix_time.h"
#include "broker/broker_impl.h"
#include "herald/topic.h"

namespace herald {
namespace {

void AddError(AdminResult& r, const std::string& message) {
  if (r.errors.size() < kMaxAdminErrors) r.errors.push_back(message);
}

// The node a client id names: what comes before its last '.'.
std::string NodeOf(std::string_view client) {
  const size_t dot = client.rfind('.');
  return dot == std::string_view::npos ? std::string() : std::string(client.substr(0, dot));
}

Status Invalid(std::string message) {
  return Status(ErrorCode::kInvalidArgument, std::move(message));
}

}  // namespace

std::string Broker::Impl::NextClientId() {
  static std::atomic<uint64_t> next{
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count())};
  uint64_t n = next.fetch_add(1, std::memory_order_relaxed);
  char digits[16];
  size_t len = 0;
  do {
    digits[len++] = "0123456789abcdefghijklmnopqrstuvwxyz"[n % 36];
    n /= 36;
  } while (n != 0);
  std::string id = options_.node_id + ".";
  while (len > 0) id.push_back(digits[--len]);
  return id;
}

Status Broker::Impl::CheckAdmin(AdminCall& call) const {
  using Op = AdminCall::Op;
  if (call.op > Op::kRevoke) return Invalid("no such operation");
  const bool names_clients = call.op == Op::kDisconnect || call.op == Op::kSubscribe ||
                             call.op == Op::kUnsubscribe || call.op == Op::kConnections;
  if (names_clients && call.client.empty() == call.user.empty()) {
    return Invalid("name a client or a user (one of them)");
  }
  if (call.client.size() > 256 || call.user.size() > 256 || call.topic.size() > 65535) {
    return Invalid("a client, user or topic too long");
  }
  if (call.op == Op::kSubscribe || call.op == Op::kUnsubscribe) {
    if (Status s = ValidatePattern(call.topic, options_.topic_limits); !s.ok()) return s;
  }
  if (call.op == Op::kDisconnect) {
    const DisconnectNotice& n = call.notice;
    if (n.code < 4000 || n.code > 4999) return Invalid("a disconnect code is 4000 to 4999");
    if (n.reconnect != (n.code < 4500)) {
      return Invalid("codes 4000-4499 ask the client to reconnect, 4500-4999 not to: code " +
                     std::to_string(n.code) + " with reconnect " +
                     (n.reconnect ? "true" : "false"));
    }
    if (n.reason.size() > 120) return Invalid("a disconnect reason is at most 120 bytes");
  }
  if (call.op == Op::kRevoke) {
    Revocation& r = call.revocation;
    const int64_t now = UnixSeconds();
    // A user's tokens issued up to now, this second included: one minted a
    // moment before the call is refused too.
    if (r.kind == Revocation::Kind::kUser && r.issued_before_s == 0) r.issued_before_s = now + 1;
    const int64_t max_ttl =
        std::chrono::duration_cast<std::chrono::seconds>(limits_.max_revocation_ttl.load()).count();
    if (r.kind > Revocation::Kind::kUser) return Invalid("no such revocation kind");
    if (r.issued_before_s < 0) return Invalid("`issued_before` must be a Unix time");
    if (r.key.empty() || r.key.size() > 256) return Invalid("a jti or user of 1 to 256 bytes");
    if (r.until_s <= now) return Invalid("`until` must be in the future");
    if (r.until_s > now + max_ttl) {
      return Invalid("`until` is past max_revocation_ttl (" + std::to_string(max_ttl) +
                     " s from now)");
    }
  }
  call.limit = static_cast<uint32_t>(
      std::clamp<uint64_t>(call.limit, 1, std::max<size_t>(limits_.max_admin_results, 1)));
  return Status::Ok();
}

void Broker::Impl::Admin(AdminCall call, std::function<void(Result<AdminResult>)> done) {
  if (Status s = CheckAdmin(call); !s.ok()) return done(s);
  const uint32_t limit = call.limit;
  // One client: only its node answers.
  std::string node = call.client.empty() ? std::string() : NodeOf(call.client);
  const bool here = node.empty() || node == options_.node_id;
  if (!call.client.empty() && here) node.clear();
  struct Join {
    std::mutex mu;
    AdminResult result;
    int waiting = 2;
    std::function<void(Result<AdminResult>)> done;
    uint32_t limit;
  };
  auto join = std::make_shared<Join>();
  join->done = std::move(done);
  join->limit = limit;
  auto add = [join](AdminResult r) {
    std::unique_lock lock(join->mu);
    MergeAdminResult(join->result, std::move(r), join->limit);
    if (--join->waiting > 0) return;
    lock.unlock();
    join->done(std::move(join->result));
  };
  if (here) {
    AdminLocal(call, add);
  } else {
    add(AdminResult{});
  }
  if (!call.client.empty() && here) {
    add(AdminResult{});  // no other node holds it
  } else {
    cluster_.Admin(call, node, add);
  }
}

void Broker::Impl::AdminLocal(const AdminCall& call, AdminCallback done) {
  using Op = AdminCall::Op;
  AdminResult r;
  r.nodes = 1;
  switch (call.op) {
    case Op::kDisconnect:
      for (ClientDirectory::Found& f : clients_->Select(call.client, call.user)) {
        ++r.matched;
        if (!f.control) continue;
        f.control->Disconnect(call.notice);
        ++r.applied;
      }
      BrokerCounters::Add(counters_.admin_disconnects, r.applied);
      return done(std::move(r));
    case Op::kConnections:
      for (ClientDirectory::Found& f : clients_->Select(call.client, call.user)) {
        ++r.matched;
        if (r.clients.size() >= call.limit) {
          r.truncated = true;
          continue;
        }
        r.clients.push_back(std::move(f.record));
      }
      return done(std::move(r));
    case Op::kTopics: {
      {
        std::lock_guard lock(subs_mu_);
        for (auto it = local_patterns_.lower_bound(call.topic);
             it != local_patterns_.end() && it->first.starts_with(call.topic); ++it) {
          if (r.topics.size() >= call.limit) {
            r.truncated = true;
            break;
          }
          r.topics.push_back({it->first, it->second});
        }
      }
      return done(std::move(r));  // (no callback under a broker lock)
    }
    case Op::kRevoke:
      return Revoke(call.revocation, std::move(r), std::move(done));
    case Op::kSubscribe:
    case Op::kUnsubscribe:
      break;
  }
  std::vector<ClientDirectory::Found> found = clients_->Select(call.client, call.user);
  if (found.empty()) return done(std::move(r));
  struct Join {
    std::mutex mu;
    AdminResult result;
    size_t waiting;
    AdminCallback done;
  };
  auto join = std::make_shared<Join>();
  join->result = std::move(r);
  join->result.matched = found.size();
  join->waiting = found.size();
  join->done = std::move(done);
  auto one = [join](Status s) {
    std::unique_lock lock(join->mu);
    if (s.ok()) {
      ++join->result.applied;
    } else {
      ++join->result.refused;
      AddError(join->result, s.message());
    }
    if (--join->waiting > 0) return;
    lock.unlock();
    join->done(std::move(join->result));
  };
  for (ClientDirectory::Found& f : found) {
    if (!f.control) {
      one(Status(ErrorCode::kCancelled, "the connection is closing"));
    } else if (call.op == Op::kSubscribe) {
      f.control->ServerSubscribe(call.topic, call.presence, one);
    } else {
      f.control->ServerUnsubscribe(call.topic, one);
    }
  }
}

void Broker::Impl::Revoke(const Revocation& revocation, AdminResult r, AdminCallback done) {
  // Answered once both are done: the store has it (or there is none) and
  // the live connections holding such a token were told to end.
  struct Join {
    std::mutex mu;
    AdminResult result;
    int waiting = 2;
    AdminCallback done;
  };
  auto join = std::make_shared<Join>();
  join->result = std::move(r);
  join->done = std::move(done);
  auto step = [join](const std::function<void(AdminResult&)>& fill) {
    std::unique_lock lock(join->mu);
    if (fill) fill(join->result);
    if (--join->waiting > 0) return;
    lock.unlock();
    join->done(std::move(join->result));
  };
  bool changed = false;
  bool writing = false;
  // The write is queued under the revocations' lock, so two revocations of
  // one key reach the store in the order they were held (as expiry's
  // deletes do): it keeps the later `until`.
  Result<Revocation> held = revocations_.Add(revocation, &changed, [&](const Revocation& h) {
    if (!revocation_store_) return;
    writing = true;
    revocation_store_->PutRevocation(h, [step](Status s) {
      step([&s](AdminResult& res) {
        if (s.ok()) return;
        ++res.refused;
        AddError(res, "not kept: " + s.message());
      });
    });
  });
  if (!writing) step(nullptr);
  if (!held.ok()) {
    BrokerCounters::Add(counters_.revocations_refused, 1);
    return step([&held](AdminResult& res) {
      ++res.refused;
      AddError(res, held.status().message());
    });
  }
  // Nothing new (a peer's link-up repeats what this node holds): no live
  // connection holds such a token any more.
  if (!changed) return step(nullptr);
  // Live connections of a revoked token end now.
  DisconnectNotice notice{4002, "token revoked", true};
  uint64_t matched = 0, applied = 0;
  for (ClientDirectory::Found& f : clients_->Revoked(revocation)) {
    ++matched;
    if (!f.control) continue;
    f.control->Disconnect(notice);
    ++applied;
  }
  BrokerCounters::Add(counters_.admin_disconnects, applied);
  step([matched, applied](AdminResult& res) {
    res.matched += matched;
    res.applied += applied;
  });
}

void Broker::Impl::RestoreRevocations() {
  const int64_t now = UnixSeconds();
  for (const Revocation& r : revocation_store_->TakeRevocations()) {
    if (r.until_s <= now || !revocations_.Add(r, nullptr).ok()) {
      revocation_store_->DeleteRevocation(r);
    }
  }
}

std::string Broker::NextClientId() { return impl_->NextClientId(); }

std::shared_ptr<void> Broker::RegisterClient(ClientRecord record,
                                             std::weak_ptr<ClientControl> control) {
  return impl_->clients().Register(std::move(record), std::move(control));
}

void Broker::ClientRenewed(std::string_view client, std::string token_id, int64_t issued_at_s,
                           int64_t expires_at_s) {
  impl_->clients().Renewed(client, std::move(token_id), issued_at_s, expires_at_s);
}

bool Broker::Revoked(std::string_view user, std::string_view token_id, int64_t issued_at_s) const {
  if (!impl_->revocations().Refuses(user, token_id, issued_at_s, UnixSeconds())) return false;
  BrokerCounters::Add(impl_->counters().revoked_refusals, 1);
  return true;
}

void Broker::RecordAdminCall(bool allowed) {
  BrokerCounters::Add(allowed ? impl_->counters().admin_calls : impl_->counters().admin_denied, 1);
}

void Broker::Admin(AdminCall call, std::function<void(Result<AdminResult>)> done) {
  impl_->Admin(std::move(call), std::move(done));
}

}  // namespace herald
