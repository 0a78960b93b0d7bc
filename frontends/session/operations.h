// Operations: what publish, request, subscribe and history mean for a
// client, written once for every front.
//
// Each operation asks Admission first (topic rules, `_INBOX.`, grants), then
// applies the one rule it carries (a request's timeout bounds, history's
// epoch and limit), then calls the broker. Its outcome is a typed Status the
// front renders; the same input gets the same code and message on every
// front. Nothing here waits: completions run inline (a refusal, or a topic
// this node sequences) or on whatever thread the answer arrives on, and a
// front on an event loop hops back to it itself.
//
// Stateless; one per front, shared (std::shared_ptr) by its connections,
// which may outlive the front object. Fronts whose clients keep a session
// (several subscriptions, replies) use ClientSession on top.
//
// Thread rule: const, any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "frontends/session/admission.h"
#include "frontends/session/session_requests.h"
#include "herald/broker.h"

namespace herald::session {

using PublishDone = std::function<void(Result<PublishAck>)>;

// A history read: after `after` in `epoch`, at most `limit` messages.
// Epoch 0 means the topic's current epoch (then `after` is an offset in it).
struct HistoryQuery {
  uint64_t epoch = 0;
  uint64_t after = 0;
  size_t limit = SIZE_MAX;
};

class Operations {
 public:
  Operations(Broker& broker, Admission admission)
      : broker_(broker), admission_(std::move(admission)) {}

  void Publish(const auth::Identity& who, std::string_view topic, std::string payload,
               PublishOptions options, PublishDone done) const;

  // A request's timeout: absent means `fallback` (capped at
  // max_request_timeout); given, it must be 1 to max_request_timeout ms,
  // else invalid_argument. One bound for every front. (A protobuf 0 is
  // "absent".)
  Result<std::chrono::milliseconds> RequestTimeout(std::optional<int64_t> asked_ms,
                                                   std::chrono::milliseconds fallback) const;
  // `pending`, when given, bounds and ends the requests with the session.
  void Request(const auth::Identity& who, std::string_view topic, std::string payload,
               std::chrono::milliseconds timeout, PublishOptions options, ReplyCallback done,
               SessionRequests* pending = nullptr) const;

  Result<uint64_t> Subscribe(const auth::Identity& who, std::string_view pattern,
                             std::shared_ptr<Sink> sink, std::shared_ptr<Inbox> inbox,
                             SubscribeOptions options = {}) const;

  void History(const auth::Identity& who, std::string_view topic, HistoryQuery query,
               ResumeCallback done) const;

  Broker& broker() const { return broker_; }
  const Admission& admission() const { return admission_; }

 private:
  Broker& broker_;
  const Admission admission_;
};

}  // namespace herald::session
