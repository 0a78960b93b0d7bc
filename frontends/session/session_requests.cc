#include "frontends/session/session_requests.h"

#include <string>
#include <vector>

namespace herald::session {

void SessionRequests::Start(std::string_view topic, std::string payload,
                            std::chrono::milliseconds timeout, PublishOptions options,
                            ReplyCallback done) {
  uint64_t key = 0;
  {
    std::lock_guard lock(mu_);
    if (closed_) return done(Status(ErrorCode::kCancelled, "the session has ended"));
    if (live_.size() < max_) {
      key = ++next_key_;
      live_.emplace(key, 0);
    }
  }
  if (key == 0) {
    broker_.RecordRefusedRequest();
    return done(Status(ErrorCode::kResourceExhausted,
                       "too many pending requests on this connection "
                       "(max_pending_requests_per_connection " +
                           std::to_string(max_) + "): wait for an answer first"));
  }
  const uint64_t id = broker_.Request(
      topic, std::move(payload), timeout,
      [self = shared_from_this(), key, done = std::move(done)](Result<MessagePtr> r) {
        self->Finished(key);
        done(std::move(r));
      },
      std::move(options));
  bool cancel = false;
  {
    std::lock_guard lock(mu_);
    auto it = live_.find(key);
    if (it != live_.end()) {
      it->second = id;
      cancel = closed_;  // CancelAll ran before the id was known
    }
  }
  if (cancel) broker_.CancelRequest(id);
}

void SessionRequests::Finished(uint64_t key) {
  std::lock_guard lock(mu_);
  live_.erase(key);
}

void SessionRequests::CancelAll() {
  std::vector<uint64_t> ids;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (const auto& [key, id] : live_) {
      if (id != 0) ids.push_back(id);
    }
  }
  // Outside the lock: a cancelled request's callback runs here and calls
  // Finished.
  for (uint64_t id : ids) broker_.CancelRequest(id);
}

size_t SessionRequests::pending() const {
  std::lock_guard lock(mu_);
  return live_.size();
}

}  // namespace herald::session
