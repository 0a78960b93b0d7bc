// The history store on Redis, used directly: what only it does beyond the
// contract every store keeps (tests/store/history_contract_test.cc).
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "herald/redis_store.h"
#include "herald/shared_history_store.h"
#include "tests/store/redis/store_calls.h"
#include "tests/support/redis_server.h"

namespace herald {
namespace {

using test::AppendNow;
using test::HeadNow;
using test::LoadNow;
using test::Make;
using test::ReadNow;
using test::RedisServer;

std::shared_ptr<HistoryStore> Open(const RedisServer& redis) {
  RedisStoreOptions o;
  o.port = redis.port();
  o.require_durable = false;  // the logic under test, not Redis's disk
  Result<std::shared_ptr<HistoryStore>> store = OpenRedisStore(o);
  EXPECT_TRUE(store.ok()) << store.status().message();
  return store.ok() ? *store : nullptr;
}

TEST(RedisStore, KeepsEveryFieldOfAMessageByteForByte) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  auto store = Open(*redis);
  ASSERT_TRUE(store);
  auto m = std::make_shared<Message>();
  m->topic = "orders.eu";
  m->epoch = 1'700'000'000'000'123;  // epochs are µs: past 2^50
  m->offset = 1;
  m->payload = std::string("bin\0\xff\r\n", 7);
  m->content_type = "application/octet-stream";
  m->reply_to = "_INBOX.1";
  m->msg_id = "order-1";
  m->headers = {{"trace", "abc"}, {"trace", "def"}};
  m->timestamp_us = 1'700'000'000'000'456;
  ASSERT_TRUE(AppendNow(*store, m).ok());

  Result<StoreRead> r = ReadNow(*store, "orders.eu", m->epoch, 0, 10, 1 << 20);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->messages.size(), 1u);
  const Message& got = *r->messages[0];
  EXPECT_EQ(got.epoch, m->epoch);
  EXPECT_EQ(got.offset, 1u);
  EXPECT_EQ(got.payload, m->payload);
  EXPECT_EQ(got.content_type, m->content_type);
  EXPECT_EQ(got.reply_to, m->reply_to);
  EXPECT_EQ(got.msg_id, m->msg_id);
  EXPECT_EQ(got.timestamp_us, m->timestamp_us);
  ASSERT_EQ(got.headers.size(), 2u);
  EXPECT_EQ(got.headers[1].name, "trace");
  EXPECT_EQ(got.headers[1].value, "def");
  // What redis-cli shows is the message itself.
  EXPECT_NE(redis->Call({"XRANGE", "herald:{orders.eu}:s", "-", "+"}).find("order-1"),
            std::string::npos);
}

TEST(RedisStore, AReadStopsAtItsCountOrItsBytesAndSaysMoreMayFollow) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  auto store = Open(*redis);
  ASSERT_TRUE(store);
  for (uint64_t i = 1; i <= 10; ++i)
    ASSERT_TRUE(AppendNow(*store, Make("t", 7, i, "0123456789")).ok());

  Result<StoreRead> by_count = ReadNow(*store, "t", 7, 2, 3, 1 << 20);
  ASSERT_TRUE(by_count.ok());
  ASSERT_EQ(by_count->messages.size(), 3u);
  EXPECT_EQ(by_count->messages[0]->offset, 3u);
  EXPECT_TRUE(by_count->truncated);

  // 25 bytes past the first: the first and two more.
  Result<StoreRead> by_bytes = ReadNow(*store, "t", 7, 0, 100, 25);
  ASSERT_TRUE(by_bytes.ok());
  EXPECT_EQ(by_bytes->messages.size(), 3u);
  EXPECT_TRUE(by_bytes->truncated);

  Result<StoreRead> rest = ReadNow(*store, "t", 7, 8, 100, 1 << 20);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->messages.size(), 2u);
  EXPECT_FALSE(rest->truncated);

  Result<StoreRead> other_epoch = ReadNow(*store, "t", 8, 0, 100, 1 << 20);
  ASSERT_TRUE(other_epoch.ok());
  EXPECT_TRUE(other_epoch->messages.empty());
}

