// History holds what it is charged for: a message's cached wire encodings
// are dropped once its deliveries are done, and history_bytes counts the
// message's real footprint (defect 7 of issue 14).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "broker/memory_cost.h"
#include "broker/topic_history.h"
#include "test_support.h"

namespace herald {
namespace {

using testing::ManualInbox;

// A front-like sink: encodes every delivery in all slots, as WebSocket and
// SSE subscribers of every format together would, and counts the encodes.
class EncodingSink : public Sink {
 public:
  void OnDelivery(const Delivery& d) override {
    if (d.kind != Delivery::Kind::kMessage) return;
    for (int slot = 0; slot < Message::kMaxEncodings; ++slot) {
      held.push_back(d.message->EncodeOnce(slot, [&] {
        ++encodes;
        return std::string(d.message->payload.size(), 'e');
      }));
    }
  }
  int encodes = 0;
  std::vector<SharedBytes> held;  // the bytes a connection's queue would hold
};

TEST(HistoryMemory, EncodingsAreSharedDuringFanOutAndDroppedAfter) {
  Broker broker;
  ManualInbox in(broker);
  auto a = std::make_shared<EncodingSink>();
  auto b = std::make_shared<EncodingSink>();
  ASSERT_TRUE(broker.Subscribe("room.>", a, in.inbox).ok());
  ASSERT_TRUE(broker.Subscribe("room.1", b, in.inbox).ok());
  auto ack = broker.Publish("room.1", std::string(10000, 'p'));
  ASSERT_TRUE(ack.ok());
  in.inbox->Drain();
  // Two subscribers, one encode per slot: the cache worked while queued.
  EXPECT_EQ(a->encodes + b->encodes, Message::kMaxEncodings);
  ASSERT_EQ(a->held.size(), 8u);
  EXPECT_EQ(a->held[3].get(), b->held[3].get());

  auto r = broker.Resume("room.1", ack->epoch, 0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0]->CachedEncodingBytes(), 0u);  // history keeps no encodings
  EXPECT_EQ(*a->held[0], std::string(10000, 'e'));       // queued bytes still valid
}

TEST(HistoryMemory, ReplayFromHistoryDoesNotRecacheEncodings) {
  Broker broker;
  ManualInbox in(broker);
  auto ack = broker.Publish("room.1", std::string(1000, 'p'));
  ASSERT_TRUE(ack.ok());
  auto sink = std::make_shared<EncodingSink>();
  SubscribeOptions o;
  o.resume.push_back({"room.1", ack->epoch, 0});
  ASSERT_TRUE(broker.Subscribe("room.1", sink, in.inbox, o).ok());
  in.inbox->Drain();
  EXPECT_EQ(sink->encodes, Message::kMaxEncodings);
  auto r = broker.Resume("room.1", ack->epoch, 0);
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0]->CachedEncodingBytes(), 0u);
}

TEST(HistoryMemory, UnpinnedEncodeComputesWithoutCaching) {
  Message m;
  int calls = 0;
  auto encode = [&] {
    ++calls;
    return std::string("x");
  };
  m.EncodeOnce(0, encode);
  m.EncodeOnce(0, encode);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(m.CachedEncodingBytes(), 0u);
}

TEST(HistoryMemory, HistoryBytesCountTheWholeMessage) {
  Broker broker;
  const std::string payload(5000, 'p');
  PublishOptions o;
  o.content_type = "application/x-a-rather-long-content-type";
  o.headers = {{"x-trace-identifier", std::string(100, 'h')}};
  auto ack = broker.Publish("tenant.room.messages", payload, o);
  ASSERT_TRUE(ack.ok());
  auto r = broker.Resume("tenant.room.messages", ack->epoch, 0);
  ASSERT_EQ(r->messages.size(), 1u);
  const size_t cost = TopicHistory::Cost(*r->messages[0]);
  EXPECT_GE(cost, sizeof(Message) + payload.size() + 100 + 40 + 20);
  EXPECT_LE(cost, sizeof(Message) + payload.size() + 600);
  EXPECT_EQ(broker.Stats().history_bytes, cost + TopicHistory::kRingCost);
}

