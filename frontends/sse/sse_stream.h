// frontends/sse/sse_stream.h — one open `GET /sse` response: a broker sink
// that turns deliveries into events on its HTTP stream.
//
// Each event carries the stream's position in every topic (event_id.h), so
// a reconnecting browser resumes exactly after the last event it saw. The
// stream is also a duplicate filter: overlapping patterns and replays may
// deliver a message twice, and only its first copy is sent.
// A resumed position known by hash only (its name was not in the node's
// TopicNames) is named by the topic's next message: the messages the client
// missed before it are replayed from history first, or a gap says which.
//
// Every byte the client makes us hold counts against its outbound budget
// (the slow-consumer policy, frontends/session/outbound.h): what waits in the
// response's backlog, and the deliveries held back during a catch-up.
//
// Lifetime: owned by its HTTP exchange (Response::Watch) and by the broker's
// subscriptions; released at once when the client goes away
// (OnStreamClosed). Loop thread only, except the destructor.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frontends/http/response.h"
#include "frontends/session/outbound.h"
#include "frontends/sse/event_id.h"
#include "frontends/sse/sse_event.h"
#include "frontends/sse/sse_options.h"
#include "frontends/sse/topic_names.h"
#include "herald/broker.h"
#include "io/loop.h"

namespace herald::sse {

struct StreamSpec {
  std::vector<std::string> patterns;  // the `topic` parameters, in order
  DataFormat format = DataFormat::kRaw;
  bool name_events = false;  // `event: <topic>` on each message
};

class SseStream final : public Sink,
                        public http::StreamWatcher,
                        public std::enable_shared_from_this<SseStream>,
                        private io::TimerWheel::Entry,
                        private session::OutboundPort {
 public:
  SseStream(Broker& broker, http::Response res, io::Loop& loop, SseOptions options,
            std::shared_ptr<SseStats> stats, StreamSpec spec, StreamPositions positions,
            std::shared_ptr<TopicNames> names);
  ~SseStream() override;

  // Subscribes every pattern, resuming from `resume` (each point goes to
  // every pattern that matches its topic). On error nothing stays subscribed.
  Status Subscribe(const std::shared_ptr<Inbox>& inbox, const std::vector<ResumePoint>& resume);
  // Sends the head, the retry hint and the starting position, and starts
  // the heartbeat. After a successful Subscribe, in the same loop turn.
  // `expires_at_s`: the client's token expires then (0: never) and the
  // stream ends with it; the client reconnects with a fresh token.
  // `left_out`: the id resumed from left topics out ("!"); each wildcard
  // pattern gets a gap notice saying so, since those resume live only.
  void Start(int64_t expires_at_s = 0, bool left_out = false);
  // Held until the stream ends: the client's place in its user's count.
  void HoldUserSlot(std::shared_ptr<void> slot) { user_slot_ = std::move(slot); }
  // Makes the open stream reachable by the server API: `registrar` gets the
  // stream's control and returns the registration, held until the end.
  void Register(
      const std::function<std::shared_ptr<void>(std::weak_ptr<ClientControl>)>& registrar);
  // The server API ends the stream: an `event: disconnect` with the
  // notice's JSON, then the end (loop thread).
  void Disconnect(const DisconnectNotice& notice);

  void OnDelivery(const Delivery& d) override;
  void OnStreamDrained() override;
  void OnStreamBlocked(size_t backlog) override;
  void OnStreamClosed() override;

 private:
  void OnTimerExpired() override;
  void ScheduleTimer();
  void OnStreamDrain() override;
  // `admitted`: the budget took it already (it was held).
  void SendMessage(uint64_t subscription_id, const MessagePtr& m, bool admitted = false);
  void SendGap(const Gap& gap);
  // One delivery held back while its topic's history is fetched.
  struct Held {
    uint64_t subscription_id = 0;
    MessagePtr message;      // a message, or
    std::optional<Gap> gap;  // a gap notice
  };
  // What holding `h` costs the budget: the memory it keeps.
  static size_t HeldCost(const Held& h);
  // `m` joins its held topic's queue if the budget admits it; if not, it is
  // dropped (a gap owed) or the stream is cut, as for a message sent live.
  void Hold(uint64_t subscription_id, const MessagePtr& m);
  void Unhold(size_t cost) { held_bytes_ -= std::min(held_bytes_, cost); }
  // Every byte the client makes us hold: the response's backlog and held_.
  size_t Queued() const { return res_.backlog_bytes() + held_bytes_; }
  // session::OutboundPort. A gap notice for a held topic waits in line with
  // its messages (the position must not move past its history first).
  void SendGapNotice(const Gap& gap) override;
  bool CloseSlowConsumer() override;
  // `live`'s topic was known by hash only, the client was at `was` in it:
  // asks for what it missed before `live` (from history, or a gap) without
  // waiting — the owner may be another node. Returns true when `live` (and
  // the topic's later deliveries) wait in held_ until CaughtUp.
  bool CatchUp(const TopicPosition& was, uint64_t subscription_id, const MessagePtr& live);
  // Asks the broker for `topic`'s history after (epoch, after) up to the
  // held live message; CaughtUp gets the answer on this stream's loop.
  void AskHistory(const std::string& topic, uint64_t subscription_id, uint64_t epoch,
                  uint64_t after, size_t limit, uint64_t live_epoch, uint64_t live_offset);
  void CaughtUp(const std::string& topic, uint64_t subscription_id, uint64_t live_epoch,
                uint64_t live_offset, Result<ResumeResult> missed);
  std::string CurrentId() const;
  void Write(SharedBytes bytes);
  void Write(std::string bytes);
  void Release();

  Broker& broker_;
  http::Response res_;
  io::Loop& loop_;
  const SseOptions options_;
  const std::shared_ptr<SseStats> stats_;
  const StreamSpec spec_;
  StreamPositions positions_;
  const std::shared_ptr<TopicNames> names_;  // may be null (tests)
  session::Outbound outbound_;
  std::vector<uint64_t> subscriptions_;
  // Topics whose missed history is being fetched: their deliveries wait here,
  // in order, so nothing live overtakes what came before it; charged to the
  // outbound budget (held_bytes_), or a flood during a slow fetch would
  // grow memory past it.
  std::map<std::string, std::vector<Held>, std::less<>> held_;
  size_t held_bytes_ = 0;
  bool open_ = false;
  int64_t last_write_ms_ = 0;  // steady clock: the heartbeat is due an interval after it
  bool closing_ = false;       // closed as a slow consumer; the close is under way
  int64_t expires_at_s_ = 0;
  std::shared_ptr<void> user_slot_;
  std::shared_ptr<ClientControl> control_;  // the server API's way in (registered weakly)
  std::shared_ptr<void> registration_;
};

}  // namespace herald::sse