TEST(RedisStore, ASecondWriterAtAPositionAlreadyTakenIsRefusedAndNothingIsOverwritten) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  auto a = Open(*redis);
  auto b = Open(*redis);  // another node, which believes the topic is new
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(AppendNow(*a, Make("t", 5, 1, "from a")).ok());
  Status refused = AppendNow(*b, Make("t", 5, 1, "from b"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), ErrorCode::kInternal);
  EXPECT_NE(refused.message().find("another writer"), std::string::npos) << refused.ToString();
  // An older epoch cannot restart the topic either.
  EXPECT_FALSE(AppendNow(*b, Make("t", 4, 1, "old epoch")).ok());
  Result<StoreRead> r = ReadNow(*a, "t", 5, 0, 10, 1 << 20);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0]->payload, "from a");
  EXPECT_EQ(b->Stats().append_errors, 1u);    // sent, and refused by Redis
  EXPECT_EQ(b->Stats().appends_refused, 1u);  // refused at once: it follows nothing
}

TEST(RedisStore, OpeningAnUnreachableRedisSaysWhichAndWhy) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  const int port = redis->port();
  redis.reset();  // nothing listens there now
  RedisStoreOptions o;
  o.port = port;
  o.connect_timeout = std::chrono::milliseconds(300);
  Result<std::shared_ptr<HistoryStore>> store = OpenRedisStore(o);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(store.status().message().find("redis 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << store.status().message();
  EXPECT_NE(store.status().message().find("Connection refused"), std::string::npos)
      << store.status().message();
}

TEST(RedisStore, DataThatIsNotAHeraldStoresIsRefusedAtOpen) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  EXPECT_EQ(redis->Call({"SADD", "herald:topics", "stray"}), "1");
  RedisStoreOptions o;
  o.port = redis->port();
  o.require_durable = false;
  Result<std::shared_ptr<HistoryStore>> store = OpenRedisStore(o);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("topic 'stray' has no head"), std::string::npos)
      << store.status().message();
  // Another prefix is another store: it opens, empty.
  o.prefix = "other";
  Result<std::shared_ptr<HistoryStore>> other = OpenRedisStore(o);
  ASSERT_TRUE(other.ok()) << other.status().message();
  EXPECT_TRUE((*other)->TakeTopics().empty());
}

TEST(RedisStore, ExpiredMessageIdsAreForgottenAndTheRestKept) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  {
    auto store = Open(*redis);
    ASSERT_TRUE(store);
    for (uint64_t i = 1; i <= 3; ++i) {
      auto m = std::make_shared<Message>();
      m->topic = "t";
      m->epoch = 9;
      m->offset = i;
      m->payload = "p";
      m->msg_id = "id-" + std::to_string(i);
      m->timestamp_us = static_cast<int64_t>(i) * 1000;
      ASSERT_TRUE(AppendNow(*store, m).ok());
    }
    store->ExpireIds(2500);  // ids 1 and 2 go
    store->Drain();
  }
  auto store = Open(*redis);
  ASSERT_TRUE(store);
  std::vector<StoredTopic> topics = store->TakeTopics();
  ASSERT_EQ(topics.size(), 1u);
  ASSERT_EQ(topics[0].ids.size(), 1u);
  EXPECT_EQ(topics[0].ids[0].msg_id, "id-3");
  EXPECT_EQ(topics[0].ids[0].offset, 3u);
  EXPECT_EQ(topics[0].last_offset, 3u);
  EXPECT_EQ(topics[0].messages.size(), 3u);
}

