// Request/reply: a unique reply inbox per request, the first reply wins, a
// deadline, and an immediate "no responders" when nothing could answer.
#include "broker/broker_impl.h"
#include "herald/topic.h"

namespace herald {

void Broker::Impl::Request(std::string_view topic, std::string payload,
                           std::chrono::milliseconds timeout, ReplyCallback on_reply,
                           PublishOptions options) {
  BrokerCounters::Add(counters_.requests, 1);
  if (Status s = ValidateTopic(topic, options_.topic_limits); !s.ok()) return on_reply(s);
  if (topic.starts_with(kInboxPrefix)) {
    return on_reply(Status(ErrorCode::kInvalidTopic, "cannot send a request to a reply inbox"));
  }
  if (timeout.count() <= 0) {
    return on_reply(Status(ErrorCode::kInvalidArgument, "request timeout must be positive"));
  }
  if (index_.Match(topic)->empty()) {
    BrokerCounters::Add(counters_.request_no_responders, 1);
    return on_reply(Status(ErrorCode::kNoResponders,
                           "no responders: nothing subscribes to '" + std::string(topic) + "'"));
  }
  std::string inbox = tracker_.NewInbox();
  options.reply_to = inbox;
  if (tracker_.Add(inbox, RequestTracker::Clock::now() + timeout, std::move(on_reply))) {
    {
      std::lock_guard lock(maintenance_mu_);
      deadline_changed_ = true;
    }
    maintenance_cv_.notify_one();
  }
  PublishAsync(topic, std::move(payload), std::move(options),
               [this, inbox](Result<PublishAck> published) {
                 if (!published.ok()) tracker_.Complete(inbox, published.status());
               });
}

}  // namespace herald
