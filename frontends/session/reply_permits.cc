#include "frontends/session/reply_permits.h"

#include "herald/topic.h"

namespace herald::session {

void ReplyPermits::Note(const Message& m) {
  if (m.reply_to.empty() || max_ == 0) return;
  size_t forgotten = 0;
  {
    std::lock_guard lock(mu_);
    if (!allowed_.insert(m.reply_to).second) return;
    order_.push_back(m.reply_to);
    // Forget the oldest still allowed. Entries already taken are skipped on
    // the way; order_ never holds more than 2 * max_ of them (compacted
    // below).
    while (allowed_.size() > max_) {
      forgotten += allowed_.erase(order_.front());
      order_.pop_front();
    }
    if (order_.size() > 2 * max_) {
      std::deque<std::string> live;
      for (std::string& inbox : order_) {
        if (allowed_.count(inbox)) live.push_back(std::move(inbox));
      }
      order_.swap(live);
    }
  }
  if (forgot_) {
    for (; forgotten > 0; --forgotten) forgot_();
  }
}

Status ReplyPermits::Take(std::string_view to) {
  if (!to.starts_with(kInboxPrefix)) {
    return Status(ErrorCode::kInvalidArgument,
                  "'to' must be the reply_to of a received request ('" + std::string(to) +
                      "' is not a reply inbox)");
  }
  std::lock_guard lock(mu_);
  auto it = allowed_.find(std::string(to));
  if (it == allowed_.end()) {
    return Status(ErrorCode::kPermissionDenied,
                  "permission denied: reply to '" + std::string(to) +
                      "': not the reply_to of a request this session was sent and has not "
                      "answered");
  }
  allowed_.erase(it);
  return Status::Ok();
}

void ReplyPermits::Restore(std::string to) {
  std::lock_guard lock(mu_);
  if (allowed_.insert(to).second) order_.push_back(std::move(to));
}

size_t ReplyPermits::size() const {
  std::lock_guard lock(mu_);
  return allowed_.size();
}

}  // namespace herald::session
