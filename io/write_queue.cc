#include "io/write_queue.h"

#include <cassert>

namespace herald::io {

void WriteQueue::Push(SharedBuffer buffer) {
  if (!buffer || buffer->empty()) return;
  bytes_ += buffer->size();
  chunks_.push_back(Chunk{std::move(buffer)});
}

void WriteQueue::Push(std::string owned) {
  if (owned.empty()) return;
  // Into a heap object of its own: see the header on why bytes must not live
  // inside the Chunk.
  Push(MakeShared(std::move(owned)));
}

size_t WriteQueue::Gather(uv_buf_t* bufs, size_t max) const {
  size_t n = 0;
  size_t skip = front_offset_;
  for (auto it = chunks_.begin() + static_cast<std::ptrdiff_t>(head_);
       it != chunks_.end() && n < max; ++it, ++n) {
    std::string_view v = it->view().substr(skip);
    skip = 0;
    // libuv never writes through the base pointer; the cast is its API.
    bufs[n] = uv_buf_init(const_cast<char*>(v.data()), static_cast<unsigned>(v.size()));
  }
  return n;
}

void WriteQueue::Consume(size_t n) {
  assert(n <= bytes_);
  bytes_ -= n;
  while (n > 0) {
    const size_t left = chunks_[head_].view().size() - front_offset_;
    if (n < left) {
      front_offset_ += n;
      return;
    }
    n -= left;
    front_offset_ = 0;
    chunks_[head_++] = Chunk{};  // release the buffer now
  }
  if (head_ == chunks_.size()) {
    Reset();
  } else if (head_ >= 64 && head_ * 2 >= chunks_.size()) {
    chunks_.erase(chunks_.begin(), chunks_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

void WriteQueue::Reset() {
  // Drained: give the memory back. An idle connection then holds no queue
  // memory at all; a busy one pays one small allocation per flush, next to
  // the writev it makes anyway.
  std::vector<Chunk>().swap(chunks_);
  head_ = 0;
}

void WriteQueue::Clear() {
  std::vector<Chunk>().swap(chunks_);
  head_ = 0;
  front_offset_ = 0;
  bytes_ = 0;
}

}  // namespace herald::io
