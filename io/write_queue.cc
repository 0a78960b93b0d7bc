#include "io/write_queue.h"

#include <cassert>

namespace herald::io {

void WriteQueue::Push(SharedBuffer buffer) {
  if (!buffer || buffer->empty()) return;
  bytes_ += buffer->size();
  chunks_.push_back(Chunk{std::move(buffer), {}});
}

void WriteQueue::Push(std::string owned) {
  if (owned.empty()) return;
  bytes_ += owned.size();
  chunks_.push_back(Chunk{nullptr, std::move(owned)});
}

size_t WriteQueue::Gather(uv_buf_t* bufs, size_t max) const {
  size_t n = 0;
  size_t skip = front_offset_;
  for (auto it = chunks_.begin(); it != chunks_.end() && n < max; ++it, ++n) {
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
    const size_t left = chunks_.front().view().size() - front_offset_;
    if (n < left) {
      front_offset_ += n;
      return;
    }
    n -= left;
    front_offset_ = 0;
    chunks_.pop_front();
  }
}

void WriteQueue::Clear() {
  chunks_.clear();
  front_offset_ = 0;
  bytes_ = 0;
}

}  // namespace herald::io
