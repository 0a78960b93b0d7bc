// The only file that includes llhttp.h: everything llhttp-specific stays here.
#include "frontends/http/http_parser.h"

#include <llhttp.h>

#include <algorithm>

namespace herald::http {
namespace {

// Request line and header lines are counted by their field bytes plus a small
// fixed overhead for the separators (SP, ": ", CRLF), which is what an
// attacker cannot avoid sending either.
constexpr size_t kRequestLineOverhead = 16;
constexpr size_t kHeaderLineOverhead = 4;

HttpParser* Self(llhttp_t* p) { return static_cast<HttpParser*>(p->data); }

// RFC 9110 §5.6.2: field-name = token.
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

struct HttpParser::Impl {
  llhttp_t parser;
  llhttp_settings_t settings;

  // Trampolines: cast ->data, call the method.
  static int MessageBegin(llhttp_t* p) { return Self(p)->OnMessageBeginCb(); }
  static int Url(llhttp_t* p, const char* at, size_t n) { return Self(p)->OnUrl({at, n}); }
  static int Field(llhttp_t* p, const char* at, size_t n) {
    return Self(p)->OnHeaderField({at, n});
  }
  static int Value(llhttp_t* p, const char* at, size_t n) {
    return Self(p)->OnHeaderValue({at, n});
  }
  static int ValueComplete(llhttp_t* p) { return Self(p)->OnHeaderValueComplete(); }
  static int HeadersComplete(llhttp_t* p) { return Self(p)->OnHeadersComplete(); }
  static int Body(llhttp_t* p, const char* at, size_t n) { return Self(p)->OnBodyCb({at, n}); }
  static int ChunkHeader(llhttp_t* p) { return Self(p)->OnChunkHeaderCb(p->content_length); }
  static int Version(llhttp_t* p, const char* at, size_t n) {
    return Self(p)->OnVersionCb({at, n});
  }
  static int VersionComplete(llhttp_t* p) { return Self(p)->OnVersionCompleteCb(); }
  static int MessageComplete(llhttp_t* p) { return Self(p)->OnMessageCompleteCb(); }
};

HttpParser::HttpParser(Limits limits, Events* events)
    : limits_(limits), events_(events), impl_(std::make_unique<Impl>()) {
  llhttp_settings_init(&impl_->settings);
  impl_->settings.on_message_begin = &Impl::MessageBegin;
  impl_->settings.on_url = &Impl::Url;
  impl_->settings.on_header_field = &Impl::Field;
  impl_->settings.on_header_value = &Impl::Value;
  impl_->settings.on_header_value_complete = &Impl::ValueComplete;
  impl_->settings.on_headers_complete = &Impl::HeadersComplete;
  impl_->settings.on_body = &Impl::Body;
  impl_->settings.on_chunk_header = &Impl::ChunkHeader;
  impl_->settings.on_version = &Impl::Version;
  impl_->settings.on_version_complete = &Impl::VersionComplete;
  impl_->settings.on_message_complete = &Impl::MessageComplete;
  llhttp_init(&impl_->parser, HTTP_REQUEST, &impl_->settings);
  impl_->parser.data = this;
  // No llhttp_set_lenient_*: every lenient flag is a smuggling vector.
}

HttpParser::~HttpParser() = default;

HttpParser::FeedResult HttpParser::Feed(std::string_view data) {
  if (error_ != Error::kNone) return {Outcome::kError, 0};
  feed_begin_ = data.data();
  feed_end_ = data.data() + data.size();
  ++feed_count_;
  if (crlf_pending_ > 0 && CheckCrlf(data.data(), "a line does not end with CRLF") != HPE_OK) {
    return {Outcome::kError, 0};
  }
  const llhttp_errno_t rc = llhttp_execute(&impl_->parser, data.data(), data.size());
  auto consumed = [&] {
    const char* pos = llhttp_get_error_pos(&impl_->parser);
    return pos == nullptr ? data.size() : static_cast<size_t>(pos - data.data());
  };
  switch (rc) {
    case HPE_OK:
      return {Outcome::kNeedMore, data.size()};
    case HPE_PAUSED:
      return {Outcome::kPaused, consumed()};
    case HPE_PAUSED_UPGRADE:
      return {Outcome::kUpgrade, consumed()};
    default:
      if (error_ == Error::kNone) {
        // llhttp's own verdict: malformed, or a smuggling vector such as
        // "Content-Length can't be present with Transfer-Encoding".
        error_ = Error::kBadRequest;
        const char* reason = llhttp_get_error_reason(&impl_->parser);
        error_message_ = reason != nullptr ? reason : llhttp_errno_name(rc);
      }
      return {Outcome::kError, consumed()};
  }
}

void HttpParser::Resume() { llhttp_resume(&impl_->parser); }

void HttpParser::ResumeAfterUpgrade() { llhttp_resume_after_upgrade(&impl_->parser); }

int HttpParser::error_status() const {
  switch (error_) {
    case Error::kNone:
      return 200;
    case Error::kBadRequest:
      return 400;
    case Error::kHeaderTooLarge:
      return 431;
    case Error::kBodyTooLarge:
      return 413;
    case Error::kVersionNotSupported:
      return 505;
  }
  return 400;
}

std::string_view HttpParser::error_code() const {
  switch (error_) {
    case Error::kNone:
      return "ok";
    case Error::kBadRequest:
      return "bad_request";
    case Error::kHeaderTooLarge:
      return "header_too_large";
    case Error::kBodyTooLarge:
      return "body_too_large";
    case Error::kVersionNotSupported:
      return "http_version_not_supported";
  }
  return "bad_request";
}

int HttpParser::Fail(Error e, std::string message) {
  error_ = e;
  error_message_ = std::move(message);
  llhttp_set_error_reason(&impl_->parser, "herald limit");
  return HPE_USER;
}

int HttpParser::CountHeadBytes(size_t n) {
  head_bytes_ += n;
  if (head_bytes_ > limits_.max_header_bytes) {
    return Fail(Error::kHeaderTooLarge,
                "request head exceeds " + std::to_string(limits_.max_header_bytes) + " bytes");
  }
  return HPE_OK;
}

int HttpParser::OnMessageBeginCb() {
  head_ = RequestHead{};
  field_.clear();
  value_.clear();
  value_started_ = false;
  head_bytes_ = kRequestLineOverhead;
  trailer_bytes_ = 0;
  body_bytes_ = 0;
  chunk_left_ = 0;
  crlf_pending_ = 0;
  in_message_ = true;
  head_done_ = false;
  events_->OnMessageBegin();
  return HPE_OK;
}

int HttpParser::OnUrl(std::string_view s) {
  head_.target.append(s);
  return CountHeadBytes(s.size());
}

// Chunked trailers (RFC 9112 §7.1.2) are accepted, not kept, but bounded
// like the head: max_header_bytes for the whole trailer section, 431 past it.
int HttpParser::CountTrailerBytes(size_t n) {
  trailer_bytes_ += n;
  if (trailer_bytes_ > limits_.max_header_bytes) {
    return Fail(Error::kHeaderTooLarge, "request trailer section exceeds " +
                                            std::to_string(limits_.max_header_bytes) + " bytes");
  }
  return HPE_OK;
}

int HttpParser::OnHeaderField(std::string_view s) {
  if (head_done_) return CountTrailerBytes(s.size());
  field_.append(s);
  return CountHeadBytes(s.size());
}

int HttpParser::OnHeaderValue(std::string_view s) {
  if (head_done_) return CountTrailerBytes(s.size());
  // llhttp splits a value span only at the end of the fed bytes, or where a
  // line ends in CRLF + SP/HT — an obs-fold, which RFC 9112 §5.2 lets us
  // reject and which proxies disagree about (a smuggling vector).
  const bool fold = value_started_ ? !value_piece_at_feed_end_
                                   : (!s.empty() && (s.front() == ' ' || s.front() == '\t'));
  if (fold) return Fail(Error::kBadRequest, "obs-fold (line folding) in header value");
  value_started_ = true;
  value_piece_at_feed_end_ = s.data() + s.size() == feed_end_;
  value_.append(s);
  return CountHeadBytes(s.size());
}

int HttpParser::OnHeaderValueComplete() {
  if (head_done_) return CountTrailerBytes(kHeaderLineOverhead);
  value_started_ = false;
  // RFC 9112 §5.1: whitespace between name and colon MUST be rejected.
  if (!IsToken(field_)) return Fail(Error::kBadRequest, "invalid header name \"" + field_ + "\"");
  head_.headers.Add(std::move(field_), std::string(TrimOws(value_)));
  field_.clear();
  value_.clear();
  return CountHeadBytes(kHeaderLineOverhead);
}

int HttpParser::OnHeadersComplete() {
  llhttp_t* p = &impl_->parser;
  head_done_ = true;
  head_.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
  head_.version_major = p->http_major;
  head_.version_minor = p->http_minor;
  if (head_.version_major != 1) {
    return Fail(Error::kVersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are served here");
  }
  // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0.
  const size_t hosts = head_.headers.Count("Host");
  if (hosts > 1 || (hosts == 0 && head_.version_minor >= 1)) {
    return Fail(Error::kBadRequest,
                hosts == 0 ? "missing Host header" : "more than one Host header");
  }
  head_.keep_alive = llhttp_should_keep_alive(p) != 0;
  head_.upgrade = p->upgrade != 0;
  if ((p->flags & F_CONTENT_LENGTH) != 0) {
    head_.content_length = p->content_length;
    // Refuse before reading a byte of a body that cannot fit.
    if (p->content_length > limits_.max_body_bytes) {
      return Fail(Error::kBodyTooLarge,
                  "body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes");
    }
  }
  events_->OnHead(std::move(head_));
  head_ = RequestHead{};
  return HPE_OK;
}

int HttpParser::OnChunkHeaderCb(uint64_t size) {
  chunk_left_ = size;
  return HPE_OK;
}

// The request line ends with CRLF, like every header line: llhttp 8 also
// takes a bare LF there, which no well-behaved client sends.
int HttpParser::OnVersionCb(std::string_view s) {
  version_end_ = s.data() + s.size();
  version_feed_ = feed_count_;
  return HPE_OK;
}

int HttpParser::OnVersionCompleteCb() {
  // The byte after the version: in this piece, or first in it when the
  // version ended with the previous piece.
  const char* next = version_feed_ == feed_count_ ? version_end_ : feed_begin_;
  if (next == nullptr) return HPE_OK;
  crlf_pending_ = 2;  // what is not in this piece is checked at the next Feed
  return CheckCrlf(next, "the request line does not end with CRLF");
}

int HttpParser::CheckCrlf(const char* from, const char* what) {
  for (const char* p = from; crlf_pending_ > 0 && p < feed_end_; ++p) {
    const char want = crlf_pending_ == 2 ? '\r' : '\n';
    if (*p != want) {
      crlf_pending_ = 0;
      return Fail(Error::kBadRequest, what);
    }
    --crlf_pending_;
  }
  return HPE_OK;
}

int HttpParser::OnBodyCb(std::string_view s) {
  if (chunk_left_ > 0) {
    chunk_left_ -= std::min<uint64_t>(chunk_left_, s.size());
    if (chunk_left_ == 0) {
      crlf_pending_ = 2;
      if (int rc = CheckCrlf(s.data() + s.size(), "chunk data is not followed by CRLF");
          rc != HPE_OK) {
        return rc;
      }
    }
  }
  body_bytes_ += s.size();
  if (body_bytes_ > limits_.max_body_bytes) {
    return Fail(Error::kBodyTooLarge,
                "body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes");
  }
  events_->OnBody(s);
  return HPE_OK;
}

int HttpParser::OnMessageCompleteCb() {
  in_message_ = false;
  return events_->OnMessageComplete() ? HPE_OK : HPE_PAUSED;
}

}  // namespace herald::http
