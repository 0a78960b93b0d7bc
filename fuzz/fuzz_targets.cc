#include "fuzz_targets.h"

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "frontends/ws/deflate.h"
#include "frontends/ws/deflate_params.h"
#include "frontends/ws/frame_parser.h"
#include "frontends/ws/handshake.h"
#include "frontends/ws/utf8.h"

namespace herald::ws::fuzz {
namespace {

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      return false;                                                                 \
    }                                                                               \
  } while (0)

// Chunk lengths from a tiny LCG seeded by the input, so splits vary per input
// but replay identically.
std::vector<std::string_view> Chunks(std::string_view s, uint8_t seed) {
  std::vector<std::string_view> out;
  uint32_t x = seed * 2654435761u + 1;
  while (!s.empty()) {
    x = x * 1103515245u + 12345u;
    size_t n = 1 + (x >> 16) % (seed % 4 == 0 ? 3 : seed % 4 == 1 ? 17 : 600);
    n = std::min(n, s.size());
    out.push_back(s.substr(0, n));
    s.remove_prefix(n);
  }
  return out;
}

struct Parsed {
  std::vector<Event> events;
  std::optional<ParseError> error;
  // Same events and the same close code. Not the reason text: a stream with
  // two faults (say corrupt DEFLATE data whose partial output is also bad
  // UTF-8) may show either first depending on how much zlib decoded before
  // its error check, and both are 1007 (found by fuzz_frame_parser).
  bool operator==(const Parsed& o) const {
    if (events != o.events || error.has_value() != o.error.has_value()) return false;
    return !error || error->code == o.error->code;
  }
};

Parsed Run(const FrameParserOptions& opts, const std::vector<std::string_view>& chunks) {
  FrameParser p(opts);
  Parsed r;
  for (std::string_view c : chunks) {
    Outcome o = p.Feed(c);
    for (Event& e : o.events) r.events.push_back(std::move(e));
    if (o.error && !r.error) r.error = o.error;
  }
  return r;
}

// --- UTF-8 reference: decode and check each code point (RFC 3629 §3).
bool RefValid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp, min;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      n = 2, cp = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      n = 3, cp = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      n = 4, cp = b & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      unsigned char c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = cp << 6 | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// True if some completion of `s` is valid UTF-8: the start up to a boundary
// is valid and the last (at most 3-byte) tail can be finished.
bool RefValidPrefix(std::string_view s) {
  static const char kCont[] = {'\x80', '\x8F', '\x90', '\x9F', '\xA0', '\xBF'};
  for (size_t tail = 0; tail <= 3 && tail <= s.size(); ++tail) {
    if (!RefValid(s.substr(0, s.size() - tail))) continue;
    std::string t(s.substr(s.size() - tail));
    if (RefValid(t)) return true;
    for (char a : kCont) {
      if (RefValid(t + a)) return true;
      for (char b : kCont) {
        if (RefValid(t + a + b)) return true;
        for (char c : kCont) {
          if (RefValid(t + a + b + c)) return true;
        }
      }
    }
  }
  return false;
}

}  // namespace

bool FuzzFrameParser(const uint8_t* data, size_t size) {
  if (size < 2) return true;
  const uint8_t flags = data[0], seed = data[1];
  std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  FrameParserOptions opts;
  static constexpr uint64_t kMax[] = {16, 300, 4096, 1 << 20};
  opts.max_message_size = kMax[(flags >> 2) & 3];
  if (flags & 1) {
    opts.deflate = DeflateParams{};
    opts.deflate->client_no_context_takeover = (flags & 2) != 0;
    opts.deflate->client_max_window_bits = 8 + ((flags >> 4) & 7);
  }
  Parsed whole = Run(opts, {stream});
  FUZZ_CHECK(Run(opts, Chunks(stream, seed)) == whole);
  if (stream.size() <= 2048) {
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < stream.size(); ++i) bytes.push_back(stream.substr(i, 1));
    FUZZ_CHECK(Run(opts, bytes) == whole);
  }
  for (const Event& e : whole.events) {
    switch (e.type) {
      case EventType::kText:
        FUZZ_CHECK(IsValidUtf8(e.payload));
        [[fallthrough]];
      case EventType::kBinary:
        FUZZ_CHECK(e.payload.size() <= opts.max_message_size);
        break;
      case EventType::kClose:
        FUZZ_CHECK(IsValidUtf8(e.payload));
        FUZZ_CHECK(e.payload.size() <= 123);
        break;
      default:
        FUZZ_CHECK(e.payload.size() <= 125);
    }
  }
  return true;
}