TEST(RedisStore, AFlushedScriptCacheFailsOneAppendAndTheNextConnectionLoadsTheScriptsAgain) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  auto store = Open(*redis);
  ASSERT_TRUE(store);
  ASSERT_TRUE(AppendNow(*store, Make("t", 3, 1, "a")).ok());
  EXPECT_EQ(redis->Call({"SCRIPT", "FLUSH"}), "OK");
  Status lost = AppendNow(*store, Make("t", 3, 2, "b"));
  ASSERT_FALSE(lost.ok());
  EXPECT_NE(lost.message().find("NOSCRIPT"), std::string::npos) << lost.ToString();
  // Its epoch takes nothing more (what Redis holds of it has no hole); a
  // new epoch goes on once the connection is made again.
  Status next = Status(ErrorCode::kInternal, "not tried");
  for (int i = 0; i < 500 && !next.ok(); ++i) {
    next = AppendNow(*store, Make("t", 4, 1, "c"));
    if (!next.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(next.ok()) << next.ToString();
  // The read connection lost its script too: one read fails, the next
  // connection loads it again.
  Result<StoreRead> r = ReadNow(*store, "t", 4, 0, 10, 1 << 20);
  for (int i = 0; i < 500 && !r.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    r = ReadNow(*store, "t", 4, 0, 10, 1 << 20);
  }
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0]->payload, "c");
}

TEST(RedisStore, ARedisThatCanLoseAcknowledgedWritesIsRefusedUnlessHistoryMayBeLost) {
  auto volatile_redis = RedisServer::Start({"--appendonly", "yes", "--appendfsync", "everysec"});
  ASSERT_TRUE(volatile_redis) << RedisServer::last_error();
  RedisStoreOptions o;
  o.port = volatile_redis->port();
  Result<std::shared_ptr<HistoryStore>> refused = OpenRedisStore(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("appendfsync everysec"), std::string::npos)
      << refused.status().message();
  o.require_durable = false;
  EXPECT_TRUE(OpenRedisStore(o).ok());

  auto durable = RedisServer::Start({"--appendonly", "yes", "--appendfsync", "always"});
  ASSERT_TRUE(durable) << RedisServer::last_error();
  RedisStoreOptions d;
  d.port = durable->port();
  Result<std::shared_ptr<HistoryStore>> store = OpenRedisStore(d);
  EXPECT_TRUE(store.ok()) << store.status().message();
}

TEST(RedisStore, AReadOfLargeMessagesFetchesNoMoreThanItsBudget) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  auto store = Open(*redis);
  ASSERT_TRUE(store);
  const std::string big(256 << 10, 'x');
  for (uint64_t i = 1; i <= 40; ++i) ASSERT_TRUE(AppendNow(*store, Make("t", 2, i, big)).ok());
  auto sent_by_redis = [&] {
    const std::string stats = redis->Call({"INFO", "stats"});
    const std::string key = "total_net_output_bytes:";
    return std::stoull(stats.substr(stats.find(key) + key.size()));
  };
  // 1,024 messages asked for, 1 MiB of budget: the first and four more
  // cross the wire, not 40 × 256 KiB.
  const uint64_t before = sent_by_redis();
  Result<StoreRead> r = ReadNow(*store, "t", 2, 0, 1024, 1 << 20);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->messages.size(), 5u);
  EXPECT_TRUE(r->truncated);
  const uint64_t sent = sent_by_redis() - before;
  EXPECT_LT(sent, uint64_t{2} << 20) << "a page fetched " << sent << " bytes";
}

TEST(RedisStore, ATrimMadeWhileRedisIsDownReachesItOnceItIsBack) {
  auto redis = RedisServer::Start({"--appendonly", "yes", "--appendfsync", "always"});
  ASSERT_TRUE(redis) << RedisServer::last_error();
  auto store = Open(*redis);
  ASSERT_TRUE(store);
  for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(AppendNow(*store, Make("t", 10, i, "old")).ok());
  redis->Kill();
  // The broker ends epoch 10 (say, an append whose reply was lost): Redis
  // must hear it, or a restart would bring epoch 10 back.
  store->Trim("t", 11, 1);
  ASSERT_TRUE(redis->Restart()) << RedisServer::last_error();
  uint64_t epoch = 0;
  for (int i = 0; i < 500 && epoch != 11; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto reader = Open(*redis);
    ASSERT_TRUE(reader);
    std::vector<StoredTopic> topics = reader->TakeTopics();
    ASSERT_EQ(topics.size(), 1u);
    epoch = topics[0].epoch;
  }
  EXPECT_EQ(epoch, 11u);
}

