// frontends/http/http_session.h — one HTTP/1.1 connection (internal).
//
// Parses requests off an io::Connection, dispatches them to the router and
// writes the responses back strictly in request order (RFC 9112 §9.3.2),
// however late each is produced. Each parsed request gets an Exchange slot;
// the front slot's bytes go to the socket, later slots buffer until they are
// in front.
//
// Timers: one per connection (io::Connection::ArmTimer). The header timeout
// runs from the first byte of each request until its head is complete; the
// idle timeout runs while no request is in progress or a body is trickling
// in; while the server owes a response there is no timer.
//
// Lifetime: owned by the io::Connection (as its handler) until OnClose() or
// until an upgrade hands the connection to another handler; Response handles
// hold weak references. Loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <variant>
#include <vector>

#include "base/live.h"
#include "base/token_bucket.h"
#include "frontends/http/http_options.h"
#include "frontends/http/http_parser.h"
#include "frontends/http/request.h"
#include "frontends/http/response.h"
#include "frontends/http/router.h"
#include "io/connection.h"

namespace herald::http {

class HttpSession;

// What the sessions of one server share; kept alive by every session, so a
// session closing after its server is gone is harmless.
struct SessionContext {
  // Replaced by a reload (HttpServer::SetLimits); each session takes the
  // current one when its connection is accepted and keeps it.
  Live<HttpOptions> options{HttpOptions{}};
  std::shared_ptr<const Router> router;
  std::shared_ptr<HttpStats> stats;
  // Live sessions of each worker; entry i touched only on worker i's thread.
  std::vector<std::unordered_set<HttpSession*>> sessions;
};

class HttpSession final : public io::ConnectionHandler,
                          public HttpParser::Events,
                          public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(io::Connection* conn, std::shared_ptr<SessionContext> ctx, size_t worker);
  ~HttpSession() override;

  // A slot in its address's count of connections that have not yet sent a
  // whole request head (HttpOptions::max_pending_heads_per_ip), given back
  // with the first head.
  void HoldPendingSlot(std::shared_ptr<void> slot) { pending_slot_ = std::move(slot); }

  // Registers with the context and starts reading (call once, after
  // Connection::SetHandler).
  void Start();
  // Server stop: finish the responses owed, answer nothing new, then close.
  void BeginShutdown();
  static int64_t SteadyMs();
  // The request rate limit: false when the request was answered 429.
  bool AdmitRequest(uint64_t seq);
  // io::ConnectionHandler: a drain ends this connection like a shutdown.
  bool OnDrain() override {
    BeginShutdown();
    return true;
  }
  void ForceClose();
  // Still owes the client bytes (a response not produced or not flushed).
  bool Owes() const;

  // --- Used by Response (by sequence number of the request). ---
  bool IsPending(uint64_t seq) const;
  bool Respond(uint64_t seq, int status, std::string_view content_type, HeaderList headers,
               std::variant<std::string, io::SharedBuffer> body);
  bool StartStream(uint64_t seq, int status, std::string_view content_type, HeaderList headers);
  bool StreamWrite(uint64_t seq, std::variant<std::string, io::SharedBuffer> chunk);
  void StreamEnd(uint64_t seq);
  bool WatchStream(uint64_t seq, std::shared_ptr<StreamWatcher> watcher);
  void AbortStream(uint64_t seq, io::CloseReason reason);
  // The handler dropped its last Response copy without finishing.
  void Abandon(uint64_t seq);
  // What the client is owed: the connection's queue, and what later
  // pipelined responses produced while waiting for their turn.
  size_t queued_bytes() const { return conn_ != nullptr ? conn_->queued_bytes() + held_bytes_ : 0; }
  size_t backlog_bytes() const {
    return conn_ != nullptr ? conn_->backlog_bytes() + held_bytes_ : 0;
  }
  std::optional<Response::Upgraded> TakeOver(uint64_t seq,
                                             std::shared_ptr<io::ConnectionHandler> handler);

  // io::ConnectionHandler
  void OnData(std::string_view data) override;
  bool OnPeerEof() override;
  bool OnTimer(io::CloseReason reason) override;
  void OnDrained() override;
  void OnWriteBlocked(size_t backlog) override;
  void OnOutputResumed() override;
  void OnClose(io::CloseReason reason) override;

