// frontends/http/http_parser.h — HTTP/1.1 request parsing, bytes in, events out.
//
// Wraps llhttp (the only file that includes llhttp.h is http_parser.cc) behind
// a narrow interface: feed bytes as they arrive, receive the request head, the
// body in chunks and the end of each message; pipelined requests simply
// follow one another. No I/O here, so it is unit-tested by splitting every
// request at every byte offset.
//
//   struct Sink : HttpParser::Events { ... };
//   HttpParser parser(limits, &sink);
//   HttpParser::FeedResult r = parser.Feed(bytes);
//   if (r.outcome == HttpParser::Outcome::kError) respond(parser.error_status());
//
// Strict by design: llhttp's lenient flags stay off, so request-smuggling
// vectors (Content-Length with Transfer-Encoding, differing duplicate
// Content-Length, bad header bytes) are errors — RFC 9112 §6.1, §6.3. Two
// that llhttp 8.1 lets through are rejected here: obs-fold (§5.2) and
// whitespace between a field name and its colon (§5.1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "frontends/http/headers.h"

namespace herald::http {

struct RequestHead {
  std::string method;  // "GET"
  std::string target;  // request-target as sent: "/path?query"
  int version_major = 1;
  int version_minor = 1;
  HeaderList headers;
  bool keep_alive = true;  // per RFC 9112 §9.3, from version and Connection
  bool upgrade = false;    // Upgrade/CONNECT: bytes after the head are not HTTP
  std::optional<uint64_t> content_length;
};

class HttpParser {
 public:
  struct Limits {
    size_t max_header_bytes = 16 * 1024;  // request line + header lines
    size_t max_body_bytes = 1024 * 1024;  // decoded body (after chunking)
  };

  enum class Error {
    kNone,
    kBadRequest,           // 400: malformed or smuggling-prone message
    kHeaderTooLarge,       // 431 (RFC 6585 §5): the head, or a chunked trailer section
    kBodyTooLarge,         // 413 (RFC 9110 §15.5.14)
    kVersionNotSupported,  // 505
  };

  enum class Outcome {
    kNeedMore,  // every byte consumed; feed more when it arrives
    kPaused,    // Events::OnMessageComplete() asked to pause; `consumed` says where
    kUpgrade,   // an upgrade request ended at `consumed`; the rest is not HTTP
    kError,     // see error(); the connection cannot continue
  };

  struct FeedResult {
    Outcome outcome;
    size_t consumed;  // bytes of this Feed() that were parsed
  };

  class Events {
   public:
    virtual ~Events() = default;
    // The first byte of a request arrived (start of the header timeout).
    virtual void OnMessageBegin() {}
    // The whole head is in.
    virtual void OnHead(RequestHead head) = 0;
    virtual void OnBody(std::string_view chunk) = 0;
    // The message ended. Return false to pause the parser after it (e.g. too
    // many requests in flight); Feed() then returns kPaused.
    virtual bool OnMessageComplete() = 0;
  };

  HttpParser(Limits limits, Events* events);
  // For the messages from the next one on (call between messages, or from
  // Events::OnMessageBegin).
  void set_limits(Limits limits) { limits_ = limits; }
  ~HttpParser();
  HttpParser(const HttpParser&) = delete;
  HttpParser& operator=(const HttpParser&) = delete;

  FeedResult Feed(std::string_view data);
  // Continue after kPaused (feed the unconsumed bytes again).
  void Resume();
  // Continue parsing HTTP after kUpgrade (the server declined the upgrade).
  void ResumeAfterUpgrade();

  Error error() const { return error_; }
  // 400, 413, 431 or 505 for the current error.
  int error_status() const;
  // Lower-snake-case code for JSON errors: "bad_request", "header_too_large"...
  std::string_view error_code() const;
  const std::string& error_message() const { return error_message_; }

  // A request has begun and not yet completed.
  bool in_message() const { return in_message_; }
  // A request has begun and its head is not complete yet.
  bool in_head() const { return in_message_ && !head_done_; }

 private:
  struct Impl;
  friend struct Impl;

  int OnMessageBeginCb();
  int OnUrl(std::string_view s);
  int OnHeaderField(std::string_view s);
  int OnHeaderValue(std::string_view s);
  int OnHeaderValueComplete();
  int OnHeadersComplete();
  int OnBodyCb(std::string_view s);
  int OnChunkHeaderCb(uint64_t size);
  int OnVersionCb(std::string_view s);
  int OnVersionCompleteCb();
  // Checks the CRLF that must follow a chunk's data or the request line
  // (crlf_pending_ bytes of it), from `from` to the end of the bytes being
  // fed; what lies beyond is checked at the next Feed. `what` names it.
  int CheckCrlf(const char* from, const char* what);
  int OnMessageCompleteCb();
  int Fail(Error e, std::string message);
  int CountHeadBytes(size_t n);
  int CountTrailerBytes(size_t n);

  Limits limits_;
  Events* events_;
  std::unique_ptr<Impl> impl_;
  RequestHead head_;
  std::string field_;
  std::string value_;
  const char* feed_end_ = nullptr;  // end of the bytes being fed
  // Chunked bodies: data bytes left in the current chunk, and how many bytes
  // of the CRLF after it are still to be seen (2, 1 or 0). Debian's llhttp
  // 8 does not insist on that CRLF, which lets a chunk smuggle a request.
  uint64_t chunk_left_ = 0;
  int crlf_pending_ = 0;
  // Where the request line's version ended, to check the CR after it.
  const char* feed_begin_ = nullptr;
  uint64_t feed_count_ = 0;
  const char* version_end_ = nullptr;
  uint64_t version_feed_ = 0;
  bool value_started_ = false;
  bool value_piece_at_feed_end_ = false;
  size_t head_bytes_ = 0;
  size_t trailer_bytes_ = 0;  // chunked trailer section, bounded like the head
  size_t body_bytes_ = 0;
  bool in_message_ = false;
  bool head_done_ = false;
  Error error_ = Error::kNone;
  std::string error_message_;
};

}  // namespace herald::http