TEST(HistoryMemory, EmptyHistoryHoldsNoRing) {
  HistoryLimits limits;
  limits.max_messages = 2;
  TopicHistory h(limits);
  EXPECT_EQ(h.cost(), 0u);
  auto m = std::make_shared<Message>();
  m->payload = "x";
  h.Append(m);
  EXPECT_EQ(h.cost(), TopicHistory::Cost(*m) + TopicHistory::kRingCost);
  EXPECT_EQ(h.DropOldest(), TopicHistory::Cost(*m) + TopicHistory::kRingCost);
  EXPECT_EQ(h.cost(), 0u);
  EXPECT_TRUE(h.empty());
}

// The node-wide budget holds against the full cost: 200 messages of 10 KB
// with a 64 KiB budget leave at most 64 KiB charged, and RSS-relevant fields
// (not just payload bytes) are what is charged.
TEST(HistoryMemory, NodeBudgetBoundsTheFullCost) {
  BrokerOptions o;
  o.max_history_bytes = 64 << 10;
  Broker broker(o);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(broker.Publish("t", std::string(10000, 'p')).ok());
  BrokerStats s = broker.Stats();
  EXPECT_LE(s.history_bytes, size_t{64} << 10);
  EXPECT_EQ(s.history_messages, 6u);  // 6 x (10 KB + overhead) fit, 7 do not
}

// Deliveries on several threads pin, encode and unpin while another thread
// encodes the same messages unpinned (a replay from history): every caller
// gets the right bytes, and once all is delivered no message in history
// keeps an encoding, whatever the interleaving (also run under TSan).
TEST(HistoryMemory, ConcurrentPinnedAndUnpinnedEncodesLeaveNothingCached) {
  Broker broker;
  constexpr int kInboxes = 3;
  constexpr int kMessages = 2000;
  std::vector<ManualInbox> inboxes;
  std::vector<std::shared_ptr<EncodingSink>> sinks;
  for (int i = 0; i < kInboxes; ++i) {
    inboxes.emplace_back(broker);
    sinks.push_back(std::make_shared<EncodingSink>());
    ASSERT_TRUE(broker.Subscribe("race.>", sinks.back(), inboxes.back().inbox).ok());
  }
  std::atomic<bool> done{false};
  std::vector<std::thread> drainers;
  for (int i = 0; i < kInboxes; ++i) {
    drainers.emplace_back([&, i] {
      while (!done.load()) {
        inboxes[i].inbox->Drain();
        sinks[i]->held.clear();
      }
      inboxes[i].inbox->Drain();
      sinks[i]->held.clear();
    });
  }
  std::atomic<uint64_t> epoch{0};
  std::thread replayer([&] {
    while (!done.load()) {
      auto r = broker.Resume("race.t", epoch.load(), 0, 50);
      if (!r.ok()) continue;
      for (const MessagePtr& m : r->messages) {
        auto bytes = m->EncodeOnce(m->offset % Message::kMaxEncodings,
                                   [&] { return std::string(m->payload.size(), 'e'); });
        ASSERT_EQ(bytes->size(), m->payload.size());
      }
    }
  });
  for (int i = 0; i < kMessages; ++i) {
    auto ack = broker.Publish("race.t", std::string(100 + i % 50, 'p'));
    ASSERT_TRUE(ack.ok());
    epoch.store(ack->epoch);
  }
  done.store(true);
  for (auto& t : drainers) t.join();
  replayer.join();
  auto r = broker.Resume("race.t", epoch.load(), 0);
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->messages.empty());
  for (const MessagePtr& m : r->messages) ASSERT_EQ(m->CachedEncodingBytes(), 0u) << m->offset;
}

}  // namespace
}  // namespace herald
