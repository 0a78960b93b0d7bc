// herald/message.h — the immutable unit that flows through the broker.
//
// A Message is created once by Broker::Publish and then shared, never copied,
// by every subscriber that receives it (`MessagePtr` is a shared pointer to a
// const Message). Fronts that turn a message into wire bytes (a WebSocket
// frame, an SSE event) do it once per encoding with `EncodeOnce`, and every
// connection that needs that encoding writes the same bytes.
//
//   herald::MessagePtr m = ...;                  // from a delivery
//   auto frame = m->EncodeOnce(kWsTextSlot, [&] { return BuildFrame(*m); });
//
// Thread rule: a Message may be read from any thread; EncodeOnce is safe to
// race (both callers get the same bytes; the loser's encoding is discarded).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace herald {

struct Header {
  std::string name;
  std::string value;
};
using Headers = std::vector<Header>;

// Shared immutable bytes, as handed to many sockets at once.
using SharedBytes = std::shared_ptr<const std::string>;

class Message {
 public:
  // Encoding slots a process may use for cached wire forms (see EncodeOnce).
  static constexpr int kMaxEncodings = 8;

  Message() = default;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  ~Message();

  std::string topic;
  std::string payload;
  std::string content_type;  // optional; e.g. "text/plain" or "application/octet-stream"
  std::string reply_to;      // set on requests: where the reply goes
  Headers headers;
  uint64_t epoch = 0;        // the topic's numbering epoch (see Broker::Resume)
  uint64_t offset = 0;       // 1, 2, 3 ... within the epoch; 0 for replies
  int64_t timestamp_us = 0;  // wall clock at sequencing, microseconds since the Unix epoch
  bool from_peer = false;    // sequenced by another node of the cluster, received over a peer link

  // Returns the cached encoding in `slot`, computing it with `encode()` (which
  // returns a std::string) on first use. `slot` must be < kMaxEncodings.
  template <typename Encode>
  SharedBytes EncodeOnce(int slot, Encode&& encode) const {
    if (const SharedBytes* hit = encoded_[slot].load(std::memory_order_acquire)) return *hit;
    auto* fresh = new SharedBytes(std::make_shared<const std::string>(encode()));
    const SharedBytes* expected = nullptr;
    if (encoded_[slot].compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
      return *fresh;
    }
    delete fresh;
    return *expected;
  }

 private:
  mutable std::array<std::atomic<const SharedBytes*>, kMaxEncodings> encoded_{};
};

using MessagePtr = std::shared_ptr<const Message>;

}  // namespace herald
