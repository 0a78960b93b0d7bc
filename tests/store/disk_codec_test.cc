#include "store/disk_codec.h"

#include <gtest/gtest.h>

#include "store/codec/bytes.h"
#include "store/codec/record_codec.h"

namespace herald::store {
namespace {

TEST(DiskCodec, MessageKeysSortByTopicThenEpochThenOffset) {
  EXPECT_LT(MessageKey("a", 1, 9), MessageKey("a", 1, 10));
  EXPECT_LT(MessageKey("a", 1, 1000), MessageKey("a", 2, 1));
  // Every key of "a" comes before any key of "a.b": one topic is one range.
  EXPECT_LT(MessageKey("a", ~0ull, ~0ull), MessageKey("a.b", 0, 0));
  EXPECT_LT(MessageKey("a", ~0ull, ~0ull), MessageKeyEnd("a"));
  EXPECT_LT(MessageKeyEnd("a"), MessageKey("a.b", 0, 0));
}

TEST(DiskCodec, AMessageKeyParsesBack) {
  const std::string key = MessageKey("orders.42", 7, 1234567);
  std::optional<MessagePosition> p = ParseMessageKey(key);  // views into `key`
  ASSERT_TRUE(p);
  EXPECT_EQ(p->topic, "orders.42");
  EXPECT_EQ(p->epoch, 7u);
  EXPECT_EQ(p->offset, 1234567u);
  EXPECT_FALSE(ParseMessageKey(HeadKey("orders.42")));
  EXPECT_FALSE(ParseMessageKey("m"));
}

TEST(DiskCodec, AppendsRunPerTopicAndRangeDeleteStartsRunNowhere) {
  const std::string a = MessageKey("orders.42", 7, 1);
  EXPECT_EQ(AppendRun(a), AppendRun(MessageKey("orders.42", 8, 99)));
  EXPECT_NE(AppendRun(a), AppendRun(MessageKey("orders.4", 7, 1)));
  EXPECT_EQ(AppendRun(HeadKey("orders.42")), HeadKey("orders.42"));
  // A trim's or a forget's range starts at epoch 0: it must get no hint.
  EXPECT_TRUE(AppendRun(MessageKey("orders.42", 0, 0)).empty());
  EXPECT_TRUE(AppendRun(MessageKeyEnd("orders.42")).empty());
  EXPECT_TRUE(AppendRun(DedupKey(5, "orders.42", "id")).empty());
  EXPECT_TRUE(AppendRun(MetaKey("run")).empty());
  EXPECT_TRUE(AppendRun("").empty());
}

TEST(DiskCodec, AMessageRoundTripsWithEveryField) {
  Message m;
  m.topic = "t";
  m.epoch = 3;
  m.offset = 4;
  m.timestamp_us = 1700000000123456;
  m.payload = std::string("bin\0ary\r\n", 9);
  m.content_type = "text/plain; charset=utf-8";
  m.reply_to = "_INBOX.n.abc";
  m.headers = {{"a", "1"}, {"Trace-Id", "xyz"}};
  const std::string value = EncodeMessage(m);
  Result<MessagePtr> back = DecodeMessage({"t", 3, 4}, value);
  ASSERT_TRUE(back.ok()) << back.status().message();
  const Message& b = **back;
  EXPECT_EQ(b.topic, "t");
  EXPECT_EQ(b.epoch, 3u);
  EXPECT_EQ(b.offset, 4u);
  EXPECT_EQ(b.timestamp_us, m.timestamp_us);
  EXPECT_EQ(b.payload, m.payload);
  EXPECT_EQ(b.content_type, m.content_type);
  EXPECT_EQ(b.reply_to, m.reply_to);
  ASSERT_EQ(b.headers.size(), 2u);
  EXPECT_EQ(b.headers[1].name, "Trace-Id");
  EXPECT_EQ(b.headers[1].value, "xyz");
}

TEST(DiskCodec, AMessageWrittenInTwoPartsIsTheSameValue) {
  // The disk store hands RocksDB what precedes the payload and the payload
  // apart; together they must be exactly the one encoding every store reads.
  Message m;
  m.timestamp_us = 42;
  m.payload = std::string("pay\0load", 8);
  m.content_type = "application/json";
  m.msg_id = "id-1";
  m.headers = {{"k", "v"}};
  EXPECT_EQ(EncodeMessageBeforePayload(m) + m.payload, EncodeMessage(m));
  m.payload.clear();
  EXPECT_EQ(EncodeMessageBeforePayload(m), EncodeMessage(m));
}

TEST(DiskCodec, EveryTruncationOfAValueIsReportedNotReadPast) {
  Message m;
  m.topic = "t";
  m.content_type = "text/plain";
  m.headers = {{"a", "1"}};
  const std::string value = EncodeMessage(m);
  // Cut anywhere before the payload (empty here): each is damage.
  for (size_t n = 0; n < value.size(); ++n) {
    Result<MessagePtr> r = DecodeMessage({"t", 1, 1}, std::string_view(value).substr(0, n));
    EXPECT_FALSE(r.ok()) << "cut at " << n;
  }
}

TEST(DiskCodec, AnUnknownFormatIsNamed) {
  Result<MessagePtr> r = DecodeMessage({"t", 1, 2}, std::string("\x09rest"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("format 9"), std::string::npos) << r.status().message();
}

TEST(DiskCodec, AHeadRoundTrips) {
  std::optional<Head> h = DecodeHead(EncodeHead({11, 22}));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->epoch, 11u);
  EXPECT_EQ(h->last_offset, 22u);
  EXPECT_FALSE(DecodeHead("short"));
}

TEST(DiskCodec, AQueueDefinitionRoundTripsWithItsStartAndReading) {
  QueueOptions q;
  q.name = "work";
  q.pattern = "jobs.>";
  q.backoff = {std::chrono::milliseconds(5), std::chrono::milliseconds(50)};
  q.dead_letter = "dead";
  ASSERT_TRUE(ParseQueueStart("2026-12-05T10:00:00.5Z", q).ok());
  Result<StoredQueue> back = DecodeQueue("work", EncodeQueue(q, 42, "backfill 1\n"));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->options, q);
  EXPECT_EQ(back->incarnation, 42u);
  EXPECT_EQ(back->backfill, "backfill 1\n");
  const std::string v = EncodeQueue(q, 42, {});
  for (size_t n = 0; n < v.size(); ++n) {
    EXPECT_FALSE(DecodeQueue("work", v.substr(0, n)).ok()) << n;
  }
}

TEST(DiskCodec, AQueueDefinitionOfTheFormatBeforeStartsIsReadAsStartingNew) {
  // Format 2, as the version before this one wrote it.
  std::string v(1, '\2');
  codec::PutU64(v, 7);
  codec::PutString(v, "jobs.>");
  codec::PutU64(v, 30000);
  codec::PutU32(v, 5);
  codec::PutU32(v, 0);
  codec::PutU32(v, 10000);
  codec::PutU32(v, 1000);
  codec::PutU64(v, 100000);
  codec::PutU64(v, 64u << 20);
  codec::PutString(v, "");
  Result<StoredQueue> q = DecodeQueue("work", v);
  ASSERT_TRUE(q.ok()) << q.status().message();
  EXPECT_EQ(q->options.start, QueueOptions::Start::kNew);
  EXPECT_EQ(q->options.pattern, "jobs.>");
  EXPECT_EQ(q->incarnation, 7u);
  EXPECT_TRUE(q->backfill.empty());
}

}  // namespace
}  // namespace herald::store
