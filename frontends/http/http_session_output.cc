// HttpSession, output side: response slots, in-order flushing, streams,
// upgrades.
#include <array>
#include <cstdio>

#include "frontends/http/http_session.h"
#include "frontends/http/response_format.h"

namespace herald::http {
namespace {

// The CR LF after every chunk of a chunked body: one buffer for all.
const io::SharedBuffer& Crlf() {
  static const io::SharedBuffer kCrlf = io::MakeShared("\r\n");
  return kCrlf;
}

// The "<hex size>\r\n" line before a chunk. A fan-out writes the same chunk
// to many streams, so the line is shared too: a small per-thread table keyed
// by size saves an allocation per stream per event.
const io::SharedBuffer& ChunkSizeLine(size_t n) {
  struct Slot {
    size_t size = 0;
    io::SharedBuffer line;
  };
  thread_local std::array<Slot, 64> table;
  Slot& slot = table[n % table.size()];
  if (!slot.line || slot.size != n) {
    char text[24];
    std::snprintf(text, sizeof(text), "%zx\r\n", n);
    slot.size = n;
    slot.line = io::MakeShared(text);
  }
  return slot.line;
}

size_t PieceSize(const std::variant<std::string, io::SharedBuffer>& p) {
  if (const auto* s = std::get_if<std::string>(&p)) return s->size();
  const auto& b = std::get<io::SharedBuffer>(p);
  return b ? b->size() : 0;
}

}  // namespace

HttpSession::Exchange* HttpSession::Find(uint64_t seq) {
  if (exchanges_.empty() || seq < exchanges_.front().seq) return nullptr;
  const uint64_t i = seq - exchanges_.front().seq;
  return i < exchanges_.size() ? &exchanges_[i] : nullptr;
}

const HttpSession::Exchange* HttpSession::Find(uint64_t seq) const {
  return const_cast<HttpSession*>(this)->Find(seq);
}

bool HttpSession::IsPending(uint64_t seq) const {
  const Exchange* e = Find(seq);
  return conn_ != nullptr && e != nullptr && !e->done;
}

bool HttpSession::CloseAfter(const Exchange& e) const {
  // While draining no new request is read, so the last slot is the last
  // response this connection will carry: announce the close on it.
  return !e.keep_alive || (draining_ && &e == &exchanges_.back());
}

void HttpSession::Hold(Exchange& e, Piece piece) {
  held_bytes_ += PieceSize(piece);
  e.out.push_back(std::move(piece));
}

// A head with a control byte in a value or a bad name could end a header line
// early and start another (response splitting): a 500 goes out instead, and
// the call reports that what was asked for was not sent.
bool HttpSession::RefuseUnsafeHead(uint64_t seq) {
  (void)Respond(seq, 500, "application/json", {},
                ErrorJson("internal", "the response carried an invalid header field"));
  return false;
}

bool HttpSession::Respond(uint64_t seq, int status, std::string_view content_type,
                          HeaderList headers, std::variant<std::string, io::SharedBuffer> body) {
  Exchange* e = Find(seq);
  if (conn_ == nullptr || e == nullptr || e->started) return false;
  if (!HeadIsSafe(content_type, headers)) return RefuseUnsafeHead(seq);
  e->started = true;
  e->done = true;
  e->close_after = e->close_after || CloseAfter(*e);  // a refusal may have decided it already
  const bool has_body = StatusHasBody(status);
  const size_t length = PieceSize(body);
  HeadSpec spec;
  spec.status = status;
  if (has_body) {
    spec.content_type = content_type;
    // Also for HEAD: the length the GET would have had (RFC 9110 §9.3.2).
    spec.content_length = length;
  }
  spec.close = e->close_after;
  spec.keep_alive_header = e->version_minor == 0 && !e->close_after;
  AddCorsHeaders(*e, headers);
  Hold(*e, FormatHead(spec, headers));
  if (has_body && !e->head_request && length > 0) Hold(*e, std::move(body));
  ctx_->stats->CountResponse(status);
  Pump();
  return true;
}

bool HttpSession::StartStream(uint64_t seq, int status, std::string_view content_type,
                              HeaderList headers) {
  Exchange* e = Find(seq);
  if (conn_ == nullptr || e == nullptr || e->started) return false;
  if (!HeadIsSafe(content_type, headers)) return RefuseUnsafeHead(seq);
  e->started = true;
  e->streaming = true;
  // HTTP/1.1 frames the stream with chunked coding; an HTTP/1.0 client only
  // knows a body delimited by the close (RFC 9112 §6.3, last rule).
  e->chunked = e->version_minor >= 1;
  e->close_after = CloseAfter(*e) || !e->chunked;
  HeadSpec spec;
  spec.status = status;
  spec.content_type = content_type;
  spec.chunked = e->chunked && !e->head_request;
  spec.close = e->close_after;
  spec.keep_alive_header = e->version_minor == 0 && !e->close_after;
  AddCorsHeaders(*e, headers);
  Hold(*e, FormatHead(spec, headers));
  if (e->head_request) e->done = true;
  ctx_->stats->CountResponse(status);
  Pump();
  return true;
}

bool HttpSession::StreamWrite(uint64_t seq, std::variant<std::string, io::SharedBuffer> chunk) {
  Exchange* e = Find(seq);
  if (conn_ == nullptr || e == nullptr || !e->streaming) return false;
  if (e->done) return e->head_request;  // HEAD: the body is silently dropped
  const size_t n = PieceSize(chunk);
  if (n == 0) return true;  // an empty chunk would end a chunked body
  if (e->chunked) {
    Hold(*e, ChunkSizeLine(n));
    Hold(*e, std::move(chunk));  // by reference when shared
    Hold(*e, Crlf());
  } else {
    Hold(*e, std::move(chunk));
  }
  Pump();
  return true;
}

void HttpSession::StreamEnd(uint64_t seq) {
  Exchange* e = Find(seq);
  if (conn_ == nullptr || e == nullptr || !e->streaming || e->done) return;
  if (e->chunked) Hold(*e, std::string("0\r\n\r\n"));  // last-chunk, no trailers
  e->done = true;
  Pump();
}

bool HttpSession::WatchStream(uint64_t seq, std::shared_ptr<StreamWatcher> watcher) {
  Exchange* e = Find(seq);
  if (conn_ == nullptr || e == nullptr || !e->streaming || e->done) return false;
  e->watcher = std::move(watcher);
  return true;
}

void HttpSession::AbortStream(uint64_t seq, io::CloseReason reason) {
  Exchange* e = Find(seq);
  if (conn_ == nullptr || e == nullptr || !e->streaming) return;
  // Graceful: the events already queued still reach the client (bounded by
  // the linger time), so it resumes after the last of them. OnClose() tells
  // the watchers.
  conn_->Close(reason);
}

void HttpSession::OnDrained() {
  if (exchanges_.empty()) return;
  // Only the front exchange writes to the socket; later ones are buffered.
  if (std::shared_ptr<StreamWatcher> w = exchanges_.front().watcher) w->OnStreamDrained();
}

void HttpSession::OnWriteBlocked(size_t backlog) {
  if (exchanges_.empty()) return;
  if (std::shared_ptr<StreamWatcher> w = exchanges_.front().watcher) w->OnStreamBlocked(backlog);
}

// The connection's queue drained below the gate's low-water mark: go on
// with the requests held back for it.
void HttpSession::OnOutputResumed() {
  ResumeParsing();
  UpdateTimer();
}

void HttpSession::Abandon(uint64_t seq) {
  Exchange* e = Find(seq);
  if (conn_ == nullptr || e == nullptr || e->done) return;
  if (e->streaming) {
    StreamEnd(seq);
  } else if (!e->started) {
    Respond(seq, 500, kApplicationJson, {},
            ErrorJson("internal", "the handler finished without responding"));
  }
}

std::optional<Response::Upgraded> HttpSession::TakeOver(
    uint64_t seq, std::shared_ptr<io::ConnectionHandler> handler) {
  if (conn_ == nullptr || !upgrade_waiting_ || exchanges_.empty()) return std::nullopt;
  if (exchanges_.front().seq != seq || exchanges_.front().started) return std::nullopt;
  exchanges_.pop_front();
  io::Connection* conn = conn_;
  conn_ = nullptr;  // HTTP is done with this connection
  conn->DisarmTimer();
  Unregister();
  ctx_->stats->upgrades_total.fetch_add(1, std::memory_order_relaxed);
  Response::Upgraded up{conn, std::move(upgrade_leftover_)};
  upgrade_leftover_.clear();
  // Drops the connection's reference to this session; the caller's Response
  // keeps it alive until TakeOver returns.
  conn->SetHandler(std::move(handler));
  conn->ResumeReading();
  return up;
}

void HttpSession::Pump() {
  PumpExchanges();
  NotifyClosedStreams();
}

void HttpSession::NotifyClosedStreams() {
  // A watcher may write to other streams or end its own: take the list first.
  while (!closed_streams_.empty()) {
    std::vector<std::shared_ptr<StreamWatcher>> closed;
    closed.swap(closed_streams_);
    for (auto& w : closed) w->OnStreamClosed();
  }
}

void HttpSession::PumpExchanges() {
  if (conn_ == nullptr) return;
  while (!exchanges_.empty()) {
    Exchange& e = exchanges_.front();
    for (Piece& p : e.out) {
      held_bytes_ -= PieceSize(p);
      std::visit([this](auto& bytes) { conn_->Write(std::move(bytes)); }, p);
    }
    e.out.clear();
    if (!e.done) break;  // later responses wait for this one
    const bool close = e.close_after;
    const io::CloseReason reason = e.close_reason;
    if (e.watcher) closed_streams_.push_back(std::move(e.watcher));
    exchanges_.pop_front();
    if (close) {
      no_more_requests_ = true;
      for (Exchange& rest : exchanges_) {
        if (rest.watcher) closed_streams_.push_back(std::move(rest.watcher));
      }
      exchanges_.clear();
      held_bytes_ = 0;
      held_.reset();
      conn_->Close(reason);  // graceful: what was written goes out first
      return;
    }
  }
  if (exchanges_.empty() && !held_ && (draining_ || peer_eof_)) {
    conn_->Close(draining_ ? io::CloseReason::kServerShutdown : io::CloseReason::kPeerClosed);
    return;
  }
  DispatchHeldUpgrade();
  ResumeParsing();
  UpdateTimer();
}

}  // namespace herald::http