TEST(RedisStore, ALoadReadsTheHeadAnotherWriterLeftAndAppendsGoOnFromIt) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  auto a = Open(*redis);
  auto b = Open(*redis);  // the node that takes the topic over
  ASSERT_TRUE(a && b);
  Result<StoredTopic> none = LoadNow(*b, "t");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->epoch, 0u);  // never held
  for (uint64_t i = 1; i <= 5; ++i) {
    auto m = std::make_shared<Message>();
    m->topic = "t";
    m->epoch = 9;
    m->offset = i;
    m->payload = "m" + std::to_string(i);
    m->timestamp_us = 1'700'000'000'000'000;
    if (i == 3) m->msg_id = "order-3";
    ASSERT_TRUE(AppendNow(*a, m).ok());
  }

  Result<StoredTopic> head = LoadNow(*b, "t");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->epoch, 9u);
  EXPECT_EQ(head->last_offset, 5u);
  EXPECT_EQ(head->first_offset, 1u);
  ASSERT_EQ(head->messages.size(), 5u);
  EXPECT_EQ(head->messages.front()->payload, "m1");
  EXPECT_EQ(head->messages.back()->offset, 5u);
  ASSERT_EQ(head->ids.size(), 1u);
  EXPECT_EQ(head->ids[0].msg_id, "order-3");
  EXPECT_EQ(head->ids[0].offset, 3u);

  // The new writer continues the epoch; the old one is refused from then on.
  ASSERT_TRUE(AppendNow(*b, Make("t", 9, 6, "from b")).ok());
  Status late = AppendNow(*a, Make("t", 9, 6, "late from a"));
  EXPECT_FALSE(late.ok());
  Result<StoreRead> r = ReadNow(*b, "t", 9, 5, 10, 1 << 20);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0]->payload, "from b");
}

TEST(RedisStore, AHeadSaysWhereATopicIsWithoutTakingItsWritesFromItsWriter) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  auto writer = Open(*redis);
  auto reader = Open(*redis);  // a node resuming a client of a topic it does not own
  ASSERT_TRUE(writer && reader);
  Result<StoredTopic> none = HeadNow(*reader, "t");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->epoch, 0u);  // never held
  ASSERT_TRUE(AppendNow(*writer, Make("t", 9, 1, "m1")).ok());
  auto with_id = std::make_shared<Message>();
  with_id->topic = "t";
  with_id->epoch = 9;
  with_id->offset = 2;
  with_id->payload = "m2";
  with_id->timestamp_us = 1'700'000'000'000'000;
  with_id->msg_id = "order-2";
  ASSERT_TRUE(AppendNow(*writer, with_id).ok());
  writer->Trim("t", 9, 2);
  // Sent behind the trim on the same connection: once it completes, so has the trim.
  ASSERT_TRUE(AppendNow(*writer, Make("t", 9, 3, "m3")).ok());

  Result<StoredTopic> head = HeadNow(*reader, "t");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->name, "t");
  EXPECT_EQ(head->epoch, 9u);
  EXPECT_EQ(head->last_offset, 3u);
  EXPECT_EQ(head->first_offset, 2u);
  EXPECT_FALSE(head->epoch_unproven);
  EXPECT_TRUE(head->messages.empty());  // the head only: a resume reads what it needs
  EXPECT_TRUE(head->ids.empty());

  // The writer goes on: reading the head took nothing from it.
  ASSERT_TRUE(AppendNow(*writer, Make("t", 9, 4, "m4")).ok());
  Result<StoredTopic> later = HeadNow(*reader, "t");
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->last_offset, 4u);
  EXPECT_EQ(reader->Stats().reads, 3u);  // counted as reads, under max_pending_reads
}

TEST(RedisStore, ALoadAfterAFailedAppendLetsTheWriterGoOnInTheSameEpoch) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  auto a = Open(*redis);
  auto b = Open(*redis);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(AppendNow(*a, Make("t", 9, 1, "a1")).ok());
  ASSERT_TRUE(LoadNow(*b, "t").ok());
  ASSERT_TRUE(AppendNow(*b, Make("t", 9, 2, "b2")).ok());
  // a's view is stale: refused by Redis, then refused at once (its epoch failed).
  EXPECT_FALSE(AppendNow(*a, Make("t", 9, 2, "a2")).ok());
  EXPECT_FALSE(AppendNow(*a, Make("t", 9, 3, "a3")).ok());
  Result<StoredTopic> head = LoadNow(*a, "t");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->last_offset, 2u);
  EXPECT_TRUE(AppendNow(*a, Make("t", 9, 3, "a3")).ok());
}

