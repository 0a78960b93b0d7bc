#include "frontends/ws/deflate.h"

#include <zlib.h>

#include <algorithm>

namespace herald::ws {
namespace {

// RFC 7692 §7.2.1: every flushed message ends with an empty stored block.
constexpr char kTail[] = {'\x00', '\x00', '\xff', '\xff'};

}  // namespace

void ZStreamDeleter::operator()(z_stream_s* s) const {
  if (inflate) {
    inflateEnd(s);
  } else {
    deflateEnd(s);
  }
  delete s;
}

Inflater::Inflater(int window_bits, bool no_context_takeover)
    : stream_(new z_stream{}, ZStreamDeleter{true}), no_context_takeover_(no_context_takeover) {
  // A zlib-based client asked for 8 bits really uses 9 (zlib has no raw
  // 8-bit window); a larger window accepts every stream a smaller one would.
  int bits = std::clamp(window_bits, 9, 15);
  ok_ = inflateInit2(stream_.get(), -bits) == Z_OK;  // negative: raw deflate, §7.2
}

InflateResult Inflater::Inflate(std::string_view compressed, size_t max_size, std::string* out) {
  // zlib counts input in uInt: hand it at most 1 GiB at a time.
  constexpr size_t kMaxPiece = size_t{1} << 30;
  while (compressed.size() > kMaxPiece) {
    InflateResult r = InflatePiece(compressed.substr(0, kMaxPiece), max_size, out);
    if (r != InflateResult::kOk) return r;
    compressed.remove_prefix(kMaxPiece);
  }
  return InflatePiece(compressed, max_size, out);
}

InflateResult Inflater::InflatePiece(std::string_view compressed, size_t max_size,
                                     std::string* out) {
  if (!ok_) return InflateResult::kCorrupt;
  z_stream* s = stream_.get();
  s->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  s->avail_in = static_cast<uInt>(compressed.size());
  char buf[16 * 1024];
  while (true) {
    // Never ask for more than one byte past the bound: a bomb stops here.
    size_t room = max_size >= out->size() ? max_size - out->size() + 1 : 1;
    size_t want = std::min(sizeof(buf), room);
    s->next_out = reinterpret_cast<Bytef*>(buf);
    s->avail_out = static_cast<uInt>(want);
    int rc = inflate(s, Z_SYNC_FLUSH);
    size_t produced = want - s->avail_out;
    if (produced > 0) {
      if (out->size() + produced > max_size) {
        // Keep what fits, so the caller can still check it (e.g. UTF-8)
        // and fail the same way however the input was split.
        out->append(buf, max_size - out->size());
        ok_ = false;
        return InflateResult::kTooLarge;
      }
      out->append(buf, produced);
    }
    if (rc == Z_STREAM_END) {
      // RFC 7692 §7.2.3.4: a block with BFINAL set may end a message; what
      // follows starts a fresh DEFLATE stream.
      inflateReset(s);
      if (s->avail_in == 0) break;
      continue;
    }
    if (rc == Z_BUF_ERROR) break;  // no progress possible: needs more input
    if (rc != Z_OK) {
      ok_ = false;
      return InflateResult::kCorrupt;
    }
    if (s->avail_in == 0 && s->avail_out != 0) break;
  }
  return InflateResult::kOk;
}

InflateResult Inflater::FinishMessage(size_t max_size, std::string* out) {
  InflateResult r = Inflate(std::string_view(kTail, sizeof(kTail)), max_size, out);
  if (r == InflateResult::kOk && no_context_takeover_) inflateReset(stream_.get());
  return r;
}

Deflater::Deflater(int window_bits, int level, int mem_level)
    : stream_(new z_stream{}, ZStreamDeleter{false}) {
  int bits = std::clamp(window_bits, 9, 15);
  ok_ = deflateInit2(stream_.get(), level, Z_DEFLATED, -bits, std::clamp(mem_level, 1, 9),
                     Z_DEFAULT_STRATEGY) == Z_OK;
}

bool Deflater::Compress(std::string_view message, std::string* out) {
  if (!ok_ || message.size() > kMaxDeflateInput) return false;
  z_stream* s = stream_.get();
  // RFC 7692 §7.1.1.1: server_no_context_takeover, a fresh context each time.
  if (deflateReset(s) != Z_OK) return false;
  s->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  s->avail_in = static_cast<uInt>(message.size());
  const size_t start = out->size();
  size_t used = start;
  // deflateBound plus room for the sync-flush marker: usually one pass.
  size_t chunk = deflateBound(s, static_cast<uLong>(message.size())) + 16;
  while (true) {
    out->resize(used + chunk);
    s->next_out = reinterpret_cast<Bytef*>(out->data() + used);
    s->avail_out = static_cast<uInt>(chunk);
    int rc = deflate(s, Z_SYNC_FLUSH);
    used += chunk - s->avail_out;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      out->resize(start);
      return false;
    }
    if (s->avail_in == 0 && s->avail_out != 0) break;
    chunk = 16 * 1024;
  }
  out->resize(used);
  // §7.2.1: drop the 0x00 0x00 0xff 0xff that Z_SYNC_FLUSH always ends with.
  if (used - start >= 4 &&
      std::string_view(out->data() + used - 4, 4) == std::string_view(kTail, sizeof(kTail))) {
    out->resize(used - 4);
  }
  return true;
}

}  // namespace herald::ws
