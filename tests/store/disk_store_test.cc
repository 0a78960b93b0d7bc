// The disk store on its own: ordered completions, group commit, reopening
// with every topic's numbering and messages, trims, and the directories it
// refuses with an error that says what to do.
#include "herald/disk_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "store/store_dir.h"
#include "tests/store/scratch_dir.h"

namespace herald {
namespace {

using testing::ScratchDir;

MessagePtr Msg(std::string topic, uint64_t epoch, uint64_t offset, std::string payload = "p") {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->epoch = epoch;
  m->offset = offset;
  m->timestamp_us = 1000 + static_cast<int64_t>(offset);
  m->payload = std::move(payload);
  return m;
}

std::shared_ptr<HistoryStore> Open(const std::string& dir,
                                   DiskStoreOptions::Sync sync = DiskStoreOptions::Sync::kBatch,
                                   std::string boot_id = "boot-1") {
  DiskStoreOptions o;
  o.dir = dir;
  o.sync = sync;
  o.boot_id = std::move(boot_id);
  Result<std::shared_ptr<HistoryStore>> s = OpenDiskStore(o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? *s : nullptr;
}

// Appends and waits for every completion; returns the statuses in
// completion order, with the offsets they came for.
std::vector<std::pair<uint64_t, Status>> AppendAll(HistoryStore& store,
                                                   const std::vector<MessagePtr>& ms) {
  std::mutex mu;
  std::vector<std::pair<uint64_t, Status>> done;
  for (const MessagePtr& m : ms) {
    Status s = store.Append(m, [&mu, &done, off = m->offset](Status st) {
      std::lock_guard lock(mu);
      done.emplace_back(off, st);
    });
    EXPECT_TRUE(s.ok()) << s.message();
  }
  store.Drain();
  std::lock_guard lock(mu);
  return done;
}

// Reads and waits for the answer (the store's thread calls back).
Result<StoreRead> ReadNow(HistoryStore& store, std::string_view topic, uint64_t epoch,
                          uint64_t after, size_t max_messages = 1000, size_t max_bytes = 1 << 20) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<StoreRead>> got;
  Status s = store.Read(topic, epoch, after, max_messages, max_bytes, [&](Result<StoreRead> r) {
    std::lock_guard lock(mu);
    got.emplace(std::move(r));
    cv.notify_one();
  });
  if (!s.ok()) return s;
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return got.has_value(); });
  return std::move(*got);
}

std::vector<uint64_t> Offsets(const StoreRead& r) {
  std::vector<uint64_t> out;
  for (const MessagePtr& m : r.messages) out.push_back(m->offset);
  return out;
}

