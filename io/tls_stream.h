// io/tls_stream.h — one server-side TLS session over a Connection's bytes.
// Internal to io: Connection (io/connection.cc) is its only user.
//
// OpenSSL never touches the socket: the stream reads ciphertext from what
// the Connection fed it and writes records straight into the Connection's
// cipher queue (two small custom BIOs instead of memory BIOs, so a record is
// allocated once, where it is queued, and input is not copied unless some
// is left over when the reader pauses). Everything runs on the loop thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "io/tls_context.h"
#include "io/write_queue.h"

struct ssl_st;
struct bio_st;

namespace herald::io {

class TlsStream {
 public:
  // `out` receives every record (handshake messages, data, alerts); it
  // must outlive the stream.
  TlsStream(std::shared_ptr<const TlsContext> context, std::shared_ptr<TlsStats> stats,
            WriteQueue& out);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Ciphertext read from the socket. It is read by later Read() calls;
  // Keep() copies what they leave before the caller's buffer is reused.
  void Feed(std::string_view cipher);
  void Keep();

  enum class Outcome {
    kData,      // `n` bytes of plaintext in the buffer
    kWantRead,  // nothing more until the socket gives more
    kClosed,    // the client's close_notify: the end of its input
    kFailed,    // a fatal TLS error (any alert is already in `out`)
  };
  // Moves the handshake on, then decrypts into `buf`.
  Outcome Read(char* buf, size_t cap, size_t& n);
  // Ciphertext or decrypted bytes are waiting for a Read().
  bool has_input() const;

  bool handshake_done() const { return handshake_done_; }
  bool failed() const { return failed_; }
  // The client spoke plain HTTP (its request is the failure).
  bool plaintext_http() const { return failure_ == TlsFailure::kPlaintextHttp; }

  // Encrypts plaintext from the front of `in` into `out` while `out` holds
  // less than `out_limit` bytes; consumes what it encrypted. False: this
  // call found the session broken (`in` is dropped; close the connection).
  bool Encrypt(WriteQueue& in, size_t out_limit);
  // Queues close_notify, once.
  void Shutdown();
  bool shutdown_sent() const { return shutdown_sent_; }

  // The connection ended with `close_failure` as the reason a handshake
  // still under way did not finish (counted once, unless the TLS layer
  // already failed and counted its own reason).
  void Ended(TlsFailure close_failure);

 private:
  static int BioRead(bio_st* b, char* data, int len);
  static int BioWrite(bio_st* b, const char* data, int len);
  static void OnInfo(const ssl_st* ssl, int where, int ret);
  void Fail();
  bool Broken(WriteQueue& in);

  std::shared_ptr<const TlsContext> context_;  // the SSL_CTX outlives the SSL
  std::shared_ptr<TlsStats> stats_;
  WriteQueue& out_;
  ssl_st* ssl_ = nullptr;
  std::string_view input_;  // fed and not read yet; points into kept_ or the caller's buffer
  std::string kept_;
  bool handshake_done_ = false;
  bool failed_ = false;
  bool counted_ = false;  // the handshake's outcome is counted
  bool shutdown_sent_ = false;
  bool received_any_ = false;
  bool renegotiation_ = false;  // a TLS 1.2 client asked for one
  TlsFailure failure_ = TlsFailure::kProtocol;
};

}  // namespace herald::io
