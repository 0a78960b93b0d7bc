// QueueBackfill alone: where each topic's history ends (the cut, first one
// wins, none once listed), and what a page of history gives.
#include "broker/queue_backfill.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

MessagePtr Msg(std::string topic, uint64_t epoch, uint64_t offset, int64_t ts = 0) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->epoch = epoch;
  m->offset = offset;
  m->timestamp_us = ts;
  return m;
}

std::vector<MessagePtr> Range(const std::string& topic, uint64_t epoch, uint64_t from,
                              uint64_t to) {
  std::vector<MessagePtr> out;
  for (uint64_t o = from; o <= to; ++o) out.push_back(Msg(topic, epoch, o));
  return out;
}

std::vector<uint64_t> TakeOffsets(QueueBackfill& bf) {
  std::vector<uint64_t> out;
  while (MessagePtr m = bf.PeekReady()) {
    out.push_back(m->offset);
    bf.PopReady();
  }
  return out;
}

TEST(QueueBackfill, TheFirstCutOfATopicWinsAndNoneIsTakenOnceListed) {
  QueueBackfill bf(INT64_MIN);
  EXPECT_TRUE(bf.cutting());
  bf.Cut("t", 7, 5);  // a publish made offset 5 a live job
  bf.Cut("t", 7, 9);  // the listing came later: changes nothing
  bf.Listed();
  EXPECT_FALSE(bf.cutting());
  bf.Cut("u", 1, 3);  // a topic seen after the listing: nothing to read
  std::optional<QueueBackfill::Read> r = bf.NextRead();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->topic, "t");
  EXPECT_EQ(r->cut, 5u);
  EXPECT_FALSE(bf.NextRead());  // one read at a time
  EXPECT_FALSE(bf.Page(*r, 7, 9, Range("t", 7, 1, 9), false));
  EXPECT_EQ(TakeOffsets(bf), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_FALSE(bf.NextRead());
  EXPECT_TRUE(bf.MarkFinished());
  EXPECT_FALSE(bf.MarkFinished());  // once
  EXPECT_EQ(bf.added(), 4u);
}

TEST(QueueBackfill, NothingIsReadBeforeTheListing) {
  QueueBackfill bf(INT64_MIN);
  bf.Cut("t", 1, 4);
  EXPECT_FALSE(bf.NextRead());
  EXPECT_FALSE(bf.Finished());
}

TEST(QueueBackfill, ATopicCutAtItsFirstOffsetHasNothingToRead) {
  QueueBackfill bf(INT64_MIN);
  bf.Cut("t", 1, 1);
  bf.Listed();
  EXPECT_FALSE(bf.NextRead());
  EXPECT_TRUE(bf.Finished());
}

