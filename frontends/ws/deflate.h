// frontends/ws/deflate.h — permessage-deflate compression (RFC 7692 §7.2).
//
// Inflater: one per connection, for client messages. Fed the compressed
// payload of a message piece by piece as frames arrive, it inflates
// incrementally under a hard output bound, so a decompression bomb fails with
// kTooLarge (close 1009) without ever holding more than the bound.
//
//   Inflater in(params.client_max_window_bits, params.client_no_context_takeover);
//   if (in.Inflate(chunk, max, &message) != InflateResult::kOk) fail(...);
//   ... at the final frame: in.FinishMessage(max, &message);
//
// Deflater: compresses one whole server message at a time with
// server_no_context_takeover (§7.1.1.1), reusing one z_stream, so the result
// can be framed once and shared by every connection.
//
//   Deflater d;  std::string payload;
//   d.Compress(message, &payload);  // then a frame with RSV1 set
//
// Neither is thread-safe; one owner thread each. zlib stays out of this header.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct z_stream_s;

namespace herald::ws {

enum class InflateResult {
  kOk,
  kTooLarge,  // output would exceed the bound: close 1009
  kCorrupt,   // not a valid DEFLATE stream: close 1007
};

struct ZStreamDeleter {
  bool inflate;
  void operator()(z_stream_s* s) const;
};

class Inflater {
 public:
  // `window_bits` 8..15 as negotiated (client_max_window_bits);
  // `no_context_takeover` resets the window after each message (§7.1.1.2).
  Inflater(int window_bits, bool no_context_takeover);
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates the next compressed bytes of the current message and appends the
  // output to `*out`. Fails with kTooLarge when the output would pass
  // `max_size`, having appended only what fits (never more than the bound).
  // After a failure the inflater must not be used again.
  InflateResult Inflate(std::string_view compressed, size_t max_size, std::string* out);

  // Ends the message: RFC 7692 §7.2.2 appends 0x00 0x00 0xff 0xff to the
  // payload before inflating; then resets the context if it is not taken over.
  InflateResult FinishMessage(size_t max_size, std::string* out);

 private:
  InflateResult InflatePiece(std::string_view compressed, size_t max_size, std::string* out);

  std::unique_ptr<z_stream_s, ZStreamDeleter> stream_;
  bool no_context_takeover_;
  bool ok_ = true;
};

// zlib's counters are 32-bit; larger messages are not compressed.
constexpr size_t kMaxDeflateInput = size_t{1} << 30;

class Deflater {
 public:
  // `window_bits` 9..15 (server_max_window_bits; 8 becomes 9, which zlib
  // needs for raw deflate); `level` 0..9 or -1 for zlib's default.
  explicit Deflater(int window_bits = 15, int level = -1, int mem_level = 8);
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // Appends the compressed payload of `message` (a complete message, with the
  // trailing 0x00 0x00 0xff 0xff removed, §7.2.1) to `*out`. Every call starts
  // from an empty context. False if zlib failed (out of memory) or the
  // message is over kMaxDeflateInput (send such a message uncompressed).
  bool Compress(std::string_view message, std::string* out);

 private:
  std::unique_ptr<z_stream_s, ZStreamDeleter> stream_;
  bool ok_ = true;
};

}  // namespace herald::ws