  // HttpParser::Events
  void OnMessageBegin() override;
  void OnHead(RequestHead head) override;
  void OnBody(std::string_view chunk) override;
  bool OnMessageComplete() override;

 private:
  using Piece = std::variant<std::string, io::SharedBuffer>;
  struct Exchange {
    uint64_t seq = 0;
    bool head_request = false;  // HEAD: head only, never a body
    bool keep_alive = true;     // the request allows reuse
    int version_minor = 1;
    bool started = false;  // head produced
    bool streaming = false;
    bool chunked = false;
    bool done = false;                       // every byte produced
    bool close_after = false;                // close the connection once sent
    std::string cors_origin;                 // echoed in Access-Control-Allow-Origin when set
    std::shared_ptr<StreamWatcher> watcher;  // told when the stream is over
    io::CloseReason close_reason = io::CloseReason::kDone;
    std::vector<Piece> out;  // produced, not yet handed to the connection
  };
  enum class TimerState { kNone, kHeader, kIdle };
  // The request's Origin if CORS allows it (see HttpOptions::cors_origins).
  std::string AllowedOrigin(const Request& req) const;
  void AddCorsHeaders(const Exchange& e, HeaderList& headers) const;
  void Preflight(uint64_t seq, const Request& req, const std::string& origin);

  // Input side (http_session.cc).
  void Parse(std::string_view data);
  void ResumeParsing();
  void Dispatch(uint64_t seq, Request req);
  void DispatchHeldUpgrade();
  void RejectRequest(RejectReason reason, int status, std::string_view code,
                     std::string_view message);
  void UpdateTimer();
  void Unregister();
  // Owes more output than HttpOptions::max_output_backlog_bytes: parse and
  // dispatch nothing more until it has drained (io::OutputGate).
  bool OverBacklog() const;

  // Output side (http_session_output.cc).
  Exchange* Find(uint64_t seq);
  const Exchange* Find(uint64_t seq) const;
  bool CloseAfter(const Exchange& e) const;
  // Adds produced bytes to an exchange's buffer (counted in held_bytes_).
  void Hold(Exchange& e, Piece piece);
  bool RefuseUnsafeHead(uint64_t seq);
  void Pump();
  void PumpExchanges();
  // Tells the watchers of finished streams (after the state they may look at
  // is consistent again).
  void NotifyClosedStreams();

  io::Connection* conn_;  // null once closed or handed over
  std::shared_ptr<SessionContext> ctx_;
  // ctx_'s when the current request began (a reload reaches a kept-alive
  // connection at its next request), and its version, read before it.
  uint64_t options_version_ = 0;
  std::shared_ptr<const HttpOptions> options_;
  const size_t worker_;
  HttpParser parser_;
  std::deque<Exchange> exchanges_;                              // in request order
  std::vector<std::shared_ptr<StreamWatcher>> closed_streams_;  // to notify
  uint64_t next_seq_ = 1;
  size_t held_bytes_ = 0;  // in the exchanges' `out` buffers

  Request current_;              // being parsed
  std::string pending_input_;    // read but not parsed (paused)
  std::optional<Request> held_;  // upgrade request, dispatched once in front
  uint64_t held_seq_ = 0;
  std::string upgrade_leftover_;
  bool registered_ = false;
  bool in_parse_ = false;
  bool paused_ = false;            // too many requests in flight
  bool upgrade_waiting_ = false;   // parser stopped at an upgrade
  bool no_more_requests_ = false;  // Connection: close, error, EOF or shutdown
  bool draining_ = false;
  bool peer_eof_ = false;
  TimerState timer_ = TimerState::kNone;
  std::shared_ptr<void> pending_slot_;
  int64_t body_deadline_ms_ = 0;  // the current request's body is due by then
  uint64_t idle_written_ = 0;     // the connection's bytes_written when the idle timer was armed
  // HttpOptions::max_requests_per_second (loop thread only).
  std::optional<TokenBucket> rate_;
  uint32_t refusals_in_a_row_ = 0;
};

}  // namespace herald::http
