// HttpSession, input side: parsing, dispatch, timers, rejects.
#include "frontends/http/http_session.h"

#include <algorithm>
#include <chrono>

#include "frontends/http/response_format.h"
#include "frontends/http/url.h"

namespace herald::http {

HttpSession::HttpSession(io::Connection* conn, std::shared_ptr<SessionContext> ctx, size_t worker)
    : conn_(conn),
      ctx_(std::move(ctx)),
      options_version_(ctx_->options.version()),
      options_(ctx_->options.Get()),
      worker_(worker),
      parser_({options_->max_header_bytes, options_->max_body_bytes}, this) {}

HttpSession::~HttpSession() = default;

void HttpSession::Start() {
  ctx_->sessions[worker_].insert(this);
  registered_ = true;
  UpdateTimer();
}

void HttpSession::Unregister() {
  if (!registered_) return;
  registered_ = false;
  ctx_->sessions[worker_].erase(this);
  // connections_open is not given back here: the connection holds its slot
  // for its whole life, upgraded or not (HttpServer::OnAccept).
}

void HttpSession::BeginShutdown() {
  draining_ = true;
  no_more_requests_ = true;
  pending_input_.clear();
  if (conn_ == nullptr) return;
  conn_->PauseReading();
  // An endless stream (SSE) would hold the shutdown for the whole grace
  // period; end it now, stream clients reconnect anyway — after their
  // watchers' last words (collected first: they write into exchanges_).
  std::vector<std::shared_ptr<StreamWatcher>> watchers;
  for (const Exchange& e : exchanges_) {
    if (e.streaming && !e.done && e.watcher) watchers.push_back(e.watcher);
  }
  for (const auto& w : watchers) w->OnStreamDrain();
  for (const Exchange& e : exchanges_) {
    if (e.streaming && !e.done) StreamEnd(e.seq);
  }
  Pump();
  if (conn_ != nullptr && exchanges_.empty() && !held_) {
    conn_->Close(io::CloseReason::kServerShutdown);
  }
}

void HttpSession::ForceClose() {
  if (conn_ != nullptr) conn_->Close(io::CloseReason::kServerShutdown, io::CloseMode::kImmediate);
}

bool HttpSession::Owes() const {
  if (conn_ == nullptr) return false;
  return !exchanges_.empty() || held_.has_value() || conn_->queued_bytes() > 0;
}

void HttpSession::OnData(std::string_view data) {
  if (conn_ == nullptr || no_more_requests_) return;
  if (paused_ || upgrade_waiting_ || in_parse_) {
    pending_input_.append(data);
    return;
  }
  Parse(data);
}

void HttpSession::Parse(std::string_view data) {
  in_parse_ = true;
  const HttpParser::FeedResult r = parser_.Feed(data);
  in_parse_ = false;
  switch (r.outcome) {
    case HttpParser::Outcome::kNeedMore:
      break;
    case HttpParser::Outcome::kPaused:
      // Too many requests in flight, too much output owed (or the last one
      // said close): keep the rest for later and stop reading, which pushes
      // back on the client.
      if (!no_more_requests_ && conn_ != nullptr) {
        pending_input_.assign(data.substr(r.consumed));
        paused_ = true;
        conn_->PauseReading();
        // Counted by why (a gated connection's own gate counted itself).
        if (exchanges_.size() >= options_->max_pipelined_requests) {
          ctx_->stats->pipeline_pauses.fetch_add(1, std::memory_order_relaxed);
        } else if (!conn_->output_gated() && OverBacklog()) {
          ctx_->stats->held_output_pauses.fetch_add(1, std::memory_order_relaxed);
        }
      }
      break;
    case HttpParser::Outcome::kUpgrade:
      // What follows the head belongs to the new protocol (RFC 9110 §7.8).
      upgrade_leftover_.assign(data.substr(r.consumed));
      upgrade_waiting_ = true;
      if (conn_ != nullptr) conn_->PauseReading();
      break;
    case HttpParser::Outcome::kError: {
      RejectReason reason = RejectReason::kBadRequest;
      if (parser_.error() == HttpParser::Error::kHeaderTooLarge)
        reason = RejectReason::kHeaderTooLarge;
      if (parser_.error() == HttpParser::Error::kBodyTooLarge) reason = RejectReason::kBodyTooLarge;
      RejectRequest(reason, parser_.error_status(), parser_.error_code(), parser_.error_message());
      return;
    }
  }
  DispatchHeldUpgrade();
  ResumeParsing();
  UpdateTimer();
}

void HttpSession::ResumeParsing() {
  if (conn_ == nullptr || in_parse_ || no_more_requests_) return;
  if (upgrade_waiting_) {
    // The upgrade was answered with a plain response: the client goes on
    // speaking HTTP/1.1 on this connection.
    if (held_ || !exchanges_.empty()) return;
    upgrade_waiting_ = false;
    parser_.ResumeAfterUpgrade();
    pending_input_ = std::move(upgrade_leftover_);
    upgrade_leftover_.clear();
  } else if (paused_) {
    if (exchanges_.size() >= options_->max_pipelined_requests || OverBacklog()) return;
    paused_ = false;
    parser_.Resume();
  } else {
    return;
  }
  conn_->ResumeReading();
  std::string input = std::move(pending_input_);
  pending_input_.clear();
  Parse(input);
}

void HttpSession::OnMessageBegin() {
  // A reload since the last request: this one and the next get its limits
  // and CORS origins (a rate limit starts a new bucket).
  if (const uint64_t v = ctx_->options.version(); v != options_version_) {
    options_version_ = v;
    options_ = ctx_->options.Get();
    parser_.set_limits({options_->max_header_bytes, options_->max_body_bytes});
    rate_.reset();
    refusals_in_a_row_ = 0;
  }
  // Slow-loris guard: the deadline counts from the first byte of each head.
  if (conn_ == nullptr) return;
  conn_->ArmTimer(static_cast<uint64_t>(options_->header_timeout.count()),
                  io::CloseReason::kHeaderTimeout);
  timer_ = TimerState::kHeader;
}

int64_t HttpSession::SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void HttpSession::OnHead(RequestHead head) {
  body_deadline_ms_ = SteadyMs() + options_->body_timeout.count();
  pending_slot_.reset();  // no longer a handshake in progress
  current_ = Request{};
  current_.method = std::move(head.method);
  current_.target = std::move(head.target);
  current_.headers = std::move(head.headers);
  current_.version_minor = head.version_minor;
  current_.keep_alive = head.keep_alive;
  current_.upgrade = head.upgrade;
  current_.loop = conn_ != nullptr ? &conn_->loop() : nullptr;
  if (head.content_length) current_.body.reserve(static_cast<size_t>(*head.content_length));
  // RFC 9110 §10.1.1: a client may wait for "100 Continue" before sending
  // the body. Sent only when no earlier response is owed, so the interim
  // response cannot overtake one (otherwise the client's wait just expires).
  const auto expect = current_.headers.Get("Expect");
  if (expect && HasToken(*expect, "100-continue") && head.version_minor >= 1 &&
      exchanges_.empty() && conn_ != nullptr) {
    conn_->Write(std::string("HTTP/1.1 100 Continue\r\n\r\n"));
  }
}

void HttpSession::OnBody(std::string_view chunk) { current_.body.append(chunk); }

bool HttpSession::OnMessageComplete() {
  ctx_->stats->requests_total.fetch_add(1, std::memory_order_relaxed);
  Exchange e;
  e.seq = next_seq_++;
  e.head_request = current_.method == "HEAD";
  e.keep_alive = current_.keep_alive;
  e.version_minor = current_.version_minor;
  // RFC 9112 §9.6: after a request with "close", read no further requests.
  if (!current_.keep_alive) no_more_requests_ = true;
  exchanges_.push_back(std::move(e));
  Request req = std::move(current_);
  current_ = Request{};
  if (req.upgrade) {
    // Dispatched once the parser has returned (so the leftover bytes are
    // known) and every earlier response is out (so TakeOver can work).
    held_ = std::move(req);
    held_seq_ = exchanges_.back().seq;
    return true;
  }
  Dispatch(exchanges_.back().seq, std::move(req));
  // Checked after every request, not every read: one read of small
  // pipelined requests can ask for a great deal of output.
  return !no_more_requests_ && exchanges_.size() < options_->max_pipelined_requests &&
         !OverBacklog();
}

bool HttpSession::OverBacklog() const {
  if (conn_ == nullptr) return false;
  const size_t limit = options_->max_output_backlog_bytes;
  return conn_->output_gated() || (limit != 0 && held_bytes_ > limit);
}

void HttpSession::DispatchHeldUpgrade() {
  if (in_parse_ || !held_ || exchanges_.empty() || exchanges_.front().seq != held_seq_) return;
  Request req = std::move(*held_);
  held_.reset();
  // llhttp did not stop at this request (e.g. it had a body): plain HTTP.
  if (!upgrade_waiting_) req.upgrade = false;
  Dispatch(held_seq_, std::move(req));
}

std::string HttpSession::AllowedOrigin(const Request& req) const {
  const auto origin = req.header("Origin");
  if (!origin) return {};
  for (const std::string& allowed : options_->cors_origins) {
    if (allowed == "*" || allowed == *origin) return std::string(*origin);
  }
  return {};
}

void HttpSession::AddCorsHeaders(const Exchange& e, HeaderList& headers) const {
  if (e.cors_origin.empty()) return;
  headers.Add("Access-Control-Allow-Origin", e.cors_origin);
  headers.Add("Vary", "Origin");
}

// A CORS preflight (Fetch standard §3.2.2): the browser asks whether a
// cross-origin request may be sent. Only allowed origins get a yes, and only
// for the methods the path really has; disallowed origins get 403.
void HttpSession::Preflight(uint64_t seq, const Request& req, const std::string& origin) {
  if (origin.empty()) {
    Respond(seq, 403, kApplicationJson, {},
            ErrorJson("forbidden_origin", "origin not allowed by the CORS configuration"));
    return;
  }
  const Router::Match m = ctx_->router->Find("OPTIONS", req.path);
  if (m.status == 404) {
    Respond(seq, 404, kApplicationJson, {}, ErrorJson("not_found", "no route for " + req.path));
    return;
  }
  HeaderList headers;
  headers.Add("Access-Control-Allow-Methods", m.status == 405 ? m.allow : "OPTIONS");
  if (auto requested = req.header("Access-Control-Request-Headers")) {
    headers.Add("Access-Control-Allow-Headers", std::string(*requested));
  }
  headers.Add("Access-Control-Max-Age", "600");
  Respond(seq, 204, kApplicationJson, std::move(headers), std::string());
}

bool HttpSession::AdmitRequest(uint64_t seq) {
  if (!rate_) rate_.emplace(options_->max_requests_per_second, options_->request_burst);
  if (rate_->Take(SteadyMs() * 1000)) {
    refusals_in_a_row_ = 0;
    return true;
  }
  ctx_->stats->CountReject(RejectReason::kRateLimited);
  if (++refusals_in_a_row_ > options_->request_burst) {
    // Still going after `burst` refusals in a row: this answer is the last.
    no_more_requests_ = true;
    if (Exchange* e = Find(seq)) e->close_after = true;
  }
  Respond(seq, 429, kApplicationJson, {{"Retry-After", "1"}},
          ErrorJson("rate_limited", "too many requests per second on this connection"));
  return false;
}

void HttpSession::Dispatch(uint64_t seq, Request req) {
  if (options_->max_requests_per_second > 0 && !AdmitRequest(seq)) return;
  if (req.target.size() > options_->max_target_bytes) {
    ctx_->stats->CountReject(RejectReason::kBadRequest);
    Respond(seq, 414, kApplicationJson, {},
            ErrorJson("uri_too_long", "request-target is " + std::to_string(req.target.size()) +
                                          " bytes, over the limit of " +
                                          std::to_string(options_->max_target_bytes)));
    return;
  }
  const std::optional<Target> target = SplitTarget(req.target);
  if (!target) {
    ctx_->stats->CountReject(RejectReason::kBadRequest);
    Respond(seq, 400, kApplicationJson, {},
            ErrorJson("bad_request", "invalid request-target \"" + req.target + "\""));
    return;
  }
  req.path = std::string(target->path);
  req.raw_query = std::string(target->query);
  Result<QueryParams> query = ParseQuery(req.raw_query);
  if (!query.ok()) {
    ctx_->stats->CountReject(RejectReason::kBadRequest);
    Respond(seq, 400, kApplicationJson, {}, ErrorJson("bad_query", query.status().message()));
    return;
  }
  req.query = std::move(*query);
  std::string origin = AllowedOrigin(req);
  if (Exchange* e = Find(seq)) e->cors_origin = origin;
  if (req.method == "OPTIONS" && !options_->cors_origins.empty() &&
      req.header("Access-Control-Request-Method")) {
    return Preflight(seq, req, origin);
  }
  const Router::Match m = ctx_->router->Find(req.method, req.path);
  if (m.status == 404) {
    Respond(seq, 404, kApplicationJson, {}, ErrorJson("not_found", "no route for " + req.path));
    return;
  }
  if (m.status == 405) {
    Respond(seq, 405, kApplicationJson, {{"Allow", m.allow}},
            ErrorJson("method_not_allowed", req.method + " not allowed on " + req.path));
    return;
  }
  if (m.prefix_length > 0) req.path_rest = req.path.substr(m.prefix_length);
  (*m.handler)(req, Response(std::make_shared<Response::State>(weak_from_this(), seq)));
}

void HttpSession::RejectRequest(RejectReason reason, int status, std::string_view code,
                                std::string_view message) {
  ctx_->stats->CountReject(reason);
  no_more_requests_ = true;
  pending_input_.clear();
  if (conn_ == nullptr) return;
  conn_->PauseReading();
  Exchange e;
  e.seq = next_seq_++;
  e.keep_alive = false;
  e.started = true;
  e.done = true;
  e.close_after = true;
  e.close_reason = reason == RejectReason::kHeaderTimeout ? io::CloseReason::kHeaderTimeout
                   : reason == RejectReason::kIdleTimeout ? io::CloseReason::kIdleTimeout
                                                          : io::CloseReason::kProtocolError;
  std::string body = ErrorJson(code, message);
  Hold(e, FormatHead({.status = status,
                      .content_type = kApplicationJson,
                      .content_length = body.size(),
                      .close = true},
                     {}));
  Hold(e, std::move(body));
  ctx_->stats->CountResponse(status);
  exchanges_.push_back(std::move(e));
  Pump();
}

bool HttpSession::OnTimer(io::CloseReason reason) {
  timer_ = TimerState::kNone;
  if (reason == io::CloseReason::kHeaderTimeout) {
    RejectRequest(RejectReason::kHeaderTimeout, 408, "header_timeout",
                  "request head not received within " +
                      std::to_string(options_->header_timeout.count()) + " ms");
    return true;
  }
  if (!parser_.in_message() && conn_ != nullptr && conn_->queued_bytes() > 0 &&
      conn_->stats().bytes_written != idle_written_) {
    // Not idle: the client is still taking what we owe it (reading is
    // paused meanwhile, so it could not send more). One that takes nothing
    // for the whole timeout is cut below.
    UpdateTimer();
    return true;
  }
  if (parser_.in_message()) {
    const bool late = body_deadline_ms_ != 0 && SteadyMs() >= body_deadline_ms_;
    RejectRequest(RejectReason::kIdleTimeout, 408, late ? "body_timeout" : "idle_timeout",
                  late ? "request body not received within " +
                             std::to_string(options_->body_timeout.count()) + " ms"
                       : std::string("request body stalled"));
    return true;
  }
  ctx_->stats->CountReject(RejectReason::kIdleTimeout);
  return false;  // the connection closes itself with kIdleTimeout
}

void HttpSession::UpdateTimer() {
  if (conn_ == nullptr || conn_->closing()) return;
  if (parser_.in_head()) return;  // the header deadline is already running
  const bool waiting_for_client = parser_.in_message() || (exchanges_.empty() && !held_);
  if (waiting_for_client && !no_more_requests_) {
    // Re-armed on every event: a trickling body must keep making progress,
    // and finish by its deadline however it trickles.
    auto delay = static_cast<uint64_t>(options_->idle_timeout.count());
    if (parser_.in_message() && body_deadline_ms_ != 0) {
      const int64_t left = body_deadline_ms_ - SteadyMs();
      delay = std::min<uint64_t>(delay, static_cast<uint64_t>(std::max<int64_t>(left, 0)) + 1);
    }
    conn_->ArmTimer(delay, io::CloseReason::kIdleTimeout);
    timer_ = TimerState::kIdle;
    idle_written_ = conn_->stats().bytes_written;
  } else if (timer_ != TimerState::kNone) {
    conn_->DisarmTimer();  // the server owes a response: not the client's fault
    timer_ = TimerState::kNone;
  }
}

bool HttpSession::OnPeerEof() {
  peer_eof_ = true;
  no_more_requests_ = true;
  // An endless stream (SSE) in front never finishes: a client that hangs up
  // on it is gone, and the stream's resources are released now.
  if (!exchanges_.empty() && exchanges_.front().streaming && !exchanges_.front().done) {
    return false;
  }
  // Half-closed after sending its requests: still answer them (Pump closes).
  return !exchanges_.empty() || held_.has_value();
}

void HttpSession::OnClose(io::CloseReason) {
  conn_ = nullptr;
  Unregister();
  for (Exchange& e : exchanges_) {
    if (e.watcher) closed_streams_.push_back(std::move(e.watcher));
  }
  exchanges_.clear();
  held_bytes_ = 0;
  held_.reset();
  NotifyClosedStreams();
}

}  // namespace herald::http
