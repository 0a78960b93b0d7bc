// SseStream catching up a topic known by hash only, whose owner (another
// node, here a stand-in ClusterHook) answers the history fetch only when the
// test says so: what arrives live meanwhile is held back, and every byte of
// it counts against the stream's outbound budget.
#include <mutex>

#include "broker/broker_cluster.h"
#include "frontends/sse/sse_stream.h"
#include "frontends/sse/topic_hash.h"
#include "herald/topic.h"
#include "tests/sse/sse_fixture.h"

namespace herald::sse::testing {
namespace {

using ::testing::HasSubstr;

// Topics under "far." belong to another node, which answers history
// fetches when Answer is called.
class SlowOwner final : public ClusterHook {
 public:
  uint64_t membership_generation() const override { return 1; }
  std::string OwnerOf(std::string_view topic) const override {
    return topic.starts_with("far.") ? "far" : "";
  }
  void Forward(const std::string&, MessagePtr, PublishCallback done) override {
    done(Status(ErrorCode::kUnavailable, "not in this test"));
  }
  bool RouteReply(std::string_view, MessagePtr) override { return false; }
  void FetchHistory(const std::string&, const std::string&, uint64_t, uint64_t,
                    HistoryCallback done) override {
    std::lock_guard lock(mu_);
    waiting_.push_back(std::move(done));
  }
  bool InterestChanged(const std::string&, const std::string&, bool) override { return false; }

  size_t waiting() {
    std::lock_guard lock(mu_);
    return waiting_.size();
  }
  void Answer(const ResumeResult& r) {
    std::vector<HistoryCallback> waiting;
    {
      std::lock_guard lock(mu_);
      waiting.swap(waiting_);
    }
    for (HistoryCallback& done : waiting) done(r);
  }

 private:
  std::mutex mu_;
  std::vector<HistoryCallback> waiting_;
};

constexpr uint64_t kEpoch = 7;
constexpr size_t kPayload = 8000;

MessagePtr Far(uint64_t offset, char fill = 'x') {
  auto m = std::make_shared<Message>();
  m->topic = "far.t";
  m->payload = std::string(kPayload, fill);
  m->epoch = kEpoch;
  m->offset = offset;
  return m;
}

class SseCatchUpTest : public herald::testing::LoopFixture {
 protected:
  void SetUp() override {
    LoopFixture::SetUp();
    peer_inbox_ = broker_->CreateInbox([] {});
    BrokerCluster::Attach(*broker_, &owner_, peer_inbox_);
  }
  void TearDown() override {
    loop_.Stop();
    BrokerCluster::Detach(*broker_);
    peer_inbox_.reset();
    LoopFixture::TearDown();
  }

  // A stream over "far.>" resuming from an id that knows "far.t" by hash
  // only, at offset 10: its first live message makes it fetch 11 on.
  OpenStream Open() {
    auto router = std::make_shared<http::Router>();
    router->Handle("GET", "/stream", [this](http::Request& req, http::Response res) {
      StreamPositions positions(options_.max_id_topics);
      positions.SeedHashed(
          {.topic = "", .epoch = kEpoch, .offset = 10, .hash = TopicHash("far.t")});
      auto stream = std::make_shared<SseStream>(*broker_, res, *req.loop, options_, stats_,
                                                StreamSpec{.patterns = {"far.>"}},
                                                std::move(positions), nullptr);
      ASSERT_TRUE(stream->Subscribe(inbox_, {}).ok());
      stream->Start();
    });
    OpenStream s = StartStream(ConnectHttp(router), "/stream");
    s.ReadUntil("retry: 2000\n");
    return s;
  }

  // The live messages `from`..`to` of "far.t", as the owner sends them.
  void Flood(uint64_t from, uint64_t to) {
    for (uint64_t o = from; o <= to; ++o)
      BrokerCluster::DeliverRemote(*broker_, Far(o), "far.>", "");
  }

  SlowOwner owner_;
  std::shared_ptr<Inbox> peer_inbox_;
  SseOptions options_;
  std::shared_ptr<SseStats> stats_ = std::make_shared<SseStats>();
};

TEST_F(SseCatchUpTest, AFloodDuringACatchUpIsHeldWithinTheBudgetAndTheRestReportedInOrder) {
  options_.outbound = {.max_bytes = 64 << 10, .policy = SlowConsumerPolicy::kDropWithGap};
  OpenStream s = Open();
  Flood(12, 12);
  ASSERT_TRUE(WaitFor([&] { return owner_.waiting() == 1; }));
  // 400 × 8 KB while the history fetch is out: 3.2 MB a stream of 64 KB
  // must not hold.
  Flood(13, 412);
  EXPECT_TRUE(WaitFor([&] { return broker_->Stats().dropped >= 350; }))
      << "dropped " << broker_->Stats().dropped;

  ResumeResult history;
  history.epoch = kEpoch;
  history.last_offset = 412;
  history.messages.push_back(Far(11, 'h'));
  owner_.Answer(history);
  // The budget was full of what was held: the history is reported missing
  // (in line, before the held messages), then the held messages go out,
  // then the gap for what was dropped while held.
  const std::string got = s.ReadUntil("\"to\":412");
  const size_t old = got.find("\"from\":11,\"to\":11");
  const size_t live = got.find(std::string(20, 'x'));
  const size_t gap = got.find("\"to\":412");
  ASSERT_NE(old, std::string::npos) << got.substr(0, 2000);
  ASSERT_NE(live, std::string::npos);
  EXPECT_LT(old, live);
  EXPECT_LT(live, gap);
  EXPECT_EQ(got.find(std::string(20, 'h')), std::string::npos);
  // Within the budget: 64 KB of 8 KB messages, and the one from history.
  EXPECT_LE(stats_->events_sent.load(), 10u);
  // Past the catch-up the stream is live again, its position after the gap.
  Flood(413, 413);
  EXPECT_THAT(s.ReadUntil("data: x"), HasSubstr("data: x"));
}

TEST_F(SseCatchUpTest, AFloodDuringACatchUpCutsAStreamThatMustNotDrop) {
  options_.outbound = {.max_bytes = 64 << 10, .policy = SlowConsumerPolicy::kDisconnect};
  OpenStream s = Open();
  Flood(12, 12);
  ASSERT_TRUE(WaitFor([&] { return owner_.waiting() == 1; }));
  Flood(13, 412);
  EXPECT_TRUE(WaitFor([&] { return stats_->slow_consumer_closes.load() == 1; }));
  EXPECT_EQ(broker_->Stats().slow_consumer_disconnects, 1u);
  EXPECT_TRUE(s.peer.ClosedWithin());
  owner_.Answer({});  // finds the stream gone
}

}  // namespace
}  // namespace herald::sse::testing