TEST(RedisStore, AWriterThatNeverSawAnEpochCannotEndItWithANewerOne) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  auto a = Open(*redis);
  auto b = Open(*redis);
  ASSERT_TRUE(a && b);
  // Both loaded the topic while Redis held nothing of it.
  ASSERT_TRUE(LoadNow(*a, "t").ok());
  ASSERT_TRUE(LoadNow(*b, "t").ok());
  ASSERT_TRUE(AppendNow(*a, Make("t", 100, 1, "a1")).ok());
  // A newer epoch from b would drop a's acknowledged message: refused.
  Status refused = AppendNow(*b, Make("t", 200, 1, "b1"));
  EXPECT_FALSE(refused.ok());
  Result<StoreRead> r = ReadNow(*a, "t", 100, 0, 10, 1 << 20);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0]->payload, "a1");
}

TEST(RedisStore, WithReplicatedDurabilityAnAppendWaitsForAReplicaAndFailsWithoutOne) {
  // Synced through a file: at once, where a diskless sync waits 5 s.
  auto master = RedisServer::Start({"--repl-diskless-sync", "no"});
  ASSERT_TRUE(master) << RedisServer::last_error();
  auto replica = RedisServer::Start({"--replicaof", "127.0.0.1", std::to_string(master->port())});
  ASSERT_TRUE(replica) << RedisServer::last_error();
  // The master counts the replica (online: after its first ACK) before the
  // first WAIT asks for it.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until &&
         master->Call({"INFO", "replication"}).find("state=online") == std::string::npos)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  RedisStoreOptions o;
  o.port = master->port();
  o.require_durable = false;
  o.wait_replicas = 1;
  o.wait_timeout = std::chrono::milliseconds(300);
  Result<std::shared_ptr<HistoryStore>> opened = OpenRedisStore(o);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  HistoryStore& store = **opened;

  // Acknowledged: the replica has it.
  Status first = AppendNow(store, Make("t", 7, 1, "one"));
  ASSERT_TRUE(first.ok()) << first.ToString();
  EXPECT_EQ(replica->Call({"HGET", "herald:{t}:m", "o"}), "1");
  EXPECT_EQ(store.Stats().unreplicated, 0u);

  // With the replica gone, the append is written on the master but not
  // confirmed: it fails, saying so, after the wait.
  replica->Kill();
  const auto t0 = std::chrono::steady_clock::now();
  Status lone = AppendNow(store, Make("t", 7, 2, "two"));
  EXPECT_EQ(lone.code(), ErrorCode::kUnavailable) << lone.ToString();
  EXPECT_NE(lone.message().find("did not confirm the message on 1 replica(s) within 300 ms"),
            std::string::npos)
      << lone.message();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(250));
  EXPECT_EQ(store.Stats().unreplicated, 1u);
  EXPECT_EQ(master->Call({"HGET", "herald:{t}:m", "o"}), "2");  // the master holds it

  // Nor does a load answer while no replica confirms what it reads: its
  // message ids would answer a retry of "two" without a replica.
  Result<StoredTopic> unconfirmed = LoadNow(store, "t");
  ASSERT_FALSE(unconfirmed.ok());
  EXPECT_EQ(unconfirmed.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(unconfirmed.status().message().find("did not confirm what 't' holds on 1 replica(s)"),
            std::string::npos)
      << unconfirmed.status().message();

  // Nor a head: a resume would show "two", which a failover could take back.
  Result<StoredTopic> head_alone = HeadNow(store, "t");
  ASSERT_FALSE(head_alone.ok());
  EXPECT_NE(head_alone.status().message().find("did not confirm what 't' holds on 1 replica(s)"),
            std::string::npos)
      << head_alone.status().message();

  // Heads made while one waits for the replicas go behind one more WAIT,
  // not one each: Redis runs nothing behind a WAIT on that connection.
  auto waits = [&] {
    const std::string stats = master->Call({"INFO", "commandstats"});
    const size_t at = stats.find("cmdstat_wait:calls=");
    return at == std::string::npos ? 0 : std::stoul(stats.substr(at + 19));
  };
  const unsigned long waits_before = waits();
  auto* shared = dynamic_cast<SharedHistoryStore*>(&store);
  ASSERT_NE(shared, nullptr);
  std::vector<std::future<Result<StoredTopic>>> heads;
  for (int i = 0; i < 5; ++i) {
    auto done = std::make_shared<std::promise<Result<StoredTopic>>>();
    heads.push_back(done->get_future());
    ASSERT_TRUE(
        shared->Head("t", [done](Result<StoredTopic> r) { done->set_value(std::move(r)); }).ok());
  }
  for (auto& f : heads) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    Result<StoredTopic> r = f.get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  }
  EXPECT_LE(waits() - waits_before, 2u);

  ASSERT_TRUE(replica->Restart());
  const auto back = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < back &&
         master->Call({"INFO", "replication"}).find("state=online") == std::string::npos)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // The writer reads the head again, on the replica too now, and goes on.
  Result<StoredTopic> head = LoadNow(store, "t");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->last_offset, 2u);
  EXPECT_EQ(replica->Call({"HGET", "herald:{t}:m", "o"}), "2");
  Result<StoredTopic> confirmed = HeadNow(store, "t");
  ASSERT_TRUE(confirmed.ok()) << confirmed.status().ToString();
  EXPECT_EQ(confirmed->last_offset, 2u);
  ASSERT_TRUE(AppendNow(store, Make("t", 7, 3, "three")).ok());
  EXPECT_EQ(replica->Call({"HGET", "herald:{t}:m", "o"}), "3");
}

