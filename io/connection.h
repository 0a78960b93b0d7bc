// io/connection.h — one TCP stream on one loop: reads in, batched writes out.
//
// A Connection hands inbound bytes to a ConnectionHandler and sends outbound
// bytes from a WriteQueue. Writes are batched: Write() only queues and marks
// the connection dirty; once per loop turn the loop flushes every dirty
// connection with one uv_try_write of all its iovecs, and queues whatever the
// kernel did not take as one uv_write. So a fan-out of a hundred messages to a
// socket in one turn costs one writev, not a hundred.
//
//   Connection* c = Connection::Adopt(loop, fd);  // fd from accept(2)
//   c->SetHandler(std::make_shared<MyProtocol>(c));
//   c->Write(shared_frame);                       // queued by reference
//   c->Close(CloseReason::kIdleTimeout);          // graceful: flush first
//
// Lifetime: a Connection owns itself and is deleted in its libuv close
// callback, right after the handler's OnClose() — the last call it makes. Use
// the pointer only until then. Everything here is loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "herald/status.h"
#include "io/loop.h"
#include "io/output_gate.h"
#include "io/write_queue.h"

namespace herald::io {

class TlsServer;
class TlsStream;

// Why a connection ended; feeds logs and metrics.
enum class CloseReason {
  kPeerClosed,      // orderly EOF from the peer
  kIoError,         // reset, broken pipe, any read/write error
  kIdleTimeout,     // nothing to do for too long
  kHeaderTimeout,   // a request head did not arrive in time (slow-loris)
  kProtocolError,   // the peer broke the protocol
  kSlowConsumer,    // outbound queue over its limit
  kServerShutdown,  // the server or the loop is stopping
  kLimit,           // a configured limit (e.g. max connections)
  kDone,            // the protocol finished normally (e.g. Connection: close)
};
std::string_view CloseReasonName(CloseReason reason);

enum class CloseMode {
  kGraceful,   // flush the queue, shut down the write side, then close
  kImmediate,  // drop the queue and close now
};

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // Bytes read; valid only during the call.
  virtual void OnData(std::string_view data) = 0;
  // The peer shut down its write side. Return true to keep the connection
  // (to finish responses) — the handler must then Close() it itself; the
  // default closes it gracefully.
  virtual bool OnPeerEof() { return false; }
  // The timer armed with ArmTimer() fired. Return true if handled; the
  // default closes the connection (gracefully) with the armed reason.
  virtual bool OnTimer(CloseReason /*reason*/) { return false; }
  // The write queue drained to empty after a write.
  virtual void OnDrained() {}
  // The output gate (Connection::SetOutputGate) opened again: reading has
  // resumed, and input the handler held back may be processed now. Posted
  // to the loop, so it comes after the opening; check the gate is still
  // open (output_gated()) before acting.
  virtual void OnOutputResumed() {}
  // A flush left `backlog` bytes the kernel would not take (the peer is not
  // reading fast enough); called once per such flush.
  virtual void OnWriteBlocked(size_t /*backlog*/) {}
  // The connection is gone; the last call. The Connection is deleted after.
  virtual void OnClose(CloseReason reason) = 0;
  // The server is draining: end this connection the protocol's way (a
  // WebSocket close 1001, an SSE stream's end). Return false to have it
  // closed gracefully instead (the default).
  virtual bool OnDrain() { return false; }
};

class Connection final : public Loop::Flushable, public Loop::Resource, private TimerWheel::Entry {
 public:
  // Wraps a connected, non-blocking stream socket. Takes ownership of `fd`
  // even on failure. Reading starts once a handler is set.
  static Result<Connection*> Adopt(Loop& loop, int fd);

  // Puts the stream behind TLS (server side, `server`'s current context),
  // before the first SetHandler. Below the handler, which reads and writes
  // plaintext as before, so every front above is unchanged: the handshake
  // runs as bytes arrive, writes wait for it, and queued_bytes() counts
  // ciphertext too. It must finish within server.handshake_timeout() or the
  // connection is closed (kHeaderTimeout); the handler's own timer
  // (ArmTimer) starts once it has. A TLS failure closes the connection
  // (kProtocolError) after its alert; plain HTTP sent to the TLS port is
  // answered with a plaintext 400.
  void StartTls(const TlsServer& server);
  bool tls() const { return tls_ != nullptr; }

  // Replaces the handler (e.g. an HTTP session handing the stream to a
  // WebSocket codec). Safe inside the old handler's callbacks: it stays alive
  // until its callback returns.
  void SetHandler(std::shared_ptr<ConnectionHandler> handler);

  // Queues bytes; the flush happens at the end of this loop turn. Returns
  // false (dropping the bytes) once Close() was called.
  bool Write(SharedBuffer buffer);
  bool Write(std::string owned);

  // Bytes queued and not yet taken by the kernel; callers enforce their own
  // outbound limits with it (e.g. close with kSlowConsumer).
  size_t queued_bytes() const { return queue_.bytes() + cipher_.bytes(); }
  // Queued bytes the kernel has refused to take so far: all of the queue
  // while a write waits for socket space, nothing otherwise (what was queued
  // in this loop turn is tried at its flush). Slow-consumer limits count
  // this, so a burst queued in one turn — a history replay the client asked
  // for — is not mistaken for a peer that stopped reading; a burst the kernel
  // then refuses is reported by ConnectionHandler::OnWriteBlocked.
  size_t backlog_bytes() const { return write_in_flight_ ? queued_bytes() : 0; }

