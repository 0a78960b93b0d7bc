// io/write_queue.h — outbound bytes of one connection, by reference.
//
// A queue of chunks that are either shared immutable buffers (one buffer
// handed to many connections: a fan-out message is encoded once and every
// subscriber's queue holds a reference, never a copy) or small owned strings
// (a response head). Gather() exposes the front of the queue as iovecs for one
// writev; Consume() drops what the kernel took.
//
//   WriteQueue q;
//   q.Push(shared_frame);           // no copy
//   q.Push(std::string("\r\n"));    // owned
//   uv_buf_t bufs[64];
//   size_t n = q.Gather(bufs, 64);  // iovecs point into the chunks
//   q.Consume(written);
//
// Gathered iovecs must stay valid until consumed — a uv_write in flight
// keeps pointing at them while more chunks are pushed, and the chunk vector
// reallocates. So every chunk's bytes live in a heap object the vector only
// points to: an owned string is moved into a SharedBuffer of its own (a
// short string's characters are stored inside the std::string object, and
// would move with it). Not thread-safe: one loop thread owns it.
#pragma once

#include <uv.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace herald::io {

// An immutable byte buffer shared by every connection that sends it.
using SharedBuffer = std::shared_ptr<const std::string>;

inline SharedBuffer MakeShared(std::string bytes) {
  return std::make_shared<const std::string>(std::move(bytes));
}

class WriteQueue {
 public:
  void Push(SharedBuffer buffer);
  void Push(std::string owned);

  // Bytes queued and not yet consumed (including any gathered for a write
  // still in flight).
  size_t bytes() const { return bytes_; }
  bool empty() const { return bytes_ == 0; }
  size_t chunks() const { return chunks_.size() - head_; }
  // What the queue costs in memory, near enough: its bytes plus each chunk's
  // bookkeeping (shared-pointer control block, string header, vector slot,
  // allocator headers). Many small chunks (pongs, command answers) cost about
  // twice their bytes, so limits on memory count this, not bytes().
  static constexpr size_t kChunkOverhead = 112;
  size_t footprint() const { return bytes_ + chunks() * kChunkOverhead; }

  // Fills up to `max` iovecs from the front of the queue; returns how many.
  size_t Gather(uv_buf_t* bufs, size_t max) const;
  // Drops `n` bytes from the front (n <= bytes()).
  void Consume(size_t n);
  void Clear();

 private:
  struct Chunk {
    SharedBuffer bytes;  // never null while queued
    std::string_view view() const { return *bytes; }
  };
  // Live chunks are chunks_[head_..]. A vector rather than a deque: an empty
  // one owns no memory, and most connections are idle most of the time
  // (std::deque allocates a 512-byte block as soon as it is constructed).
  void Reset();

  std::vector<Chunk> chunks_;
  size_t head_ = 0;
  size_t front_offset_ = 0;  // bytes of chunks_[head_] already written
  size_t bytes_ = 0;
};

}  // namespace herald::io
