#include "frontends/ws/ws_session.h"

#include <algorithm>
#include <chrono>

#include "frontends/ws/frame_writer.h"
#include "frontends/ws/ws_stats.h"

namespace herald::ws {

namespace {
int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

namespace {

// How long we wait for the peer's close frame after sending ours.
constexpr uint64_t kCloseHandshakeMs = 5000;

}  // namespace

WsSession::WsSession(io::Connection* conn, FrameParserOptions parser_options,
                     std::shared_ptr<const WsOptions> options, Endpoint* endpoint, WsStats* stats)
    : conn_(conn),
      // Shared compressed frames use a 15-bit window; a client that asked for
      // a smaller server window gets uncompressed frames instead, which
      // permessage-deflate allows for any message (RFC 7692 §6).
      compressed_(parser_options.deflate.has_value() &&
                  parser_options.deflate->server_max_window_bits == 15),
      parser_options_(std::move(parser_options)),
      options_(std::move(options)),
      endpoint_(endpoint),
      stats_(stats),
      outbound_(nullptr) {
  stats_->connections_open.fetch_add(1, std::memory_order_relaxed);
  WsStats::Add(stats_->connections_total);
}

WsSession::~WsSession() = default;

void WsSession::Start(std::string_view leftover) {
  endpoint_->OnOpen(*this);
  ArmKeepAlive();
  if (!leftover.empty()) OnData(leftover);
}

void WsSession::SendShared(SharedBytes frame) {
  if (!open()) return;
  WsStats::Add(stats_->frames_out);
  conn_->Write(std::move(frame));
}

void WsSession::SendOwned(std::string frame) {
  if (!open()) return;
  WsStats::Add(stats_->frames_out);
  conn_->Write(std::move(frame));
}

// Built on the stack for each call: an idle session carries no port.
class WsSession::Port final : public session::OutboundPort {
 public:
  explicit Port(WsSession& s) : s_(s) {}
  // JSON mode renders gaps; raw mode has no way to and ignores them.
  void SendGapNotice(const Gap& gap) override { s_.endpoint_->OnOwedGap(gap); }
  bool CloseSlowConsumer() override {
    if (!s_.open()) return false;
    // The peer is not reading: a close frame would wait behind everything
    // already queued, so cut the connection now.
    WsStats::Add(s_.stats_->slow_consumer_closes);
    s_.closing_ = true;  // no further deliveries, and no second verdict
    s_.conn_->Close(io::CloseReason::kSlowConsumer, io::CloseMode::kImmediate);
    return true;
  }