RedisStoreOptions Sharded(const std::vector<const RedisServer*>& servers,
                          const std::vector<std::string>& names) {
  RedisStoreOptions o;
  o.require_durable = false;
  for (size_t i = 0; i < servers.size(); ++i)
    o.shards.push_back({names[i], "127.0.0.1", servers[i]->port(), ""});
  return o;
}

TEST(RedisStore, ShardsKeepEachTopicOnOneServerAndAReopenFindsThemThere) {
  auto a = RedisServer::Start();
  auto b = RedisServer::Start();
  ASSERT_TRUE(a && b) << RedisServer::last_error();
  {
    Result<std::shared_ptr<HistoryStore>> store =
        OpenRedisStore(Sharded({a.get(), b.get()}, {"a", "b"}));
    ASSERT_TRUE(store.ok()) << store.status().message();
    for (int t = 0; t < 40; ++t)
      ASSERT_TRUE(AppendNow(**store, Make("t." + std::to_string(t), 7, 1, "x")).ok());
    EXPECT_EQ((*store)->Stats().appends, 40u);
  }
  // Each topic on exactly one of them, both used, and each server knows
  // which list of shards it belongs to.
  int on_a = 0, on_b = 0;
  for (int t = 0; t < 40; ++t) {
    const std::string meta = "herald:{t." + std::to_string(t) + "}:m";
    const bool in_a = a->Call({"EXISTS", meta}) == "1";
    const bool in_b = b->Call({"EXISTS", meta}) == "1";
    EXPECT_NE(in_a, in_b) << meta;
    on_a += in_a;
    on_b += in_b;
  }
  EXPECT_GT(on_a, 5);
  EXPECT_GT(on_b, 5);
  EXPECT_EQ(a->Call({"GET", "herald:shards"}), "a,b");
  EXPECT_EQ(b->Call({"GET", "herald:shards"}), "a,b");

  // The list in another order is the same list: every topic is found.
  Result<std::shared_ptr<HistoryStore>> again =
      OpenRedisStore(Sharded({b.get(), a.get()}, {"b", "a"}));
  ASSERT_TRUE(again.ok()) << again.status().message();
  std::vector<StoredTopic> topics = (*again)->TakeTopics();
  EXPECT_EQ(topics.size(), 40u);
  Result<StoreRead> r = ReadNow(**again, "t.3", 7, 0, 10, 1 << 20);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0]->payload, "x");
}

