// The operations that may wait on a backend's hook (HookGate): a
// connection's admission, a token's renewal, and the vetting of a
// subscription or a publish before the broker sees it.

#include "frontends/session/operations.h"

#include "base/unix_time.h"

namespace herald::session {
namespace {

HookRequest RequestOf(HookEvent event, const auth::Identity& who, const HookCaller& caller) {
  HookRequest r;
  r.event = event;
  r.client = caller.client;
  r.user = who.subject;
  r.anonymous = who.anonymous;
  r.transport = caller.transport;
  r.info = who.info.empty() ? caller.info : who.info;
  return r;
}

}  // namespace

void Operations::Connect(const Credential& credential, HookCaller caller,
                         std::function<void(Result<Admitted>)> done) const {
  if (caller.client.empty()) caller.client = broker_.NextClientId();
  if (!Hooked(HookEvent::kConnect, {})) {
    Result<Admitted> admitted = admission_.Connect(credential);
    if (admitted.ok()) admitted->client = std::move(caller.client);
    return done(std::move(admitted));
  }
  Result<IdentityPtr> who = admission_.Authenticate(credential);
  if (!who.ok()) return done(who.status());
  HookRequest request = RequestOf(HookEvent::kConnect, **who, caller);
  if (credential.kind == Credential::Kind::kBearer) request.token = std::string(credential.token);
  // The admission outlives the call only by value: the slot is taken from
  // a copy of what it needs (Admission is cheap to copy, its verifier shared).
  hooks_->Ask(std::move(request), [admission = admission_, who = std::move(*who),
                                   client = std::move(caller.client),
                                   done = std::move(done)](Result<HookDecision> d) mutable {
    if (!d.ok()) return done(d.status());
    IdentityPtr decided = std::make_shared<const auth::Identity>(HookGate::Apply(*who, *d));
    if (decided->expires_at_s != 0 && decided->expires_at_s <= UnixSeconds()) {
      return done(Status(ErrorCode::kUnauthenticated, "the hook's expires_at has passed"));
    }
    Result<Admitted> admitted = admission.Hold(std::move(decided));
    if (admitted.ok()) admitted->client = std::move(client);
    done(std::move(admitted));
  });
}

void Operations::Renew(const auth::Identity& current, const Credential& credential,
                       HookCaller caller, std::function<void(Result<IdentityPtr>)> done) const {
  if (current.hook_set.any()) return RenewDecided(current, credential, caller, std::move(done));
  Result<IdentityPtr> next = admission_.Renew(current, credential);
  if (!next.ok() || !Hooked(HookEvent::kRefresh, {})) return done(std::move(next));
  HookRequest request = RequestOf(HookEvent::kRefresh, **next, caller);
  request.token = std::string(credential.token);
  hooks_->Ask(std::move(request), [next = std::move(*next), current_user = current.subject,
                                   done = std::move(done)](Result<HookDecision> d) mutable {
    if (!d.ok()) return done(d.status());
    if (d->expires_at == 0) return done(std::move(next));
    auth::Identity renewed = *next;
    renewed.expires_at_s = d->expires_at;
    done(std::make_shared<const auth::Identity>(std::move(renewed)));
  });
}

void Operations::RenewDecided(const auth::Identity& current, const Credential& credential,
                              const HookCaller& caller,
                              std::function<void(Result<IdentityPtr>)> done) const {
  // An expiry the connect hook set is the backend's to extend: a token
  // alone would outlive it.
  if (current.hook_set.expiry && !Hooked(HookEvent::kRefresh, {})) {
    return done(Status(ErrorCode::kPermissionDenied,
                       "the connect hook set this connection's expiry: a refresh needs the "
                       "refresh hook"));
  }
  // The new token must name whom the first one named. The connection is
  // then the new token's, with what the connect hook replaced kept.
  auth::Identity as_token = current;
  as_token.hook_set = {};
  as_token.subject = current.token_subject;
  as_token.anonymous = current.token_anonymous;
  Result<IdentityPtr> next = admission_.Renew(as_token, credential);
  if (!next.ok()) return done(next.status());
  auto keep = [current](const auth::Identity& token, int64_t refreshed_expiry) {
    auth::Identity renewed = token;
    renewed.hook_set = current.hook_set;
    renewed.token_subject = current.token_subject;
    renewed.token_anonymous = current.token_anonymous;
    if (current.hook_set.user) {
      renewed.subject = current.subject;
      renewed.anonymous = current.anonymous;
    }
    if (current.hook_set.info) renewed.info = current.info;
    if (current.hook_set.grants) renewed.grants = current.grants;
    // The refresh hook's expiry if it gave one; else a hook-set one stays
    // (a refresh hook that failed open does not hand it to the token).
    if (refreshed_expiry != 0) {
      renewed.expires_at_s = refreshed_expiry;
    } else if (current.hook_set.expiry) {
      renewed.expires_at_s = current.expires_at_s;
    }
    return std::make_shared<const auth::Identity>(std::move(renewed));
  };
  if (!Hooked(HookEvent::kRefresh, {})) return done(keep(**next, 0));
  HookRequest request = RequestOf(HookEvent::kRefresh, current, caller);
  request.token = std::string(credential.token);
  hooks_->Ask(std::move(request), [keep, next = std::move(*next),
                                   done = std::move(done)](Result<HookDecision> d) mutable {
    if (!d.ok()) return done(d.status());
    done(keep(*next, d->expires_at));
  });
}

void Operations::VetSubscribe(const auth::Identity& who, std::string_view pattern,
                              const HookCaller& caller, std::function<void(Status)> done) const {
  if (Status s = admission_.Check(who, Op::kSubscribe, pattern); !s.ok()) return done(s);
  if (!Hooked(HookEvent::kSubscribe, pattern)) return done(Status::Ok());
  HookRequest request = RequestOf(HookEvent::kSubscribe, who, caller);
  request.topic = std::string(pattern);
  hooks_->Ask(std::move(request), [done = std::move(done)](Result<HookDecision> d) {
    done(d.ok() ? Status::Ok() : d.status());
  });
}

void Operations::VetPublish(const auth::Identity& who, Op op, std::string_view topic,
                            std::string payload, std::string content_type, const HookCaller& caller,
                            std::function<void(Result<std::string>)> done) const {
  // A publish refused here never reaches the broker: counted for it
  // (herald_publish_refused_total), as the broker counts its own refusals.
  Broker* const count = op == Op::kPublish ? &broker_ : nullptr;
  if (Status s = admission_.Check(who, op, topic); !s.ok()) {
    if (count) count->RecordRefusedPublish(s.code());
    return done(s);
  }
  if (!Hooked(HookEvent::kPublish, topic)) return done(std::move(payload));
  HookRequest request = RequestOf(HookEvent::kPublish, who, caller);
  request.topic = std::string(topic);
  request.data = payload;
  request.content_type = std::move(content_type);
  hooks_->Ask(std::move(request), [count, data = std::move(payload),
                                   done = std::move(done)](Result<HookDecision> d) mutable {
    if (!d.ok()) {
      if (count) count->RecordRefusedPublish(d.status().code());
      return done(d.status());
    }
    done(d->data ? std::move(*d->data) : std::move(data));
  });
}

}  // namespace herald::session
