// How what Redis servers hold of the work queues becomes the broker's
// queues: the newest definition wins, jobs of other incarnations and of
// names no longer defined are strays (deleted at open), jobs come by seq.
#include "store/redis/queue_records.h"

#include <gtest/gtest.h>

namespace herald::redis {
namespace {

QueueRecords::Job JobOf(uint64_t incarnation, uint64_t seq, const std::string& payload) {
  auto m = std::make_shared<Message>();
  m->topic = "jobs.a";
  m->payload = payload;
  QueueRecords::Job j;
  j.incarnation = incarnation;
  j.job.seq = seq;
  j.job.message = m;
  return j;
}

QueueOptions Named(const std::string& name) {
  QueueOptions q;
  q.name = name;
  q.pattern = "jobs.>";
  return q;
}

TEST(QueueRecords, AJobFieldIsItsIncarnationAndSeqAndNothingElseParses) {
  const std::string f = JobField(7, 1234567890123);
  EXPECT_EQ(f.size(), 16u);
  EXPECT_EQ(ParseJobField(f), std::make_pair(uint64_t{7}, uint64_t{1234567890123}));
  EXPECT_FALSE(ParseJobField("short"));
  EXPECT_FALSE(ParseJobField(f + "x"));
}

TEST(QueueRecords, ShardsJobsAreMergedBySeqAndOtherIncarnationsAreStrays) {
  QueueRecords a, b;
  a.definitions["work"] = {Named("work"), 7};
  b.definitions["work"] = {Named("work"), 7};
  a.names = b.names = {"work"};
  a.jobs["work"] = {JobOf(7, 3, "c"), JobOf(7, 1, "a")};
  b.jobs["work"] = {JobOf(7, 2, "b"), JobOf(6, 9, "old")};  // a publish raced a delete
  std::vector<QueueStrays> strays;
  std::vector<StoredQueue> queues = AssembleQueues({a, b}, strays);
  ASSERT_EQ(queues.size(), 1u);
  EXPECT_EQ(queues[0].incarnation, 7u);
  ASSERT_EQ(queues[0].jobs.size(), 3u);
  EXPECT_EQ(queues[0].jobs[0].message->payload, "a");
  EXPECT_EQ(queues[0].jobs[1].message->payload, "b");
  EXPECT_EQ(queues[0].jobs[2].message->payload, "c");
  ASSERT_EQ(strays.size(), 2u);
  EXPECT_TRUE(strays[0].empty());
  EXPECT_TRUE(strays[1].names.empty());
  EXPECT_EQ(strays[1].fields["work"], std::vector<std::string>{JobField(6, 9)});
}

TEST(QueueRecords, ANameDefinedNowhereIsAStrayOnEveryServerThatHoldsIt) {
  QueueRecords a, b;
  a.definitions["work"] = {Named("work"), 1};
  a.names = {"work", "gone"};
  b.names = {"gone"};
  b.jobs["gone"] = {JobOf(2, 1, "x")};
  std::vector<QueueStrays> strays;
  std::vector<StoredQueue> queues = AssembleQueues({a, b}, strays);
  ASSERT_EQ(queues.size(), 1u);
  EXPECT_EQ(queues[0].options.name, "work");
  EXPECT_EQ(strays[0].names, std::vector<std::string>{"gone"});
  EXPECT_EQ(strays[1].names, std::vector<std::string>{"gone"});
  EXPECT_TRUE(strays[1].fields.empty());  // its keys go with the name
}

// Shards that disagree (a create or delete that missed one, down then):
// which incarnation is newer cannot be told, so nothing of the name goes.
TEST(QueueRecords, WhenShardsDisagreeOnADefinitionNothingOfItIsDeleted) {
  QueueRecords a, b;
  a.definitions["work"] = {Named("work"), 9};
  b.definitions["work"] = {Named("work"), 4};
  a.names = b.names = {"work"};
  a.jobs["work"] = {JobOf(4, 1, "x")};
  b.jobs["work"] = {JobOf(4, 2, "y")};
  std::vector<QueueStrays> strays;
  std::vector<StoredQueue> queues = AssembleQueues({a, b}, strays);
  ASSERT_EQ(queues.size(), 1u);
  EXPECT_EQ(queues[0].incarnation, 9u);
  EXPECT_TRUE(queues[0].jobs.empty());
  EXPECT_TRUE(strays[0].empty());
  EXPECT_TRUE(strays[1].empty());
}

// A shard with a queue's jobs but no definition of it keeps them: another
// shard's definition owns them.
TEST(QueueRecords, JobsOnAShardWithoutTheDefinitionAreKept) {
  QueueRecords a, b;
  a.definitions["work"] = {Named("work"), 4};
  a.names = {"work"};
  b.jobs["work"] = {JobOf(4, 1, "x")};
  std::vector<QueueStrays> strays;
  std::vector<StoredQueue> queues = AssembleQueues({a, b}, strays);
  ASSERT_EQ(queues.size(), 1u);
  EXPECT_EQ(queues[0].jobs.size(), 1u);
  EXPECT_TRUE(strays[1].empty());
}

}  // namespace
}  // namespace herald::redis