bool FuzzHandshake(const uint8_t* data, size_t size) {
  if (size < 1) return true;
  const uint8_t flags = data[0];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  HandshakeRequest req;
  req.method = lines.size() > 0 ? lines[0] : "GET";
  if (lines.size() > 1 && lines[1].size() >= 3) {
    req.http_major = lines[1][0] - '0';
    req.http_minor = lines[1][2] - '0';
  }
  std::vector<HeaderField> headers;
  for (size_t i = 2; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string_view::npos) continue;
    headers.push_back({lines[i].substr(0, colon), lines[i].substr(colon + 1)});
  }
  req.headers = headers;

  HandshakeOptions opts;
  if (flags & 1) opts.allowed_origins = {"https://a.example", "http://b"};
  if (flags & 2) opts.subprotocols = {"v2", "v1", "chat"};
  opts.deflate.enabled = (flags & 4) != 0;
  opts.deflate.server_max_window_bits = 9 + ((flags >> 3) & 7);
  opts.deflate.client_max_window_bits = 8 + ((flags >> 5) & 7);
  opts.deflate.request_client_no_context_takeover = (flags & 0x80) != 0;

  HandshakeResult r = ValidateHandshake(req, opts);
  FUZZ_CHECK(r.status == 101 || r.status == 400 || r.status == 403 || r.status == 405 ||
             r.status == 426);
  if (r.ok()) {
    FUZZ_CHECK(r.message.empty());
    FUZZ_CHECK(r.response.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
    FUZZ_CHECK(r.response.size() >= 4 &&
               r.response.compare(r.response.size() - 4, 4, "\r\n\r\n") == 0);
    FUZZ_CHECK(r.response.find("\r\nSec-WebSocket-Accept: ") != std::string::npos);
    // Only our own words reach the response: no CR/LF injection possible.
    size_t lines_out = 0;
    for (size_t p = 0; (p = r.response.find("\r\n", p)) != std::string::npos; p += 2) ++lines_out;
    FUZZ_CHECK(lines_out == 5u + !r.subprotocol.empty() + r.deflate.has_value());
    if (!r.subprotocol.empty()) FUZZ_CHECK(flags & 2);
    if (r.deflate) FUZZ_CHECK(flags & 4);
  } else {
    FUZZ_CHECK(!r.message.empty());
    FUZZ_CHECK(r.response.empty());
  }

  // The raw input as an extensions header.
  std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
  opts.deflate.enabled = true;
  if (auto p = NegotiateDeflate(all, opts.deflate)) {
    FUZZ_CHECK(p->server_max_window_bits >= 9 && p->server_max_window_bits <= 15);
    FUZZ_CHECK(p->client_max_window_bits >= 8 && p->client_max_window_bits <= 15);
    // What we answer is itself a valid offer we would accept.
    FUZZ_CHECK(NegotiateDeflate(p->ResponseValue(), opts.deflate).has_value());
  }
  return true;
}

bool FuzzInflate(const uint8_t* data, size_t size) {
  if (size < 2) return true;
  const uint8_t flags = data[0], seed = data[1];
  std::string_view z(reinterpret_cast<const char*>(data + 2), size - 2);
  const int bits = 8 + (flags & 7);
  const bool no_takeover = (flags & 8) != 0;
  const size_t kBound = 1 + (flags >> 4) * 512;  // small: bombs are cheap to build

  auto run = [&](const std::vector<std::string_view>& chunks, std::string* out) {
    Inflater in(bits, no_takeover);
    for (std::string_view c : chunks) {
      InflateResult r = in.Inflate(c, kBound, out);
      if (r != InflateResult::kOk) return r;
    }
    return in.FinishMessage(kBound, out);
  };
  std::string a, b;
  InflateResult ra = run({z}, &a);
  InflateResult rb = run(Chunks(z, seed), &b);
  FUZZ_CHECK(a.size() <= kBound);
  FUZZ_CHECK(b.size() <= kBound);
  FUZZ_CHECK(ra == rb);
  if (ra == InflateResult::kOk) {
    FUZZ_CHECK(a == b);
    // Whatever inflated must survive our own deflate round trip.
    Deflater d(bits);
    std::string again, back;
    FUZZ_CHECK(d.Compress(a, &again));
    Inflater in(bits, true);
    FUZZ_CHECK(in.Inflate(again, kBound, &back) == InflateResult::kOk);
    FUZZ_CHECK(in.FinishMessage(kBound, &back) == InflateResult::kOk);
    FUZZ_CHECK(back == a);
  }
  return true;
}

bool FuzzUtf8(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  const bool ref = RefValid(s);
  FUZZ_CHECK(IsValidUtf8(s) == ref);
  // Byte by byte: the first rejected byte is the first that no completion
  // can save (fail fast, never early).
  Utf8Validator v;
  size_t rejected = s.size();
  for (size_t i = 0; i < s.size(); ++i) {
    if (!v.Feed(s.substr(i, 1))) {
      rejected = i;
      break;
    }
  }
  if (rejected < s.size()) {
    FUZZ_CHECK(!ref);
    FUZZ_CHECK(RefValidPrefix(s.substr(0, rejected)));
    FUZZ_CHECK(!RefValidPrefix(s.substr(0, rejected + 1)));
  } else {
    FUZZ_CHECK(RefValidPrefix(s));
    FUZZ_CHECK(v.AtBoundary() == ref);
  }
  // Split anywhere (seeded by the first byte): same verdict.
  if (size > 0) {
    Utf8Validator w;
    bool ok = true;
    for (std::string_view c : Chunks(s, data[0])) ok = ok && w.Feed(c);
    FUZZ_CHECK((ok && w.AtBoundary()) == ref);
  }
  return true;
}

}  // namespace herald::ws::fuzz