const StoredTopic* Find(const std::vector<StoredTopic>& ts, std::string_view name) {
  for (const StoredTopic& t : ts) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

TEST(DiskStore, CompletesAppendsInTheOrderTheyWereMade) {
  ScratchDir dir;
  auto store = Open(dir.path());
  std::vector<MessagePtr> ms;
  for (uint64_t i = 1; i <= 200; ++i) ms.push_back(Msg(i % 2 ? "a" : "b", 5, (i + 1) / 2));
  auto done = AppendAll(*store, ms);
  ASSERT_EQ(done.size(), ms.size());
  for (size_t i = 0; i < ms.size(); ++i) {
    EXPECT_EQ(done[i].first, ms[i]->offset) << i;
    EXPECT_TRUE(done[i].second.ok()) << done[i].second.message();
  }
  EXPECT_EQ(store->Stats().appends, 200u);
}

TEST(DiskStore, ReopeningGivesEveryTopicItsNumberingAndMessages) {
  ScratchDir dir;
  {
    auto store = Open(dir.path());
    EXPECT_TRUE(store->TakeTopics().empty());
    EXPECT_EQ(store->recovery().detail, "new store");
    std::vector<MessagePtr> ms;
    for (uint64_t i = 1; i <= 5; ++i) ms.push_back(Msg("orders", 42, i, "o" + std::to_string(i)));
    ms.push_back(Msg("orders.eu", 43, 1, "eu"));
    AppendAll(*store, ms);
  }
  auto store = Open(dir.path());
  EXPECT_TRUE(store->recovery().clean_shutdown);
  EXPECT_TRUE(store->recovery().complete);
  std::vector<StoredTopic> topics = store->TakeTopics();
  ASSERT_EQ(topics.size(), 2u);
  const StoredTopic* orders = Find(topics, "orders");
  ASSERT_TRUE(orders);
  EXPECT_EQ(orders->epoch, 42u);
  EXPECT_EQ(orders->last_offset, 5u);
  ASSERT_EQ(orders->messages.size(), 5u);
  EXPECT_EQ(orders->messages[0]->payload, "o1");
  EXPECT_EQ(orders->messages[4]->offset, 5u);
  EXPECT_EQ(orders->messages[4]->topic, "orders");
  const StoredTopic* eu = Find(topics, "orders.eu");
  ASSERT_TRUE(eu);
  EXPECT_EQ(eu->messages.at(0)->payload, "eu");
  // And it goes on from there.
  EXPECT_TRUE(AppendAll(*store, {Msg("orders", 42, 6)}).at(0).second.ok());
}

TEST(DiskStore, AnAppendThatDoesNotFollowIsRefusedAndItsCallbackKept) {
  ScratchDir dir;
  auto store = Open(dir.path());
  AppendAll(*store, {Msg("t", 5, 1), Msg("t", 5, 2)});
  bool called = false;
  HistoryStore::AppendCallback cb = [&](Status) { called = true; };
  Status gap = store->Append(Msg("t", 5, 4), std::move(cb));
  EXPECT_EQ(gap.code(), ErrorCode::kInternal);
  EXPECT_NE(gap.message().find("does not follow"), std::string::npos) << gap.message();
  ASSERT_TRUE(cb);  // not moved from: the caller still owns it
  EXPECT_EQ(store->Append(Msg("t", 4, 3), std::move(cb)).code(), ErrorCode::kInternal);
  EXPECT_EQ(store->Append(Msg("t", 6, 2), std::move(cb)).code(), ErrorCode::kInternal);
  // A newer epoch starts at 1; the same epoch goes on at 3.
  EXPECT_TRUE(store->Append(Msg("t", 6, 1), std::move(cb)).ok());
  store->Drain();
  EXPECT_TRUE(called);
  EXPECT_EQ(store->Stats().appends_refused, 3u);
}

TEST(DiskStore, ConcurrentAppendsAreCommittedInGroups) {
  ScratchDir dir;
  auto store = Open(dir.path(), DiskStoreOptions::Sync::kAlways);
  constexpr int kThreads = 8, kEach = 200;
  std::atomic<int> completed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 1; i <= kEach; ++i) {
        ASSERT_TRUE(store
                        ->Append(Msg("t" + std::to_string(t), 1, i),
                                 [&](Status s) {
                                   EXPECT_TRUE(s.ok());
                                   completed.fetch_add(1);
                                 })
                        .ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  store->Drain();
  EXPECT_EQ(completed.load(), kThreads * kEach);
  HistoryStoreStats s = store->Stats();
  EXPECT_EQ(s.appends, uint64_t{kThreads * kEach});
  // Appends that queue during one fsync share the next: fewer commits than
  // appends (each commit is one synced write).
  EXPECT_LT(s.commits, s.appends);
  EXPECT_EQ(s.syncs, s.commits);
}

TEST(DiskStore, TrimDropsOlderMessagesAndANewEpochMovesTheHead) {
  ScratchDir dir;
  {
    auto store = Open(dir.path());
    std::vector<MessagePtr> ms;
    for (uint64_t i = 1; i <= 10; ++i) ms.push_back(Msg("t", 7, i));
    AppendAll(*store, ms);
    store->Trim("t", 7, 8);
    // An empty new epoch for "u": its head says so before any message.
    AppendAll(*store, {Msg("u", 7, 1), Msg("u", 7, 2)});
    store->Trim("u", 9, 1);
    store->Drain();
  }
  auto store = Open(dir.path());
  std::vector<StoredTopic> topics = store->TakeTopics();
  const StoredTopic* t = Find(topics, "t");
  ASSERT_TRUE(t);
  ASSERT_EQ(t->messages.size(), 3u);
  EXPECT_EQ(t->messages.front()->offset, 8u);
  EXPECT_EQ(t->last_offset, 10u);
  const StoredTopic* u = Find(topics, "u");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->epoch, 9u);
  EXPECT_EQ(u->last_offset, 0u);
  EXPECT_TRUE(u->messages.empty());
}

// Retains and waits: the new first offset, or nullopt when the store said
// nothing was to go (it then never calls back; a read queued behind the
// retention shows it is done).
std::optional<uint64_t> RetainNow(HistoryStore& store, std::string_view topic, uint64_t epoch,
                                  const Retention& keep) {
  std::mutex mu;
  std::optional<uint64_t> first;
  store.Retain(topic, epoch, keep, [&](uint64_t f) {
    std::lock_guard lock(mu);
    first = f;
  });
  (void)ReadNow(store, topic, epoch, 0);  // the reader takes them in order
  store.Drain();                          // and the trim it queued is written
  std::lock_guard lock(mu);
  return first;
}

Retention Keep(uint64_t messages, uint64_t bytes = UINT64_MAX, int64_t min_stamp = 0) {
  return Retention{messages, bytes, min_stamp};
}

TEST(DiskStore, RetentionKeepsTheNewestByCountBytesAndAgeWithoutTheBrokerKnowingSizes) {
  ScratchDir dir;
  auto store = Open(dir.path());
  std::vector<MessagePtr> ms;
  // Stamps 1001..1020, payloads of 10 bytes.
  for (uint64_t i = 1; i <= 20; ++i) ms.push_back(Msg("t", 3, i, std::string(10, 'x')));
  AppendAll(*store, ms);
  EXPECT_EQ(RetainNow(*store, "t", 3, Keep(100)), std::nullopt);  // nothing over: no read
  EXPECT_EQ(RetainNow(*store, "t", 3, Keep(15)), 6u);             // by count
  EXPECT_EQ(RetainNow(*store, "t", 3, Keep(100, 100)), 11u);      // by bytes: 10 of 10 bytes
  EXPECT_EQ(RetainNow(*store, "t", 3, Keep(100, UINT64_MAX, 1014)), 14u);  // by age
  EXPECT_EQ(RetainNow(*store, "t", 2, Keep(1)), std::nullopt);             // not the topic's epoch
  EXPECT_EQ(Offsets(*ReadNow(*store, "t", 3, 0)),
            (std::vector<uint64_t>{14, 15, 16, 17, 18, 19, 20}));
  // Bytes are counted on: appends add, retention subtracts.
  AppendAll(*store, {Msg("t", 3, 21, std::string(30, 'y'))});
  EXPECT_EQ(RetainNow(*store, "t", 3, Keep(100, 60)), 18u);  // 18..20 (30) + 21 (30)
  EXPECT_EQ(RetainNow(*store, "t", 3, Keep(0)), 22u);        // everything
  EXPECT_TRUE(ReadNow(*store, "t", 3, 0)->messages.empty());
}

TEST(DiskStore, ReopeningReadsBackOnlyABoundedTailAndWhereHistoryStarts) {
  ScratchDir dir;
  {
    auto store = Open(dir.path());
    std::vector<MessagePtr> ms;
    for (uint64_t i = 1; i <= 100; ++i) ms.push_back(Msg("t", 4, i, std::string(100, 'x')));
    AppendAll(*store, ms);
    store->Trim("t", 4, 11);
    store->Drain();
  }
  DiskStoreOptions o;
  o.dir = dir.path();
  o.boot_id = "boot-1";
  o.tail_bytes = 1000;  // ten of them
  Result<std::shared_ptr<HistoryStore>> store = OpenDiskStore(o);
  ASSERT_TRUE(store.ok()) << store.status().message();
  std::vector<StoredTopic> topics = (*store)->TakeTopics();
  ASSERT_EQ(topics.size(), 1u);
  EXPECT_EQ(topics[0].first_offset, 11u);
  EXPECT_EQ(topics[0].last_offset, 100u);
  ASSERT_EQ(topics[0].messages.size(), 10u);
  EXPECT_EQ(topics[0].messages.front()->offset, 91u);
  // The rest is there to read, and retention knows its size: 90 × 100 bytes.
  EXPECT_EQ(ReadNow(**store, "t", 4, 10, 1000)->messages.size(), 90u);
  EXPECT_EQ(RetainNow(**store, "t", 4, Keep(1000, 8000)), 21u);
}

TEST(DiskStore, AReadGivesTheEpochsMessagesAfterAnOffsetAndNothingOfOtherTopics) {
  ScratchDir dir;
  auto store = Open(dir.path());
  std::vector<MessagePtr> ms;
  for (uint64_t i = 1; i <= 10; ++i) ms.push_back(Msg("t", 7, i, "t" + std::to_string(i)));
  ms.push_back(Msg("t.x", 7, 1));  // sorts right after "t"'s keys
  ms.push_back(Msg("s", 7, 1));    // and this one right before
  for (uint64_t i = 1; i <= 3; ++i) ms.push_back(Msg("t", 9, i));
  AppendAll(*store, ms);

  Result<StoreRead> r = ReadNow(*store, "t", 7, 3);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Offsets(*r), (std::vector<uint64_t>{4, 5, 6, 7, 8, 9, 10}));
  EXPECT_FALSE(r->truncated);
  EXPECT_EQ(r->messages[0]->payload, "t4");
  EXPECT_EQ(r->messages[0]->topic, "t");
  EXPECT_EQ(r->messages[0]->epoch, 7u);
  EXPECT_EQ(Offsets(*ReadNow(*store, "t", 9, 0)), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_TRUE(ReadNow(*store, "t", 7, 10)->messages.empty());
  EXPECT_TRUE(ReadNow(*store, "t", 8, 0)->messages.empty());
  EXPECT_TRUE(ReadNow(*store, "nothing", 7, 0)->messages.empty());
  EXPECT_EQ(store->Stats().reads, 5u);
}

TEST(DiskStore, AReadStopsAtItsLimitsButAlwaysReturnsOneMessage) {
  ScratchDir dir;
  auto store = Open(dir.path());
  std::vector<MessagePtr> ms;
  for (uint64_t i = 1; i <= 10; ++i) ms.push_back(Msg("t", 1, i, std::string(100, 'x')));
  AppendAll(*store, ms);
  Result<StoreRead> r = ReadNow(*store, "t", 1, 0, 3);
  EXPECT_EQ(Offsets(*r), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_TRUE(r->truncated);
  r = ReadNow(*store, "t", 1, 3, 1000, 250);  // two payloads fit, not three
  EXPECT_EQ(Offsets(*r), (std::vector<uint64_t>{4, 5}));
  EXPECT_TRUE(r->truncated);
  r = ReadNow(*store, "t", 1, 5, 1000, 10);  // smaller than one: still one
  EXPECT_EQ(Offsets(*r), (std::vector<uint64_t>{6}));
  EXPECT_TRUE(r->truncated);
  r = ReadNow(*store, "t", 1, 8, 2);  // exactly the rest: nothing more follows
  EXPECT_EQ(Offsets(*r), (std::vector<uint64_t>{9, 10}));
  EXPECT_FALSE(r->truncated);
}

TEST(DiskStore, AReadAfterATrimStartsAtTheFirstKeptMessage) {
  ScratchDir dir;
  auto store = Open(dir.path());
  std::vector<MessagePtr> ms;
  for (uint64_t i = 1; i <= 10; ++i) ms.push_back(Msg("t", 1, i));
  AppendAll(*store, ms);
  store->Trim("t", 1, 6);
  store->Drain();
  EXPECT_EQ(Offsets(*ReadNow(*store, "t", 1, 2)), (std::vector<uint64_t>{6, 7, 8, 9, 10}));
}

TEST(DiskStore, ReadsSeeEveryAppendCompletedBeforeThem) {
  ScratchDir dir;
  auto store = Open(dir.path());
  // Each read is made from the append's completion: what was acknowledged
  // is readable at once, while later appends are still being committed.
  std::mutex mu;
  std::vector<size_t> seen;
  std::atomic<int> reads{0};
  for (uint64_t i = 1; i <= 100; ++i) {
    ASSERT_TRUE(store
                    ->Append(Msg("t", 1, i),
                             [&, i](Status st) {
                               ASSERT_TRUE(st.ok());
                               Status r = store->Read("t", 1, 0, 1000, 1 << 20,
                                                      [&, i](Result<StoreRead> got) {
                                                        ASSERT_TRUE(got.ok());
                                                        std::lock_guard lock(mu);
                                                        if (got->messages.size() < i)
                                                          seen.push_back(i);
                                                        reads.fetch_add(1);
                                                      });
                               ASSERT_TRUE(r.ok()) << r.message();
                             })
                    .ok());
  }
  store->Drain();
  for (int spin = 0; spin < 5000 && reads.load() < 100; ++spin) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(reads.load(), 100);
  std::lock_guard lock(mu);
  EXPECT_TRUE(seen.empty()) << seen.size() << " reads missed an acknowledged append";
}

TEST(DiskStore, TooManyWaitingReadsAreRefusedAndTheirCallbackKept) {
  ScratchDir dir;
  DiskStoreOptions o;
  o.dir = dir.path();
  o.max_pending_reads = 0;
  auto store = *OpenDiskStore(o);
  bool called = false;
  HistoryStore::ReadCallback cb = [&called](Result<StoreRead>) { called = true; };
  Status s = store->Read("t", 1, 0, 10, 1 << 20, std::move(cb));
  EXPECT_EQ(s.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(s.message().find("max_pending_reads"), std::string::npos) << s.message();
  ASSERT_TRUE(cb);  // not moved from: the caller still has it
  EXPECT_FALSE(called);
  EXPECT_EQ(store->Stats().reads_refused, 1u);
}

TEST(DiskStore, AForgottenTopicIsGoneAfterReopening) {
  ScratchDir dir;
  {
    auto store = Open(dir.path());
    AppendAll(*store, {Msg("gone", 1, 1), Msg("kept", 1, 1)});
    store->Forget("gone");
    store->Drain();
  }
  auto store = Open(dir.path());
  std::vector<StoredTopic> topics = store->TakeTopics();
  ASSERT_EQ(topics.size(), 1u);
  EXPECT_EQ(topics[0].name, "kept");
}

TEST(DiskStore, AppendsOfInterleavedTopicsAroundAForgetInOneGroupKeepTheirMeaning) {
  // The writer puts a group's appends in key order; a forget among them
  // must still drop only what was appended before it.
  ScratchDir dir;
  {
    auto store = Open(dir.path());
    std::mutex mu;
    std::vector<uint64_t> done;
    const auto append = [&](const MessagePtr& m) {
      ASSERT_TRUE(store
                      ->Append(m,
                               [&mu, &done, off = m->offset](Status st) {
                                 EXPECT_TRUE(st.ok()) << st.message();
                                 std::lock_guard lock(mu);
                                 done.push_back(off);
                               })
                      .ok());
    };
    // Queued without waiting, so that they share groups.
    for (uint64_t i = 1; i <= 50; ++i) {
      append(Msg("c", 1, i, "c" + std::to_string(i)));
      append(Msg("b", 1, i, "old"));
      append(Msg("a", 1, i, "a" + std::to_string(i)));
    }
    store->Forget("b");
    for (uint64_t i = 1; i <= 5; ++i) append(Msg("b", 2, i, "b" + std::to_string(i)));
    store->Drain();
    EXPECT_EQ(done.size(), 155u);
  }
  auto store = Open(dir.path());
  std::vector<StoredTopic> topics = store->TakeTopics();
  for (const char* name : {"a", "c"}) {
    const StoredTopic* t = Find(topics, name);
    ASSERT_TRUE(t) << name;
    ASSERT_EQ(t->messages.size(), 50u) << name;
    for (uint64_t i = 1; i <= 50; ++i) {
      EXPECT_EQ(t->messages[i - 1]->payload, name + std::to_string(i));
    }
  }
  const StoredTopic* b = Find(topics, "b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->epoch, 2u);
  EXPECT_EQ(b->last_offset, 5u);
  ASSERT_EQ(b->messages.size(), 5u);
  EXPECT_EQ(b->messages[0]->payload, "b1");
  EXPECT_EQ(b->messages[4]->payload, "b5");
}

TEST(DiskStore, DrainWaitsForReadsAndRetentionsAsWellAsAppends) {
  // The broker drains the store as it shuts down: a read's or a retention's
  // callback that ran after it would touch a destroyed broker.
  ScratchDir dir;
  auto store = Open(dir.path());
  std::vector<MessagePtr> ms;
  for (uint64_t i = 1; i <= 10; ++i) ms.push_back(Msg("t", 1, i));
  AppendAll(*store, ms);
  std::atomic<bool> read_done{false}, retained{false};
  ASSERT_TRUE(store
                  ->Read("t", 1, 0, 100, 1 << 20,
                         [&](Result<StoreRead>) {
                           std::this_thread::sleep_for(std::chrono::milliseconds(100));
                           read_done = true;
                         })
                  .ok());
  store->Retain("t", 1, Retention{5, UINT64_MAX, 0}, [&](uint64_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    retained = true;
  });
  store->Drain();
  EXPECT_TRUE(read_done);
  EXPECT_TRUE(retained);
}

TEST(DiskStore, BoundsAsLargeAsTheirTypeNeitherWrapNorRefuseWhatFits) {
  ScratchDir dir;
  DiskStoreOptions o;
  o.dir = dir.path();
  o.boot_id = "boot-1";
  o.max_disk_bytes = UINT64_MAX;  // no quota: every append fits
  o.min_free_disk_bytes = 0;
  {
    auto store = OpenDiskStore(o);
    ASSERT_TRUE(store.ok());
    EXPECT_TRUE((*store)->Append(Msg("t", 1, 1), [](Status) {}).ok());
    (*store)->Drain();
  }
  // A reserve no disk has: refused, never wrapped around into "enough".
  o.min_free_disk_bytes = UINT64_MAX - 10;
  auto store = OpenDiskStore(o);
  ASSERT_TRUE(store.ok());
  Status s = (*store)->Append(Msg("t", 1, 2), [](Status) {});
  EXPECT_EQ(s.code(), ErrorCode::kResourceExhausted) << s.message();
}

TEST(DiskStore, AQueueOverItsBoundRefusesAtOnce) {
  ScratchDir dir;
  DiskStoreOptions o;
  o.dir = dir.path();
  o.max_queued_bytes = 1 << 16;
  auto store = *OpenDiskStore(o);
  // One append bigger than the whole bound can never be queued.
  HistoryStore::AppendCallback cb = [](Status) {};
  Status s = store->Append(Msg("t", 1, 1, std::string(1 << 17, 'x')), std::move(cb));
  EXPECT_EQ(s.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(s.message().find("max_queued_bytes"), std::string::npos) << s.message();
}

TEST(DiskStore, AtTheDiskQuotaAppendsAreRefusedAndResumeOnceTrimmedSpaceIsFreed) {
  ScratchDir dir;
  DiskStoreOptions o;
  o.dir = dir.path();
  o.max_disk_bytes = 1 << 20;
  auto store = *OpenDiskStore(o);
  Status refused;
  uint64_t offset = 0;
  // Incompressible payloads: the store's tables are compressed.
  uint64_t x = 88172645463325252ull;
  auto noise = [&x] {
    std::string p(4096, '\0');
    for (char& c : p) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      c = static_cast<char>(x);
    }
    return p;
  };
  // 4 KiB messages until the store says no (the figure it checks is
  // refreshed every 100 ms, hence the pauses).
  for (int i = 0; i < 5000 && refused.ok(); ++i) {
    HistoryStore::AppendCallback cb = [](Status) {};
    refused = store->Append(Msg("t", 1, offset + 1, noise()), std::move(cb));
    if (refused.ok()) ++offset;
    if (i % 16 == 15) {
      store->Drain();
      std::this_thread::sleep_for(std::chrono::milliseconds(110));
    }
  }
  ASSERT_FALSE(refused.ok()) << "never refused after " << offset << " appends";
  EXPECT_EQ(refused.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("max_disk_bytes"), std::string::npos) << refused.message();
  EXPECT_GE(store->Stats().disk_bytes, uint64_t{1} << 19);
  // Retention trims everything but the last message: once compacted, the
  // space is free again and appends are taken.
  store->Trim("t", 1, offset);
  store->Drain();
  bool taken = false;
  for (int i = 0; i < 200 && !taken; ++i) {
    HistoryStore::AppendCallback cb = [](Status) {};
    taken = store->Append(Msg("t", 1, offset + 1, "small"), std::move(cb)).ok();
    if (!taken) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(taken) << "still refused: " << store->Stats().disk_bytes << " bytes on disk";
}

TEST(DiskStore, ADirectoryRemovedUnderItFailsTheStoreSayingSo) {
  ScratchDir dir;
  auto store = Open(dir.path());
  ASSERT_TRUE(AppendAll(*store, {Msg("t", 1, 1)})[0].second.ok());
  std::filesystem::remove_all(dir.path());
  // The next measure of the directory (at most 100 ms after a commit)
  // finds it gone: appends are then refused, saying what happened, not
  // "0 bytes free" nor a RocksDB error about a missing log file.
  Status refused;
  uint64_t offset = 1;
  for (int i = 0; i < 100 && refused.ok(); ++i) {
    HistoryStore::AppendCallback cb = [](Status) {};
    refused = store->Append(Msg("t", 1, offset + 1), std::move(cb));
    if (refused.ok()) ++offset;
    store->Drain();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), ErrorCode::kUnavailable);
  EXPECT_NE(refused.message().find("the history store failed (its directory " + dir.path() +
                                   " cannot be used any more ("),
            std::string::npos)
      << refused.message();
  EXPECT_NE(refused.message().find("was it removed?"), std::string::npos) << refused.message();
}

// --- Directories it refuses --------------------------------------------------

std::string OpenError(const std::string& dir) {
  DiskStoreOptions o;
  o.dir = dir;
  Result<std::shared_ptr<HistoryStore>> s = OpenDiskStore(o);
  EXPECT_FALSE(s.ok()) << dir << " opened";
  return s.ok() ? "" : s.status().message();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::trunc) << content;
}

TEST(DiskStoreDirectory, ADirectoryInUseByAnotherStoreIsRefused) {
  ScratchDir dir;
  auto first = Open(dir.path());
  EXPECT_NE(OpenError(dir.path()).find("in use by another process"), std::string::npos);
}

TEST(DiskStoreDirectory, ANonEmptyDirectoryThatIsNotAStoreIsRefused) {
  ScratchDir dir;
  WriteFile(dir.Sub("notes.txt"), "mine");
  EXPECT_NE(OpenError(dir.path()).find("is not a Herald history store"), std::string::npos);
}

TEST(DiskStoreDirectory, AStoreOfANewerFormatIsRefusedWithWhatToRun) {
  ScratchDir dir;
  { Open(dir.path()); }
  WriteFile(dir.Sub("FORMAT"), "herald-history-store 999 rocksdb\n");
  const std::string e = OpenError(dir.path());
  EXPECT_NE(e.find("written by a newer Herald (store format 999"), std::string::npos) << e;
  EXPECT_NE(e.find("Run the version that wrote it"), std::string::npos) << e;
}

TEST(DiskStoreDirectory, AStoreOfAnotherEngineIsRefused) {
  ScratchDir dir;
  { Open(dir.path()); }
  WriteFile(dir.Sub("FORMAT"), "herald-history-store 1 sqlite\n");
  EXPECT_NE(OpenError(dir.path()).find("holds a 'sqlite' store"), std::string::npos);
}

TEST(DiskStoreDirectory, ADamagedFormatFileIsRefused) {
  ScratchDir dir;
  { Open(dir.path()); }
  WriteFile(dir.Sub("FORMAT"), "");
  EXPECT_NE(OpenError(dir.path()).find("FORMAT is damaged"), std::string::npos);
}

TEST(DiskStoreDirectory, AMissingDatabaseIsRefusedNotRecreatedEmpty) {
  ScratchDir dir;
  { Open(dir.path()); }
  std::filesystem::remove_all(dir.Sub("db"));
  EXPECT_NE(OpenError(dir.path()).find("its database (db/CURRENT) is missing"), std::string::npos);
}

TEST(DiskStoreDirectory, DamagedTableFilesAreRefusedWithHowToRecover) {
  ScratchDir dir;
  {
    DiskStoreOptions o;
    o.dir = dir.path();
    auto store = *OpenDiskStore(o);
    std::vector<MessagePtr> ms;
    for (uint64_t i = 1; i <= 2000; ++i) ms.push_back(Msg("t", 1, i, std::string(512, 'a')));
    AppendAll(*store, ms);
  }
  // Reopen and close twice so the log is flushed into table files, then
  // flip bytes in the middle of every table file.
  { Open(dir.path()); }
  bool damaged = false;
  for (const auto& f : std::filesystem::directory_iterator(dir.Sub("db"))) {
    if (f.path().extension() != ".sst" && f.path().extension() != ".log") continue;
    const auto size = std::filesystem::file_size(f.path());
    if (size < 4096) continue;
    std::fstream io(f.path(), std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(size / 2));
    io.write("garbage!garbage!garbage!", 24);
    damaged = true;
  }
  ASSERT_TRUE(damaged);
  const std::string e = OpenError(dir.path());
  EXPECT_NE(e.find("damaged"), std::string::npos) << e;
  EXPECT_NE(e.find("move it aside"), std::string::npos) << e;
}

// --- What opening tells about the last run -----------------------------------

TEST(DiskStoreRecovery, JudgesTheLastRunFromItsMarker) {
  using store::RunMarker;
  using Sync = DiskStoreOptions::Sync;
  EXPECT_TRUE(store::JudgeLastRun(std::nullopt, "b1").complete);  // new store
  EXPECT_TRUE(store::JudgeLastRun(RunMarker{true, Sync::kBatch, "b0"}, "b1").complete);
  StoreRecovery always = store::JudgeLastRun(RunMarker{false, Sync::kAlways, "b0"}, "b1");
  EXPECT_FALSE(always.clean_shutdown);
  EXPECT_TRUE(always.complete);
  // A crash of the process only: what it wrote was in the page cache.
  EXPECT_TRUE(store::JudgeLastRun(RunMarker{false, Sync::kBatch, "b1"}, "b1").complete);
  // The machine went down too: the last sync interval may be lost.
  StoreRecovery lost = store::JudgeLastRun(RunMarker{false, Sync::kBatch, "b0"}, "b1");
  EXPECT_FALSE(lost.complete);
  EXPECT_NE(lost.detail.find("new epoch"), std::string::npos) << lost.detail;
}

}  // namespace
}  // namespace herald