TEST(RedisStore, AShardWrittenUnderAnotherListOfShardsIsRefused) {
  auto a = RedisServer::Start();
  auto b = RedisServer::Start();
  auto c = RedisServer::Start();
  ASSERT_TRUE(a && b && c) << RedisServer::last_error();
  {
    Result<std::shared_ptr<HistoryStore>> store =
        OpenRedisStore(Sharded({a.get(), b.get()}, {"a", "b"}));
    ASSERT_TRUE(store.ok()) << store.status().message();
    ASSERT_TRUE(AppendNow(**store, Make("orders", 7, 1, "x")).ok());
  }
  // A third shard would move topics to it and leave their history behind.
  Result<std::shared_ptr<HistoryStore>> more =
      OpenRedisStore(Sharded({a.get(), b.get(), c.get()}, {"a", "b", "c"}));
  ASSERT_FALSE(more.ok());
  EXPECT_NE(more.status().message().find("was written as one of the shards [a,b], and this node "
                                         "names [a,b,c]"),
            std::string::npos)
      << more.status().message();
  EXPECT_EQ(c->Call({"GET", "herald:shards"}), "(nil)");  // the new one was not claimed
}

TEST(RedisStore, AListThatFailsOnOneShardClaimsNoneAndAShardAloneIsRefused) {
  auto a = RedisServer::Start();
  auto b = RedisServer::Start();
  auto gone = RedisServer::Start();
  ASSERT_TRUE(a && b && gone) << RedisServer::last_error();
  RedisStoreOptions three = Sharded({a.get(), b.get(), gone.get()}, {"a", "b", "c"});
  three.connect_timeout = std::chrono::milliseconds(200);
  gone->Kill();
  Result<std::shared_ptr<HistoryStore>> failed = OpenRedisStore(three);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("(shard 'c')"), std::string::npos)
      << failed.status().message();
  // Nothing was written under the list that failed: the right one opens.
  EXPECT_EQ(a->Call({"GET", "herald:shards"}), "(nil)");
  EXPECT_EQ(b->Call({"GET", "herald:shards"}), "(nil)");
  Result<std::shared_ptr<HistoryStore>> two =
      OpenRedisStore(Sharded({a.get(), b.get()}, {"a", "b"}));
  ASSERT_TRUE(two.ok()) << two.status().message();
  two->reset();
  // One shard opened as a whole store would see only its part.
  RedisStoreOptions alone;
  alone.port = a->port();
  alone.require_durable = false;
  Result<std::shared_ptr<HistoryStore>> single = OpenRedisStore(alone);
  ASSERT_FALSE(single.ok());
  EXPECT_NE(single.status().message().find("is one of the shards [a,b]"), std::string::npos)
      << single.status().message();
}

TEST(RedisStore, AServerHoldingTopicsTheShardsPutElsewhereIsRefused) {
  auto a = RedisServer::Start();
  auto b = RedisServer::Start();
  ASSERT_TRUE(a && b) << RedisServer::last_error();
  {
    // Written before it was a shard: its topics belong to no list.
    auto store = Open(*a);
    ASSERT_TRUE(store);
    for (int t = 0; t < 20; ++t)
      ASSERT_TRUE(AppendNow(*store, Make("t." + std::to_string(t), 7, 1, "x")).ok());
  }
  Result<std::shared_ptr<HistoryStore>> sharded =
      OpenRedisStore(Sharded({a.get(), b.get()}, {"a", "b"}));
  ASSERT_FALSE(sharded.ok());
  EXPECT_NE(sharded.status().message().find("(shard 'a') holds"), std::string::npos)
      << sharded.status().message();
  EXPECT_NE(sharded.status().message().find("that the shards [a,b] keep elsewhere"),
            std::string::npos)
      << sharded.status().message();
  EXPECT_EQ(a->Call({"GET", "herald:shards"}), "(nil)");
}

}  // namespace
}  // namespace herald
