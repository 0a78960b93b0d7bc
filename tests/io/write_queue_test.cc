#include "io/write_queue.h"

#include <gtest/gtest.h>

namespace herald::io {
namespace {

std::string Gathered(const WriteQueue& q) {
  uv_buf_t bufs[16];
  const size_t n = q.Gather(bufs, 16);
  std::string out;
  for (size_t i = 0; i < n; ++i) out.append(bufs[i].base, bufs[i].len);
  return out;
}

TEST(WriteQueue, GathersSharedBuffersByReference) {
  SharedBuffer frame = MakeShared("a frame shared by many connections");
  WriteQueue a, b;
  a.Push(frame);
  b.Push(frame);
  EXPECT_EQ(frame.use_count(), 3);  // the original and one per queue, no copy
  uv_buf_t buf;
  ASSERT_EQ(a.Gather(&buf, 1), 1u);
  EXPECT_EQ(buf.base, frame->data());  // the iovec points into the shared bytes
  a.Consume(a.bytes());
  EXPECT_EQ(frame.use_count(), 2);
}

TEST(WriteQueue, MixesOwnedAndSharedInOrder) {
  WriteQueue q;
  q.Push(std::string("head|"));
  q.Push(MakeShared("body|"));
  q.Push(std::string("tail"));
  EXPECT_EQ(q.bytes(), 14u);
  EXPECT_EQ(q.chunks(), 3u);
  EXPECT_EQ(Gathered(q), "head|body|tail");
}

TEST(WriteQueue, ConsumeHandlesPartialChunks) {
  WriteQueue q;
  q.Push(std::string("abc"));
  q.Push(std::string("defg"));
  q.Consume(2);
  EXPECT_EQ(Gathered(q), "cdefg");
  q.Consume(2);
  EXPECT_EQ(Gathered(q), "efg");
  EXPECT_EQ(q.chunks(), 1u);
  q.Consume(3);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.chunks(), 0u);
}

TEST(WriteQueue, IgnoresEmptyChunks) {
  WriteQueue q;
  q.Push(std::string());
  q.Push(MakeShared(""));
  q.Push(SharedBuffer());
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.chunks(), 0u);
}

TEST(WriteQueue, GatherStopsAtMax) {
  WriteQueue q;
  for (int i = 0; i < 10; ++i) q.Push(std::string(1, static_cast<char>('0' + i)));
  uv_buf_t bufs[4];
  EXPECT_EQ(q.Gather(bufs, 4), 4u);
}

// A uv_write in flight keeps the gathered iovecs while the connection queues
// more; growing the queue must not move the bytes they point at (a short
// owned string keeps its characters inside the std::string object).
TEST(WriteQueue, GatheredBytesStayPutWhileMoreIsQueued) {
  WriteQueue q;
  q.Push(std::string("1f4\r\n"));  // a chunk-size line: short, owned
  q.Push(std::string("\r\n"));
  uv_buf_t bufs[2];
  ASSERT_EQ(q.Gather(bufs, 2), 2u);
  for (int i = 0; i < 1000; ++i) q.Push(std::string("x"));  // the vector reallocates
  q.Consume(1);
  EXPECT_EQ(std::string_view(bufs[0].base, bufs[0].len), "1f4\r\n");
  EXPECT_EQ(std::string_view(bufs[1].base, bufs[1].len), "\r\n");
}

}  // namespace
}  // namespace herald::io
