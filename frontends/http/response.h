// frontends/http/response.h — how a route handler answers.
//
// A Response is a small copyable handle to one request's slot in its
// connection's pipeline. Answer now, or keep a copy and answer later from the
// loop thread (after a broker reply, a timer…); responses still leave in
// request order, so an early request answered late holds back later ones.
//
//   // now
//   res.Send(200, "hello\n");
//   // later, from another thread
//   io::Loop* loop = req.loop;
//   other_thread([loop, res] { loop->Post([res]() mutable { res.Send(200, "done"); }); });
//   // streamed (chunked on HTTP/1.1, close-delimited on HTTP/1.0)
//   res.StartStream(200, "text/event-stream");
//   res.Write(shared_event);   // by reference: one buffer, many streams
//   res.Watch(stream);         // told when the client goes away
//   if (res.queued_bytes() > kLimit) res.End();
//   // upgraded (WebSocket): take the raw connection and the bytes after the head
//   if (auto up = res.TakeOver(ws_session)) { up->connection->Write(handshake); ... }
//
// If the connection died meanwhile, every call is a harmless no-op (the
// handle holds a weak reference). If the last copy of an unanswered handle is
// dropped, the client gets a 500 rather than a hung pipeline. All calls:
// loop thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "frontends/http/headers.h"
#include "herald/status.h"
#include "io/connection.h"
#include "io/write_queue.h"

namespace herald::http {

class HttpSession;

// Hears what happens to a streamed response (see Response::Watch). Loop
// thread only.
class StreamWatcher {
 public:
  virtual ~StreamWatcher() = default;
  // The connection's outbound queue drained to empty: a throttled stream may
  // send again.
  virtual void OnStreamDrained() {}
  // A flush left `backlog` bytes the kernel would not take.
  virtual void OnStreamBlocked(size_t /*backlog*/) {}
  // The stream is over — the client went away, the server is stopping, or
  // the stream was ended. The last call; called exactly once.
  virtual void OnStreamClosed() = 0;
  // The server is draining and is about to end the stream: last words (an
  // SSE `retry:` hint) may still be written.
  virtual void OnStreamDrain() {}
};

inline constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";
inline constexpr std::string_view kApplicationJson = "application/json";

class Response {
 public:
  // A detached handle: every call is a no-op.
  Response() = default;

  // The connection is alive and this response not finished.
  bool alive() const;

  // A complete response with Content-Length. Returns false if it could not
  // be sent (already answered, or connection gone).
  bool Send(int status, std::string body, std::string_view content_type = kTextPlain,
            HeaderList headers = {});
  bool Send(int status, io::SharedBuffer body, std::string_view content_type,
            HeaderList headers = {});
  // {"error":"<code>","message":"<message>"} as application/json.
  bool SendError(int status, std::string_view code, std::string_view message,
                 HeaderList headers = {});
  // The same for a failed broker operation, with the status its code maps
  // to (HttpStatusFor) and the code's name.
  bool SendError(const Status& status);

  // Streaming: the head now, the body in pieces as they come.
  bool StartStream(int status, std::string_view content_type, HeaderList headers = {});
  bool Write(io::SharedBuffer chunk);
  bool Write(std::string chunk);
  void End();
  // Bytes queued on the connection, not yet taken by the kernel (0 if gone).
  size_t queued_bytes() const;
  // Of those, the ones the kernel refused (see io::Connection::backlog_bytes).
  size_t backlog_bytes() const;
  // After StartStream: `watcher` is kept alive by the connection until the
  // stream is over, and told of drains and of the end — so an endless stream
  // releases what it holds the moment its client disconnects. False (and no
  // calls ever) if the stream is not open.
  bool Watch(std::shared_ptr<StreamWatcher> watcher);
  // After StartStream: ends the connection (a consumer too slow to keep):
  // what is queued is still flushed, for at most io::Connection::kLingerMs,
  // and nothing more is accepted.
  void Abort(io::CloseReason reason);

  struct Upgraded {
    io::Connection* connection;  // now driven by the new handler
    std::string leftover;        // bytes the client sent after the head
  };
  // Hands the raw connection to `handler` (HTTP is done on it: the caller
  // writes the 101 head itself). `handler` may be null and set afterwards
  // with Connection::SetHandler, when it needs the Connection*. Only for
  // requests with upgrade set, and only before anything was sent; nullopt
  // otherwise or if the connection is gone.
  std::optional<Upgraded> TakeOver(std::shared_ptr<io::ConnectionHandler> handler);

 private:
  friend class HttpSession;
  // Shared by the copies of one handle; the last copy to go answers 500 if
  // nobody finished the response.
  struct State {
    std::weak_ptr<HttpSession> session;
    uint64_t seq = 0;
    bool finished = false;
    State(std::weak_ptr<HttpSession> s, uint64_t q) : session(std::move(s)), seq(q) {}
    ~State();
  };
  explicit Response(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<HttpSession> Lock() const;
  template <typename Body>
  bool SendBody(int status, Body body, std::string_view content_type, HeaderList headers);

  std::shared_ptr<State> state_;
};

}  // namespace herald::http
