// bench/ws_loadgen/nats_parser.h — a streaming parser of the NATS client
// protocol as the server sends it (INFO, MSG, PING, PONG, +OK, -ERR). The
// byte stream may be split or coalesced across WebSocket frames in any way;
// MSG payloads are not buffered: the sink gets the first kKeep bytes and the
// full length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace herald::wsbench {

// Sink must provide:
//   void OnNatsMsg(const char* head, size_t head_len, uint64_t payload_len);
//   void OnNatsLine(std::string_view line);  // every other control line, no CRLF
template <class Sink, size_t kKeep>
class NatsParser {
 public:
  bool Feed(const char* p, size_t n, Sink& sink) {
    while (n > 0) {
      if (remaining_ == 0) {
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
        size_t take = nl ? static_cast<size_t>(nl - p) + 1 : n;
        line_.append(p, take);
        p += take;
        n -= take;
        if (line_.size() > 64 * 1024) return Fail("control line too long");
        if (!nl) continue;
        line_.pop_back();
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        if (!OnLine(sink)) return false;
        line_.clear();
        continue;
      }
      // Inside a MSG payload (plus its trailing CRLF).
      size_t take = static_cast<size_t>(std::min<uint64_t>(n, remaining_));
      uint64_t pos = payload_len_ + 2 - remaining_;
      if (pos < payload_len_ && head_len_ < kKeep) {
        size_t copy =
            static_cast<size_t>(std::min<uint64_t>({take, kKeep - head_len_, payload_len_ - pos}));
        std::memcpy(head_ + head_len_, p, copy);
        head_len_ += copy;
      }
      p += take;
      n -= take;
      remaining_ -= take;
      if (remaining_ == 0) sink.OnNatsMsg(head_, head_len_, payload_len_);
    }
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  bool Fail(const char* what) {
    error_ = what;
    return false;
  }
  bool OnLine(Sink& sink) {
    std::string_view line = line_;
    if (line.size() >= 4 && (line.substr(0, 4) == "MSG " || line.substr(0, 4) == "msg ")) {
      // MSG <subject> <sid> [reply-to] <#bytes>: the size is the last token.
      size_t sp = line.find_last_of(' ');
      uint64_t len = 0;
      std::string_view num = line.substr(sp + 1);
      if (num.empty()) return Fail("MSG without a size");
      for (char c : num) {
        if (c < '0' || c > '9') return Fail("bad MSG size");
        len = len * 10 + static_cast<uint64_t>(c - '0');
      }
      payload_len_ = len;
      remaining_ = len + 2;
      head_len_ = 0;
      return true;
    }
    if (!line.empty()) sink.OnNatsLine(line);
    return true;
  }

  std::string line_;
  uint64_t remaining_ = 0;
  uint64_t payload_len_ = 0;
  char head_[kKeep];
  size_t head_len_ = 0;
  std::string error_;
};

}  // namespace herald::wsbench
