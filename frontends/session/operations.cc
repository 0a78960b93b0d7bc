#include "frontends/session/operations.h"

#include <algorithm>
#include <string>

namespace herald::session {

void Operations::Publish(const auth::Identity& who, std::string_view topic, std::string payload,
                         PublishOptions options, PublishDone done) const {
  if (Status s = admission_.Check(who, Op::kPublish, topic); !s.ok()) return done(s);
  broker_.PublishAsync(topic, std::move(payload), std::move(options), std::move(done));
}

Result<std::chrono::milliseconds> Operations::RequestTimeout(
    std::optional<int64_t> asked_ms, std::chrono::milliseconds fallback) const {
  const int64_t max = broker_.options().max_request_timeout.count();
  if (!asked_ms) return std::chrono::milliseconds(std::min(fallback.count(), max));
  if (*asked_ms < 1 || *asked_ms > max) {
    return Status(
        ErrorCode::kInvalidArgument,
        "'timeout_ms' must be from 1 to " + std::to_string(max) + " (max_request_timeout_ms)");
  }
  return std::chrono::milliseconds(*asked_ms);
}

void Operations::Request(const auth::Identity& who, std::string_view topic, std::string payload,
                         std::chrono::milliseconds timeout, PublishOptions options,
                         ReplyCallback done, SessionRequests* pending) const {
  if (Status s = admission_.Check(who, Op::kRequest, topic); !s.ok()) return done(s);
  if (pending)
    return pending->Start(topic, std::move(payload), timeout, std::move(options), std::move(done));
  broker_.Request(topic, std::move(payload), timeout, std::move(done), std::move(options));
}

Result<uint64_t> Operations::Subscribe(const auth::Identity& who, std::string_view pattern,
                                       std::shared_ptr<Sink> sink, std::shared_ptr<Inbox> inbox,
                                       SubscribeOptions options) const {
  if (Status s = admission_.Check(who, Op::kSubscribe, pattern); !s.ok()) return s;
  return broker_.Subscribe(pattern, std::move(sink), std::move(inbox), std::move(options));
}

void Operations::History(const auth::Identity& who, std::string_view topic, HistoryQuery query,
                         ResumeCallback done) const {
  if (Status s = admission_.Check(who, Op::kHistory, topic); !s.ok()) return done(s);
  if (query.epoch == 0 && query.after > 0) {
    // `after` without an epoch is an offset in the topic's current epoch:
    // learn the epoch first (from the topic's owner, without waiting), then read.
    broker_.ResumeAsync(topic, 0, 0, 0,
                        [broker = &broker_, topic = std::string(topic), query,
                         done = std::move(done)](Result<ResumeResult> now) mutable {
                          if (!now.ok()) return done(now.status());
                          broker->ResumeAsync(topic, now->epoch, query.after, query.limit,
                                              std::move(done));
                        });
    return;
  }
  broker_.ResumeAsync(topic, query.epoch, query.after, query.limit, std::move(done));
}

}  // namespace herald::session