  // Reading on the user's behalf; independent of the output gate (reading
  // happens only when neither stops it).
  void PauseReading();
  void ResumeReading();

  // Sets (or changes, e.g. on a protocol upgrade) the output gate; takes
  // effect at once.
  void SetOutputGate(OutputGate gate);
  const OutputGate& output_gate() const { return gate_; }
  // More than the gate's high-water mark is queued: reading is stopped, and
  // handlers act on no further input they already hold.
  bool output_gated() const { return gated_; }

  // One deadline per connection on the loop's timer wheel (16 ms ticks; a
  // deadline fires up to one tick late, never early), re-armed on state
  // changes, not per read. Arming again replaces the previous deadline.
  void ArmTimer(uint64_t timeout_ms, CloseReason reason);
  void DisarmTimer();

  // Idempotent; the first reason wins. kGraceful flushes what is queued
  // (bounded by kLingerMs), shuts down the write side and reads until the
  // peer's EOF, so a response sent just before closing is not destroyed by a
  // TCP reset when the peer still had bytes in flight.
  void Close(CloseReason reason, CloseMode mode = CloseMode::kGraceful);
  bool closing() const { return closing_; }

  Loop& loop() { return loop_; }
  uint64_t id() const { return id_; }
  // "127.0.0.1:54321" or "[::1]:54321"; empty if unknown.
  std::string peer_address() const;
  // The peer's IP alone (no port; IPv6 without brackets).
  std::string peer_ip() const;
  // Keeps `thing` until the connection is deleted, whatever handler it has
  // then (e.g. a per-address connection slot across a WebSocket upgrade).
  void Attach(std::shared_ptr<void> thing) { attached_.push_back(std::move(thing)); }

  struct Stats {
    uint64_t flushes = 0;      // batches handed to the kernel
    uint64_t write_calls = 0;  // uv_try_write + uv_write calls
    uint64_t bytes_written = 0;
  };
  const Stats& stats() const { return stats_; }

  // Longest a graceful close may take before it turns immediate.
  static constexpr uint64_t kLingerMs = 2000;

  // Loop::Flushable / Loop::Resource.
  void Flush() override;
  void CloseForShutdown() override;
  void Drain() override;

 private:
  Connection(Loop& loop, uint64_t id);
  ~Connection();

  void OnRead(ssize_t nread, const uv_buf_t* buf);
  void OnEof();
  // Decrypts what the TLS stream holds and hands it to the handler, while
  // reading is wanted.
  void ReadTls();
  void OnTlsFailed();
  // What the queues cost in memory (the output gate's measure).
  size_t footprint() const { return queue_.footprint() + cipher_.footprint(); }
  void OnWriteDone(int status);
  void OnShutdownDone(int status);
  void OnTimerExpired() override;
  void AfterDrained();
  // Gate checks: after bytes were queued, and after bytes were written.
  void CheckGateHigh();
  void CheckGateLow();
  void SetGated(bool gated);
  void NotifyResumed();
  void UpdateReading();
  void StartShutdownIfFlushed();
  void CloseHandles();
  void OnHandleClosed();

  Loop& loop_;
  const uint64_t id_;
  uv_tcp_t tcp_{};
  // Requests allocated when first needed: most writes complete in
  // uv_try_write and most connections never shut down while idle, so an idle
  // connection does not carry their ~270 bytes.
  std::unique_ptr<uv_write_t> write_req_;
  std::unique_ptr<uv_shutdown_t> shutdown_req_;
  std::shared_ptr<ConnectionHandler> handler_;
  std::vector<std::shared_ptr<void>> attached_;
  WriteQueue queue_;  // plaintext (everything, without TLS)
  // With TLS: records for the socket. Plaintext is encrypted from queue_
  // into it at a flush, up to a window, so memory stays bounded and every
  // byte is in one queue or the other, counted once.
  WriteQueue cipher_;
  std::shared_ptr<TlsStream> tls_;  // shared: a posted read holds it weakly
  size_t in_flight_bytes_ = 0;      // gathered by the pending uv_write
  bool write_in_flight_ = false;
  bool reading_ = false;
  bool read_paused_ = false;  // by the user, not by closing
  bool gated_ = false;        // by the output gate
  OutputGate gate_;
  bool closing_ = false;
  bool shutdown_started_ = false;
  bool handles_closing_ = false;
  int handles_open_ = 0;
  CloseReason timer_reason_ = CloseReason::kIdleTimeout;
  CloseReason close_reason_ = CloseReason::kDone;
  bool eof_ = false;
  // ArmTimer() while the handshake owns the timer: applied when it ends.
  uint64_t deferred_timer_ms_ = 0;  // 0: none
  bool handshaking_ = false;
  // The socket ended while decrypted input waited for a paused handler:
  // the end is delivered after it.
  bool eof_after_input_ = false;
  bool tls_read_posted_ = false;
  Stats stats_;
};

}  // namespace herald::io
