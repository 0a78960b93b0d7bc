// herald/message.h — the immutable unit that flows through the broker.
//
// A Message is created once by Broker::Publish and then shared, never copied,
// by every subscriber that receives it (`MessagePtr` is a shared pointer to a
// const Message). Fronts that turn a message into wire bytes (a WebSocket
// frame, an SSE event) do it once per encoding with `EncodeOnce`, and every
// connection that needs that encoding writes the same bytes.
//
//   herald::MessagePtr m = ...;                  // from a delivery
//   constexpr int kMySlot = 0;                    // < kMaxEncodings, one per wire form
//   auto frame = m->EncodeOnce(kMySlot, [&] { return BuildFrame(*m); });
//
// Slot numbers are process-wide: Herald's fronts take all of theirs in
// base/encoding_slots.h (e.g. kWsJson, a WebSocket JSON frame), so a sink of a
// program that also runs herald::Server encodes without the cache.
//
// Encodings are cached only while the message is being fanned out: the
// broker pins a message for every delivery of it that is queued (see
// PinEncodings), and when the last one has been handed to its sinks the
// cache is emptied. A message kept in history therefore holds its fields
// only, not up to kMaxEncodings copies of its payload; the bytes already
// queued on connections stay alive through their own references.
//
// Thread rule: a Message may be read from any thread; EncodeOnce is safe to
// race (both callers get the same bytes; the loser's encoding is discarded).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
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
  // First, so that it shares a cache line with the shared_ptr control block
  // in front of the message (std::make_shared): the delivery threads that
  // move the reference count touch it at the same time.
  mutable std::atomic<uint32_t> pins_{0};

 public:
  // Encoding slots a process may use for cached wire forms (see EncodeOnce).
  static constexpr int kMaxEncodings = 8;

  Message() = default;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  ~Message() = default;

  std::string topic;
  std::string payload;
  std::string content_type;  // optional; e.g. "text/plain" or "application/octet-stream"
  std::string reply_to;      // set on requests: where the reply goes
  std::string msg_id;        // the publisher's id for it (PublishOptions::msg_id), or empty
  Headers headers;
  uint64_t epoch = 0;        // the topic's numbering epoch (see Broker::Resume)
  uint64_t offset = 0;       // 1, 2, 3 ... within the epoch; 0 for replies
  int64_t timestamp_us = 0;  // wall clock at sequencing, microseconds since the Unix epoch

  // Returns the encoding in `slot`, computing it with `encode()` (which
  // returns a std::string) unless a delivery in flight already did. `slot`
  // must be < kMaxEncodings. Unpinned (no delivery queued, e.g. a replay read
  // straight from history), the encoding is computed and not cached.
  template <typename Encode>
  SharedBytes EncodeOnce(int slot, Encode&& encode) const {
    if (pins_.load() == 0) return std::make_shared<const std::string>(encode());
    if (SharedBytes hit = Cached(slot)) return hit;
    SharedBytes fresh = std::make_shared<const std::string>(encode());
    if (SharedBytes first = StoreIfEmpty(slot, fresh)) return first;  // lost a race
    // The caller may not hold a pin itself: if the last one went meanwhile,
    // its sweep may have run before this store, so sweep again (all seq_cst:
    // either that sweep sees the filled bit or this load sees the unpin).
    if (pins_.load() == 0) DropEncodings();
    return fresh;
  }

  // Deliveries in flight. The broker pins once per queued delivery and
  // unpins when it has been handed to its sinks; the last unpin drops the
  // cached encodings.
  void PinEncodings() const { pins_.fetch_add(1); }
  void UnpinEncodings() const {
    if (pins_.fetch_sub(1) == 1) DropEncodings();
  }
  // Bytes of the encodings cached right now (tests, accounting).
  size_t CachedEncodingBytes() const;

 private:
  // The slots are guarded by a one-byte spin lock held only to copy or swap
  // a pointer (never while encoding or freeing).
  void Lock() const {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  void Unlock() const { locked_.store(false, std::memory_order_release); }
  SharedBytes Cached(int slot) const {
    Lock();
    SharedBytes hit = encoded_[slot];
    Unlock();
    return hit;
  }
  // Stores `fresh` unless the slot is taken; returns what took it, or null.
  SharedBytes StoreIfEmpty(int slot, const SharedBytes& fresh) const {
    Lock();
    SharedBytes first = encoded_[slot];
    if (!first) {
      encoded_[slot] = fresh;
      filled_.fetch_or(1u << slot);
    }
    Unlock();
    return first;
  }
  void DropEncodings() const;

  // Slots that may hold an encoding: a sweep with none to drop costs one
  // load, not the lock.
  mutable std::atomic<uint32_t> filled_{0};
  mutable std::atomic<bool> locked_{false};
  mutable std::array<SharedBytes, kMaxEncodings> encoded_{};
};

using MessagePtr = std::shared_ptr<const Message>;

}  // namespace herald
