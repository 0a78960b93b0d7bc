// One WebSocket connection after the handshake: frames in (through the
// incremental FrameParser), control frames answered, the close handshake,
// keep-alive pings and the idle timeout; messages handed to an Endpoint (raw
// topic mode or the JSON protocol), frames out through the connection's
// batched write queue.
//
// Lifetime: the io::Connection owns the session (as its handler); the session
// owns the endpoint. When the connection closes, the session tells the
// endpoint (which unsubscribes everything) and drops its connection pointer,
// so a delivery that was already queued finds a closed session and does
// nothing. Loop thread only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/token_bucket.h"
#include "frontends/session/outbound.h"
#include "frontends/ws/frame_parser.h"
#include "frontends/ws/ws_options.h"
#include "herald/broker.h"
#include "io/connection.h"

namespace herald::ws {

class WsSession;

// What a session speaks: raw topic mode or the JSON protocol.
class Endpoint {
 public:
  virtual ~Endpoint() = default;
  virtual void OnOpen(WsSession& session) = 0;
  virtual void OnMessage(EventType type, std::string payload) = 0;
  // Messages of `gap` were dropped for this slow connection and its queue has
  // drained again: tell the client if the protocol can (raw mode cannot).
  virtual void OnOwedGap(const Gap& gap) = 0;
  // Hands this worker's already-queued deliveries to their sessions now
  // (Inbox::Drain), so that what the peer published before closing or
  // failing — its own echo in raw mode — goes out before our close frame.
  virtual void FlushPending() = 0;
  // Sends what the endpoint holds back to frame together (the JSON
  // protocol's batched jobs) before our close frame. Never drains the inbox:
  // a close may be decided while a delivery is being handed over.
  virtual void SendHeld() {}
  // The connection is gone: release subscriptions. The last call.
  virtual void OnClose() = 0;
  // A message was refused for the rate limit: tell the client if the
  // protocol can.
  virtual void OnRateLimited() {}
  // The connection's queue has drained: send what was owed for it (the JSON
  // protocol's presence resyncs).
  virtual void OnDrained() {}
  // The broker whose deliveries the session guards: the slow-consumer
  // policy (frontends/session/outbound.h) records its drops and cuts there.
  virtual Broker& broker() = 0;
  // The server API (ws_control.h), on the loop while the session is open.
  // Disconnect: close with the notice's code (the JSON protocol tells why
  // first). Raw mode takes no server subscriptions.
  virtual void OnServerDisconnect(const DisconnectNotice& notice) = 0;
  // Commands wait on hooks past the connection's bound: the session stops
  // reading (and handling what it read) until the endpoint calls
  // WsSession::ReadingReady().
  virtual bool reading_paused() const { return false; }
  virtual void OnServerSubscribe(const std::string& topic, bool presence,
                                 std::function<void(Status)> done) {
    (void)topic;
    (void)presence;
    done(Status(ErrorCode::kUnavailable, "a raw WebSocket takes no server subscriptions"));
  }
  virtual void OnServerUnsubscribe(const std::string& topic, std::function<void(Status)> done) {
    (void)topic;
    done(Status(ErrorCode::kUnavailable, "a raw WebSocket takes no server subscriptions"));
  }
};

struct WsStats;

class WsSession : public io::ConnectionHandler, public std::enable_shared_from_this<WsSession> {
 public:
  // `options`: the front's when the connection was upgraded, kept for its
  // life (a reload changes later connections only).
  WsSession(io::Connection* conn, FrameParserOptions parser_options,
            std::shared_ptr<const WsOptions> options, Endpoint* endpoint, WsStats* stats);

  // A shared pointer to `part` (a member of this session, e.g. its endpoint
  // as a broker Sink) that keeps the whole session alive.
  template <typename T>
  std::shared_ptr<T> SharedPart(T* part) {
    return std::shared_ptr<T>(shared_from_this(), part);
  }
  ~WsSession() override;

  // Starts reading: feeds the bytes that arrived after the handshake.
  void Start(std::string_view leftover);