TEST(QueueBackfill, PagesGoOnFromTheLastOffsetRead) {
  QueueBackfill bf(INT64_MIN);
  bf.Cut("t", 2, 11);
  bf.Listed();
  std::optional<QueueBackfill::Read> r = bf.NextRead();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->after, 0u);
  EXPECT_FALSE(bf.Page(*r, 2, 10, Range("t", 2, 3, 6), /*truncated=*/true));
  r = bf.NextRead();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->after, 6u);
  EXPECT_FALSE(bf.Page(*r, 2, 10, Range("t", 2, 7, 10), false));
  EXPECT_EQ(TakeOffsets(bf), (std::vector<uint64_t>{3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_TRUE(bf.Finished());
}

TEST(QueueBackfill, OffsetsBelowTheCutNotYetCommittedAreWaitedFor) {
  QueueBackfill bf(INT64_MIN);
  bf.Cut("t", 1, 8);  // 1..7 numbered; only 1..5 committed when read
  bf.Listed();
  std::optional<QueueBackfill::Read> r = bf.NextRead();
  EXPECT_TRUE(bf.Page(*r, 1, 5, Range("t", 1, 1, 5), false));
  EXPECT_FALSE(bf.Finished());
  r = bf.NextRead();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->after, 5u);
  EXPECT_FALSE(bf.Page(*r, 1, 7, Range("t", 1, 6, 7), false));
  EXPECT_EQ(TakeOffsets(bf), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_TRUE(bf.Finished());
}

TEST(QueueBackfill, ATopicThatLeftTheCutsEpochIsDone) {
  QueueBackfill bf(INT64_MIN);
  bf.Cut("t", 1, 8);
  bf.Cut("u", 1, 3);
  bf.Listed();
  std::optional<QueueBackfill::Read> r = bf.NextRead();
  ASSERT_EQ(r->topic, "t");
  EXPECT_FALSE(bf.Page(*r, 2, 4, Range("t", 2, 1, 4), false));  // a new epoch: all live
  r = bf.NextRead();
  ASSERT_EQ(r->topic, "u");
  EXPECT_TRUE(bf.Page(*r, 1, 1, Range("u", 1, 1, 1), false));  // 2 on its way...
  bf.TopicDone("u");                                           // ...and lost
  EXPECT_EQ(TakeOffsets(bf), (std::vector<uint64_t>{1}));
  EXPECT_TRUE(bf.Finished());
}

TEST(QueueBackfill, HistoryThatKeepsNothingEndsTheTopic) {
  QueueBackfill bf(INT64_MIN);
  bf.Cut("t", 1, 6);
  bf.Listed();
  std::optional<QueueBackfill::Read> r = bf.NextRead();
  EXPECT_FALSE(bf.Page(*r, 1, 5, {}, false));  // all committed, none kept
  EXPECT_TRUE(bf.Finished());
}

TEST(QueueBackfill, MessagesBeforeTheStartTimeOrAlreadyHeldAreSkipped) {
  QueueBackfill bf(/*since_us=*/100);
  bf.Cut("t", 1, 5);
  bf.Skip({{"t", 1, 3}});
  bf.Listed();
  std::optional<QueueBackfill::Read> r = bf.NextRead();
  std::vector<MessagePtr> page = {Msg("t", 1, 1, 50), Msg("t", 1, 2, 100), Msg("t", 1, 3, 150),
                                  Msg("t", 1, 4, 200)};
  EXPECT_FALSE(bf.Page(*r, 1, 4, page, false));
  EXPECT_EQ(TakeOffsets(bf), (std::vector<uint64_t>{2, 4}));
}

TEST(QueueBackfill, AFailedReadIsMadeAgain) {
  QueueBackfill bf(INT64_MIN);
  bf.Cut("t", 1, 3);
  bf.Listed();
  ASSERT_TRUE(bf.NextRead());
  bf.ReadFailed();
  std::optional<QueueBackfill::Read> r = bf.NextRead();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->after, 0u);
}

TEST(QueueBackfill, WhereItStandsIsSavedAndReadBackForARestart) {
  QueueBackfill bf(INT64_MIN);
  bf.Cut("t", 3, 10);
  bf.Cut("a name with spaces\nand a newline", 1, 5);
  bf.Cut("done", 1, 1);  // nothing to read: not saved
  bf.Listed();
  std::optional<QueueBackfill::Read> r = bf.NextRead();
  ASSERT_EQ(r->topic, "a name with spaces\nand a newline");
  EXPECT_FALSE(bf.Page(*r, 1, 4, Range(r->topic, 1, 1, 2), true));
  r = bf.NextRead();
  ASSERT_EQ(r->topic, "a name with spaces\nand a newline");
  EXPECT_FALSE(bf.Page(*r, 1, 4, Range(r->topic, 1, 3, 3), true));
  EXPECT_TRUE(bf.dirty());
  // 1 became a job; 2 and 3 were read and wait for room: saved as read up to 1.
  ASSERT_TRUE(bf.PeekReady());
  bf.PopReady();
  const std::string saved = bf.Encode();
  EXPECT_FALSE(bf.dirty());

  QueueBackfill again(INT64_MIN);
  ASSERT_TRUE(again.Restore(saved));
  EXPECT_FALSE(again.cutting());
  r = again.NextRead();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->topic, "a name with spaces\nand a newline");
  EXPECT_EQ((std::tuple{r->epoch, r->cut, r->after}), (std::tuple{1u, 5u, 1u}));
  EXPECT_FALSE(again.Page(*r, 1, 4, Range(r->topic, 1, 2, 4), false));
  r = again.NextRead();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->topic, "t");
  EXPECT_EQ((std::tuple{r->epoch, r->cut, r->after}), (std::tuple{3u, 10u, 0u}));
}

TEST(QueueBackfill, ADamagedSavedReadingIsRefusedAndChangesNothing) {
  for (std::string_view bad : {"", "backfill 2\n", "backfill 1\n1 2 3 9 short\n",
                               "backfill 1\n1 2 x 1 t\n", "backfill 1\n1 2 3 1 t"}) {
    QueueBackfill bf(INT64_MIN);
    EXPECT_FALSE(bf.Restore(bad)) << bad;
    EXPECT_TRUE(bf.cutting());
  }
}

}  // namespace
}  // namespace herald