 private:
  WsSession& s_;
};

session::Outbound& WsSession::outbound() {
  if (!outbound_) {
    outbound_ = std::make_unique<session::Outbound>(endpoint_->broker(), options_->outbound);
  }
  return *outbound_;
}

void WsSession::SendDelivery(uint64_t subscription_id, const Message& m, SharedBytes frame) {
  if (!open()) return;
  Port port(*this);
  if (outbound().Admit(port, subscription_id, m, frame->size(), conn_->backlog_bytes())) {
    SendShared(std::move(frame));
  }
}

// A burst queued in one loop turn is only judged at its flush: over the
// limit of what the kernel refused, it is as behind as one built up slowly.
void WsSession::OnWriteBlocked(size_t backlog) {
  // Most blocked flushes are no cut: no policy object for those.
  if (options_->outbound.policy != SlowConsumerPolicy::kDisconnect ||
      backlog <= options_->outbound.max_bytes) {
    return;
  }
  Port port(*this);
  outbound().Blocked(port, backlog);
}

void WsSession::OnDrained() {
  SendOwedGaps();
  if (open()) endpoint_->OnDrained();
}

size_t WsSession::backlog_bytes() const { return conn_ ? conn_->backlog_bytes() : 0; }

void WsSession::SendOwedGaps() {
  if (!open() || !outbound_ || !outbound_->owes_gaps()) return;
  // The queue has drained: tell the client what it missed.
  Port port(*this);
  outbound_->Drained(port, conn_->backlog_bytes());
}

void WsSession::Close(uint16_t code, std::string_view reason) {
  if (!open()) return;
  // RFC 6455 §5.5: a close payload is at most 125 bytes (2 of them the code).
  if (reason.size() > kMaxControlPayload - 2) reason = reason.substr(0, kMaxControlPayload - 2);
  endpoint_->SendHeld();
  if (!open()) return;
  conn_->Write(BuildCloseFrame(code, reason));
  closing_ = true;
  const bool orderly = code == static_cast<uint16_t>(CloseCode::kNormal) ||
                       code == static_cast<uint16_t>(CloseCode::kGoingAway);
  if (!orderly) {
    // §7.1.7 "Fail the WebSocket Connection": after our close frame there is
    // nothing to wait for; the frame is flushed, then the TCP connection closes.
    conn_->Close(io::CloseReason::kProtocolError);
    return;
  }
  conn_->ArmTimer(kCloseHandshakeMs, io::CloseReason::kProtocolError);
}

void WsSession::OnData(std::string_view data) {
  if (!conn_) return;
  heard_since_ping_ = true;
  if (held_) {
    // Reading stops with the gate; whatever still arrives waits its turn.
    held_input_.append(data);
    return;
  }
  if (!parser_) parser_ = std::make_unique<FrameParser>(parser_options_);
  Outcome out = parser_->Feed(data);
  if (parser_->at_rest()) parser_.reset();
  HandleOutcome(std::move(out), 0);
}

void WsSession::HandleOutcome(Outcome out, size_t from) {
  for (size_t i = from; i < out.events.size(); ++i) {
    HandleEvent(out.events[i]);
    if (!conn_) return;
    const bool paused = endpoint_->reading_paused();
    if (paused && !reads_paused_) {
      reads_paused_ = true;
      conn_->PauseReading();
    }
    if ((conn_->output_gated() || paused) && (i + 1 < out.events.size() || out.error)) {
      held_ = std::make_unique<Outcome>(std::move(out));
      held_next_ = i + 1;
      return;
    }
  }
  if (out.error && open()) {
    WsStats::Add(stats_->protocol_errors);
    if (out.error->code == CloseCode::kMessageTooBig ||
        out.error->code == CloseCode::kPolicyViolation) {
      WsStats::Add(stats_->limit_closes);
    }
    // Echoes of the complete messages that preceded the bad frame first.
    endpoint_->FlushPending();
    // RFC 6455 §7.1.7: having failed the connection we process nothing more
    // from the peer, not even its close reply (the parser stays failed), so
    // Close() flushes our close frame and closes TCP without waiting.
    Close(static_cast<uint16_t>(out.error->code), out.error->what);
  }
}

void WsSession::OnOutputResumed() { ResumeHeld(); }

void WsSession::ReadingReady() {
  if (!conn_) return;
  if (reads_paused_) {
    reads_paused_ = false;
    conn_->ResumeReading();
  }
  ResumeHeld();
}

void WsSession::ResumeHeld() {
  while (held_ && conn_ && !conn_->output_gated() && !endpoint_->reading_paused()) {
    std::unique_ptr<Outcome> out = std::move(held_);
    HandleOutcome(std::move(*out), held_next_);
    if (held_ || !conn_ || held_input_.empty()) return;
    std::string input = std::move(held_input_);
    held_input_.clear();
    OnData(input);
  }
}

bool WsSession::AdmitMessage() {
  if (!rate_) rate_.emplace(options_->max_messages_per_second, options_->message_burst);
  if (rate_->Take(NowMs() * 1000)) {
    refusals_in_a_row_ = 0;
    return true;
  }
  WsStats::Add(stats_->rate_limited);
  if (++refusals_in_a_row_ > options_->message_burst) {
    WsStats::Add(stats_->rate_limit_closes);
    Close(static_cast<uint16_t>(CloseCode::kPolicyViolation), "rate limit exceeded");
    return false;
  }
  endpoint_->OnRateLimited();
  return false;
}

void WsSession::HandleEvent(Event& e) {
  switch (e.type) {
    case EventType::kText:
    case EventType::kBinary:
      if (closing_) return;  // §5.5.1: nothing after our close frame matters
      if (options_->max_messages_per_second > 0 && !AdmitMessage()) return;
      WsStats::Add(stats_->messages_in);
      WsStats::Add(stats_->bytes_in, e.payload.size());
      endpoint_->OnMessage(e.type, std::move(e.payload));
      return;
    case EventType::kPing:
      if (open()) conn_->Write(BuildFrame(Opcode::kPong, e.payload));  // §5.5.3
      return;
    case EventType::kPong:
      return;  // liveness was noted in OnData
    case EventType::kClose:
      if (!closing_) {
        // §5.5.1: we may finish sending before our close frame: deliver
        // what the peer published before its close (its raw-mode echo).
        endpoint_->FlushPending();
        if (!conn_) return;
        // §5.5.1: echo the code (or send none if the peer sent none).
        conn_->Write(e.close_code == static_cast<uint16_t>(CloseCode::kNoStatus)
                         ? BuildEmptyCloseFrame()
                         : BuildCloseFrame(e.close_code));
        closing_ = true;
      }
      // §7.1.1: the server closes the TCP connection first.
      conn_->Close(io::CloseReason::kDone);
      return;
  }
}

void WsSession::ArmKeepAlive() {
  if (!conn_) return;
  auto delay = static_cast<uint64_t>(options_->ping_interval.count());
  if (expires_at_s_ != 0) {
    const int64_t left = expires_at_s_ * 1000 - NowMs();
    delay = std::min<uint64_t>(delay, static_cast<uint64_t>(std::max<int64_t>(left, 0)) + 1);
  }
  conn_->ArmTimer(delay, io::CloseReason::kIdleTimeout);
}

bool WsSession::OnTimer(io::CloseReason reason) {
  if (!conn_) return true;
  if (closing_) {
    conn_->Close(io::CloseReason::kProtocolError, io::CloseMode::kImmediate);  // no close reply
    return true;
  }
  (void)reason;
  if (expires_at_s_ != 0 && NowMs() >= expires_at_s_ * 1000) {
    Close(static_cast<uint16_t>(CloseCode::kTokenExpired), "token expired");
    return true;
  }
  // Not reading while the output gate is shut, we cannot hear the peer; a
  // peer still taking our bytes is alive, one that takes none is not.
  const uint64_t written = conn_->stats().bytes_written;
  if (conn_->output_gated() && written != written_at_tick_) heard_since_ping_ = true;
  written_at_tick_ = written;
  if (!heard_since_ping_) {
    silent_ms_ += static_cast<uint64_t>(options_->ping_interval.count());
    if (silent_ms_ >= static_cast<uint64_t>(options_->idle_timeout.count())) {
      WsStats::Add(stats_->idle_timeouts);
      conn_->Close(io::CloseReason::kIdleTimeout, io::CloseMode::kImmediate);
      return true;
    }
  } else {
    silent_ms_ = 0;
  }
  heard_since_ping_ = false;
  conn_->Write(BuildFrame(Opcode::kPing, {}));
  ArmKeepAlive();
  return true;
}

bool WsSession::OnDrain() {
  Close(static_cast<uint16_t>(CloseCode::kGoingAway), "server shutting down");
  return true;
}

void WsSession::OnClose(io::CloseReason) {
  conn_ = nullptr;
  held_.reset();
  held_input_.clear();
  stats_->connections_open.fetch_sub(1, std::memory_order_relaxed);
  endpoint_->OnClose();
}

}  // namespace herald::ws
