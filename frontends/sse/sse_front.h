// The Server-Sent Events front: `GET /sse?topic=<pattern>` (repeatable,
// wildcards allowed) answers a text/event-stream of the matching messages
// (docs/PROTOCOL.md, "Server-Sent Events"):
//
//   ?topic=P            one or more patterns
//   &format=raw|json    data is the payload (default) or the JSON envelope
//   &event=topic        name each event by its topic (default: unnamed, so
//                       EventSource.onmessage sees them)
//   &lastEventId=ID     resume after ID on a first connect; the browser's
//                       Last-Event-ID header (sent on reconnect) wins
//
// Streams are broker sinks whose deliveries queue on their worker's inbox.
//
//   sse::SseFront sse(broker, options, [&](const io::Loop* l) { return inboxes.For(l); });
//   sse.Register(*router);
#pragma once

#include <functional>
#include <memory>

#include <atomic>
#include <mutex>
#include <vector>

#include "base/live.h"
#include "frontends/http/router.h"
#include "frontends/session/operations.h"
#include "frontends/sse/event_id.h"
#include "frontends/sse/sse_options.h"
#include "frontends/sse/sse_stream.h"
#include "frontends/sse/topic_names.h"
#include "herald/broker.h"

namespace herald::sse {

class SseFront {
 public:
  using InboxFor = std::function<std::shared_ptr<Inbox>(const io::Loop*)>;

  SseFront(Broker& broker, SseOptions options, InboxFor inbox_for);

  // Adds the /sse route. The front must outlive the router's use.
  void Register(http::Router& router);
  const SseStats& stats() const { return *stats_; }
  // A reload: streams opened from now on get `limits` (and allowed origins);
  // open ones keep theirs. id_topic_names stays the one it started with.
  // Any thread.
  void SetLimits(const SseLimits& limits);

 private:
  // A stream whose topics' history is being asked about (Open); answers
  // arrive on any thread, the stream opens on its connection's loop.
  struct PendingOpen {
    std::mutex mu;  // guards `resume` and the error while answers arrive
    std::atomic<size_t> waiting{0};
    http::Response res;
    io::Loop* loop = nullptr;
    std::shared_ptr<const SseOptions> options;  // the front's when it was asked for
    StreamSpec spec;
    std::vector<ResumePoint> resume;
    std::vector<TopicPosition> unresolved;
    bool forgot = false;
    int64_t expires_at_s = 0;
    std::shared_ptr<void> user_slot;
    session::IdentityPtr identity;
    std::string client;    // its client id
    std::string event_id;  // Last-Event-ID, or the URL's lastEventId
    Status refused;        // the first refusal of a topic (Vet), under mu
    int error_status = 0;  // the first refusal, if any
    std::string error_code, error_message;
    void Fail(int status, std::string code, std::string message);
  };

  void Open(http::Request& req, http::Response res);
  // Admitted (or not): each topic's grant and subscribe hook.
  void Vet(const std::shared_ptr<PendingOpen>& open, Result<session::Admitted> who);
  // Every topic allowed: the resume positions, then Finish.
  void Resolve(const std::shared_ptr<PendingOpen>& open);
  void Finish(PendingOpen& open);

  Broker& broker_;
  Live<SseOptions> options_;
  // Who may open a stream on which topics: the session layer's.
  const std::shared_ptr<const session::Operations> ops_;
  const InboxFor inbox_for_;
  std::shared_ptr<SseStats> stats_ = std::make_shared<SseStats>();
  // Long topic names this node's ids named by hash, shared by its streams.
  const std::shared_ptr<TopicNames> names_;
};

}  // namespace herald::sse