  // Sending. No-ops once closed.
  void SendShared(SharedBytes frame);
  void SendOwned(std::string frame);
  // A broker message's `frame`, through the slow-consumer policy
  // (frontends/session/outbound.h): sent, after the gap notice owed for its
  // topic (Endpoint::OnOwedGap); or dropped; or the connection is cut.
  void SendDelivery(uint64_t subscription_id, const Message& m, SharedBytes frame);
  // The connection's outbound budget (a work-queue membership's jobs are
  // bounded by it too: Broker::JoinQueue).
  const OutboundLimits& outbound_limits() const { return options_->outbound; }
  // Starts the close handshake with `code` and `reason` (RFC 6455 §7.1.2).
  void Close(uint16_t code, std::string_view reason);

  bool open() const { return conn_ != nullptr && !closing_; }
  // Bytes queued on the socket and not yet written (0 once closed).
  size_t backlog_bytes() const;
  // The client's token expires at `unix_s` (0: never): the session closes
  // with 4001 then (checked on the keep-alive timer, armed no later). A
  // refresh calls it again with the new token's expiry.
  void SetExpiry(int64_t unix_s) {
    expires_at_s_ = unix_s;
    ArmKeepAlive();
  }
  bool compressed() const { return compressed_; }

  // io::ConnectionHandler
  void OnData(std::string_view data) override;
  bool OnTimer(io::CloseReason reason) override;
  void OnDrained() override;
  void OnWriteBlocked(size_t backlog) override;
  // The output gate opened: handle the events held back while it was shut.
  void OnOutputResumed() override;
  // The endpoint's pause (Endpoint::reading_paused) is over.
  void ReadingReady();
  void OnClose(io::CloseReason reason) override;
  // The server is draining: 1001 Going Away, so the client reconnects
  // (elsewhere).
  bool OnDrain() override;

 private:
  class Port;  // the session as the policy's session::OutboundPort
  session::Outbound& outbound();
  // The rate limit: false when the message is refused (or the session closed).
  bool AdmitMessage();
  void HandleEvent(Event& e);
  // Handles out.events[from..], then out.error; stops (keeping the rest in
  // held_) as soon as the connection's output gate shuts, so one read full
  // of pings or commands cannot queue more than one answer past the limit.
  void HandleOutcome(Outcome out, size_t from);
  // Handles what was held while reading was stopped, as far as it may.
  void ResumeHeld();
  void ArmKeepAlive();
  void SendOwedGaps();

  io::Connection* conn_;
  const bool compressed_;  // we send compressed frames (see the constructor)
  // Created when bytes arrive and freed again when they leave it at rest,
  // so an idle connection (the common case at scale) holds no parser.
  FrameParserOptions parser_options_;
  std::unique_ptr<FrameParser> parser_;
  // Parsed events not yet handled while the output gate is shut (see
  // HandleOutcome), and where in them to go on; bytes read meanwhile.
  std::unique_ptr<Outcome> held_;
  size_t held_next_ = 0;
  std::string held_input_;
  uint64_t written_at_tick_ = 0;  // the connection's bytes_written at the last ping tick
  const std::shared_ptr<const WsOptions> options_;
  Endpoint* const endpoint_;                     // lives in the same allocation (SessionWith)
  WsStats* const stats_;                         // owned by the front, which outlives its sessions
  std::unique_ptr<session::Outbound> outbound_;  // created on the first delivery
  bool closing_ = false;                         // our close frame is sent
  bool heard_since_ping_ = true;
  bool reads_paused_ = false;  // by the endpoint (reading_paused), not the gate
  uint64_t silent_ms_ = 0;     // time since we last heard anything, in ping ticks
  int64_t expires_at_s_ = 0;
  std::optional<TokenBucket> rate_;  // with WsOptions::max_messages_per_second
  uint32_t refusals_in_a_row_ = 0;
};

// A session and its endpoint in one allocation: an idle connection at scale
// should cost one object, not two.
template <typename E>
class SessionWith final : public WsSession {
 public:
  template <typename... Args>
  SessionWith(io::Connection* conn, FrameParserOptions parser_options,
              std::shared_ptr<const WsOptions> options, WsStats* stats, Args&&... endpoint_args)
      : WsSession(conn, std::move(parser_options), std::move(options), &endpoint_, stats),
        endpoint_(std::forward<Args>(endpoint_args)...) {}

  E& endpoint() { return endpoint_; }

 private:
  E endpoint_;
};

}  // namespace herald::ws
