// Request/reply: a unique reply inbox per request, the first reply wins, a
// deadline, and an immediate "no responders" when nothing could answer.
#include <algorithm>

#include "broker/broker_impl.h"
#include "herald/topic.h"

namespace herald {

uint64_t Broker::Impl::Request(std::string_view topic, std::string payload,
                               std::chrono::milliseconds timeout, ReplyCallback on_reply,
                               PublishOptions options) {
  BrokerCounters::Add(counters_.requests, 1);
  auto fail = [&](Status s) -> uint64_t {
    on_reply(std::move(s));
    return 0;
  };
  if (Status s = ValidateTopic(topic, options_.topic_limits); !s.ok()) return fail(s);
  if (topic.starts_with(kInboxPrefix)) {
    return fail(Status(ErrorCode::kInvalidTopic, "cannot send a request to a reply inbox"));
  }
  if (timeout.count() <= 0) {
    return fail(Status(ErrorCode::kInvalidArgument, "request timeout must be positive"));
  }
  // Every pending request is held until its deadline: a caller (a client
  // asking for 49 days) must not decide how long that is.
  timeout = std::min(timeout, limits_.max_request_timeout.load());
  if (index_.Match(topic)->empty()) {
    BrokerCounters::Add(counters_.request_no_responders, 1);
    return fail(Status(ErrorCode::kNoResponders,
                       "no responders: nothing subscribes to '" + std::string(topic) + "'"));
  }
  RequestTracker::Added added = tracker_.Add(RequestTracker::Clock::now() + timeout, on_reply);
  if (added.id == 0) {
    BrokerCounters::Add(counters_.requests_refused, 1);
    return fail(Status(ErrorCode::kResourceExhausted,
                       "too many pending requests on this node (max_pending_requests " +
                           std::to_string(tracker_.max_pending()) + ")"));
  }
  if (added.earliest) {
    {
      std::lock_guard lock(maintenance_mu_);
      deadline_changed_ = true;
    }
    maintenance_cv_.notify_one();
  }
  options.reply_to = added.inbox;
  PublishAsync(topic, std::move(payload), std::move(options),
               [this, inbox = added.inbox](Result<PublishAck> published) {
                 if (!published.ok()) tracker_.Complete(inbox, published.status());
               });
  return added.id;
}

Status Broker::Impl::Reply(std::string_view reply_to, std::string payload, PublishOptions options) {
  if (!reply_to.starts_with(kInboxPrefix)) {
    return Status(ErrorCode::kInvalidTopic,
                  "a reply goes to the reply_to of a received request ('" + std::string(reply_to) +
                      "' is not one)");
  }
  options.reply_to.clear();
  // A reply inbox is never a topic with an owner: nothing is forwarded.
  HereResult r = PublishHere(reply_to, std::move(payload), std::move(options), {});
  return r.ack.ok() ? Status::Ok() : r.ack.status();
}

}  // namespace herald
