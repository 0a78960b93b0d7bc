// Forwards and history fetches waiting for the owner (pending_calls.h).
#include "cluster/pending_calls.h"

#include <vector>

namespace herald::cluster {
namespace {

// A forward that was sent but never answered may have been sequenced by the
// owner before the silence: the publisher is told "unknown", not "failed",
// so it does not retry into a duplicate without knowing it might.
Status OutcomeUnknown(const Status& why) {
  return Status(ErrorCode::kTimeout,
                why.message() + ": the publish may or may not have been sequenced by the owner");
}

Status Unreachable(const std::string& topic, const std::string& owner) {
  return Status(ErrorCode::kUnavailable,
                "the owner of '" + topic + "', node '" + owner + "', is unreachable");
}

Status Closing(const std::string& owner) {
  return Status(ErrorCode::kUnavailable, "the link to node '" + owner + "' is closing");
}

}  // namespace

void PendingCalls::Forward(const std::shared_ptr<PeerLink>& link, const std::string& owner,
                           const MessagePtr& message, PublishCallback done) {
  if (!link) {
    forward_failures_.fetch_add(1, std::memory_order_relaxed);
    return done(Unreachable(message->topic, owner));
  }
  Call call;
  call.peer = owner;
  call.deadline = Clock::now() + options_.forward_timeout;
  call.on_ack = std::move(done);
  const uint64_t id = Add(std::move(call));
  pb::PeerFrame f;
  pb::Forward* fw = f.mutable_forward();
  fw->set_id(id);
  ToForward(*message, fw);
  forwards_.fetch_add(1, std::memory_order_relaxed);
  if (!link->Send(std::move(f))) {
    if (auto unsent = Take(id)) Fail(*unsent, Closing(owner), /*sent=*/false);
  }
}

void PendingCalls::FetchHistory(const std::shared_ptr<PeerLink>& link, const std::string& owner,
                                const std::string& topic, uint64_t epoch, uint64_t after_offset,
                                HistoryCallback done) {
  history_fetches_.fetch_add(1, std::memory_order_relaxed);
  if (!link) {
    history_failures_.fetch_add(1, std::memory_order_relaxed);
    return done(Unreachable(topic, owner));
  }
  Call call;
  call.peer = owner;
  call.on_history = std::move(done);
  call.topic = topic;
  AskHistory(*link, std::move(call), epoch, after_offset);
}

void PendingCalls::AskHistory(PeerLink& link, Call call, uint64_t epoch, uint64_t after_offset) {
  const std::string owner = call.peer;
  const std::string topic = call.topic;
  call.deadline = Clock::now() + options_.forward_timeout;
  const uint64_t id = Add(std::move(call));
  pb::PeerFrame f;
  pb::HistoryRequest* h = f.mutable_history_request();
  h->set_id(id);
  h->set_topic(topic);
  h->set_epoch(epoch);
  h->set_after_offset(after_offset);
  if (!link.Send(std::move(f))) {
    if (auto unsent = Take(id)) Fail(*unsent, Closing(owner), /*sent=*/false);
  }
}

void PendingCalls::OnForwardResult(const PeerLink& from, const pb::ForwardResult& result) {
  std::optional<Call> call = TakeAnswered(result.id(), from, /*history=*/false);
  if (!call || !call->on_ack) return;  // timed out meanwhile
  if (!result.error_code().empty()) {
    call->on_ack(Status(ErrorCodeFromName(result.error_code()), result.error_message()));
    return;
  }
  call->on_ack(PublishAck{result.epoch(), result.offset(), result.duplicate()});
}

void PendingCalls::OnHistory(PeerLink& from, pb::HistoryResponse& response) {
  std::optional<Call> call = TakeAnswered(response.id(), from, /*history=*/true);
  if (!call || !call->on_history) return;
  if (!response.error_code().empty()) {
    return Fail(*call, Status(ErrorCodeFromName(response.error_code()), response.error_message()),
                /*sent=*/true);
  }
  // One page: the caller asks for the next (so what a fetch holds is one
  // page, whatever the history's size on the owner's disk).
  ResumeResult r;
  r.epoch = response.epoch();
  r.last_offset = response.last_offset();
  if (response.has_gap()) r.gap = FromGap(call->topic, response.gap());
  for (pb::Delivery& d : *response.mutable_messages()) {
    // History of one topic: anything else in the page is the peer's error.
    if (d.topic() == call->topic) r.messages.push_back(FromDelivery(d));
  }
  // A "truncated" page that brought nothing would have the caller ask for
  // the same page for ever: it is the last.
  r.truncated = response.truncated() && !r.messages.empty();
  call->on_history(std::move(r));
}

void PendingCalls::Expire(Clock::time_point now) {
  FailWhere([now](const Call& c) { return c.deadline <= now; },
            [this](const Call& c) {
              return Status(ErrorCode::kUnavailable,
                            "node '" + c.peer + "' did not answer within " +
                                std::to_string(options_.forward_timeout.count()) + " ms");
            });
}

void PendingCalls::FailPeer(const std::string& peer, const Status& why) {
  FailWhere([&peer](const Call& c) { return peer.empty() || c.peer == peer; },
            [&why](const Call&) { return why; });
}

void PendingCalls::FailWhere(const std::function<bool(const Call&)>& select,
                             const std::function<Status(const Call&)>& why) {
  std::vector<Call> failed;
  {
    std::lock_guard lock(mu_);
    for (auto it = calls_.begin(); it != calls_.end();) {
      if (select(it->second)) {
        failed.push_back(std::move(it->second));
        it = calls_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Call& call : failed) Fail(call, why(call), /*sent=*/true);
}

void PendingCalls::Fail(Call& call, const Status& why, bool sent) {
  if (call.on_ack) {
    forward_failures_.fetch_add(1, std::memory_order_relaxed);
    call.on_ack(sent ? OutcomeUnknown(why) : why);
  }
  if (call.on_history) {
    history_failures_.fetch_add(1, std::memory_order_relaxed);
    call.on_history(why);
  }
}

uint64_t PendingCalls::Add(Call call) {
  std::lock_guard lock(mu_);
  const uint64_t id = ++next_id_;
  calls_.emplace(id, std::move(call));
  return id;
}

std::optional<PendingCalls::Call> PendingCalls::Take(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = calls_.find(id);
  if (it == calls_.end()) return std::nullopt;
  Call call = std::move(it->second);
  calls_.erase(it);
  return call;
}

std::optional<PendingCalls::Call> PendingCalls::TakeAnswered(uint64_t id, const PeerLink& from,
                                                             bool history) {
  std::lock_guard lock(mu_);
  auto it = calls_.find(id);
  if (it == calls_.end()) return std::nullopt;
  // Only the node asked may answer, and only in kind: any other answer
  // would take the question from its real answer, leaving its caller
  // waiting (a history fetch holds a subscription's live messages).
  if (it->second.peer != from.peer_id() || (it->second.on_history != nullptr) != history) {
    return std::nullopt;
  }
  Call call = std::move(it->second);
  calls_.erase(it);
  return call;
}

}  // namespace herald::cluster
