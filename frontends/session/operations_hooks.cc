// The operations that may wait on a backend's hook (HookGate): a
// connection's admission, a token's renewal, and the vetting of a
// subscription or a publish before the broker sees it.
#include <chrono>

#include "frontends/session/operations.h"

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

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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
    if (decided->expires_at_s != 0 && decided->expires_at_s <= NowSeconds()) {
      return done(Status(ErrorCode::kUnauthenticated, "the hook's expires_at has passed"));
    }
    Result<Admitted> admitted = admission.Hold(std::move(decided));
    if (admitted.ok()) admitted->client = std::move(client);
    done(std::move(admitted));
  });
}

void Operations::Renew(const auth::Identity& current, const Credential& credential,
                       HookCaller caller, std::function<void(Result<IdentityPtr>)> done) const {
  if (current.decided_by_hook) return RenewDecided(current, credential, caller, std::move(done));
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
  if (!Hooked(HookEvent::kRefresh, {})) {
    return done(admission_.Renew(current, credential).status());  // refused, saying why
  }
  // The new token must name whom the first one named; the connection stays
  // who the connect hook made it, with the new token's id and (unless the
  // refresh hook says otherwise) its expiry.
  auth::Identity as_token = current;
  as_token.decided_by_hook = false;
  as_token.subject = current.token_subject;
  as_token.anonymous = current.token_anonymous;
  Result<IdentityPtr> next = admission_.Renew(as_token, credential);
  if (!next.ok()) return done(next.status());
  HookRequest request = RequestOf(HookEvent::kRefresh, current, caller);
  request.token = std::string(credential.token);
  hooks_->Ask(std::move(request), [renewed = current, next = std::move(*next),
                                   done = std::move(done)](Result<HookDecision> d) mutable {
    if (!d.ok()) return done(d.status());
    renewed.token_id = next->token_id;
    renewed.issued_at_s = next->issued_at_s;
    renewed.expires_at_s = d->expires_at != 0 ? d->expires_at : next->expires_at_s;
    done(std::make_shared<const auth::Identity>(std::move(renewed)));
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
  if (Status s = admission_.Check(who, op, topic); !s.ok()) return done(s);
  if (!Hooked(HookEvent::kPublish, topic)) return done(std::move(payload));
  HookRequest request = RequestOf(HookEvent::kPublish, who, caller);
  request.topic = std::string(topic);
  request.data = payload;
  request.content_type = std::move(content_type);
  hooks_->Ask(std::move(request),
              [data = std::move(payload), done = std::move(done)](Result<HookDecision> d) mutable {
                if (!d.ok()) return done(d.status());
                done(d->data ? std::move(*d->data) : std::move(data));
              });
}

}  // namespace herald::session
