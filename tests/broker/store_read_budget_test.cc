// The node-wide budget for history read from the store: what fits goes,
// the rest waits its turn in order, and freed bytes start the next.
#include "broker/store_read_budget.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herald {
namespace {

struct Recorder {
  std::vector<std::string> started;
  std::vector<StoreReadBudget::Charge> charges;
  StoreReadBudget::Start For(std::string name) {
    return [this, name](StoreReadBudget::Charge c) {
      started.push_back(name);
      charges.push_back(std::move(c));
    };
  }
  // Tries a read: started at once when it fits.
  void Try(StoreReadBudget& b, size_t bytes, std::string name) {
    StoreReadBudget::Start s = For(name);
    if (StoreReadBudget::Charge c = b.TryCharge(bytes, s)) s(std::move(c));
  }
  void RunReady(StoreReadBudget& b) {
    for (auto& [start, charge] : b.TakeReady()) start(std::move(charge));
  }
};

TEST(StoreReadBudget, WhatFitsGoesAtOnceAndTheRestWaitsInOrderForFreedBytes) {
  int signals = 0;
  StoreReadBudget b(3, [&] { ++signals; });
  Recorder r;
  r.Try(b, 1, "a");
  r.Try(b, 1, "b");
  r.Try(b, 1, "c");
  r.Try(b, 1, "d");
  r.Try(b, 1, "e");
  EXPECT_EQ(r.started, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(b.held(), 3u);
  EXPECT_EQ(b.waiting(), 2u);
  r.RunReady(b);
  EXPECT_EQ(r.started.size(), 3u);  // nothing was freed
  EXPECT_EQ(signals, 0);
  r.charges[0].reset();  // a's page delivered
  EXPECT_EQ(signals, 1);
  r.RunReady(b);
  EXPECT_EQ(r.started, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(b.waiting(), 1u);
  r.charges[1].reset();
  r.RunReady(b);
  EXPECT_EQ(r.started.back(), "e");
  r.charges.clear();
  EXPECT_EQ(b.held(), 0u);
}

TEST(StoreReadBudget, ALaterSmallReadDoesNotOvertakeOneThatWaits) {
  StoreReadBudget b(4, [] {});
  Recorder r;
  r.Try(b, 3, "big1");
  r.Try(b, 3, "big2");   // waits: 1 left
  r.Try(b, 1, "small");  // would fit, but big2 came first
  EXPECT_EQ(r.started, (std::vector<std::string>{"big1"}));
  r.charges.clear();
  r.RunReady(b);
  EXPECT_EQ(r.started, (std::vector<std::string>{"big1", "big2", "small"}));
}

TEST(StoreReadBudget, AReadLargerThanTheWholeBudgetGoesAloneWhenNothingIsHeld) {
  StoreReadBudget b(2, [] {});
  Recorder r;
  r.Try(b, 10, "huge");
  r.Try(b, 1, "next");
  EXPECT_EQ(r.started, (std::vector<std::string>{"huge"}));
  r.charges.clear();
  r.RunReady(b);
  EXPECT_EQ(r.started.back(), "next");
}

TEST(StoreReadBudget, AReplaysNextPageGoesBeforeReplaysNotYetBegun) {
  StoreReadBudget b(1, [] {});
  Recorder r;
  r.Try(b, 1, "a-page1");
  r.Try(b, 1, "b-page1");  // waits
  StoreReadBudget::Start next = r.For("a-page2");
  EXPECT_FALSE(b.TryCharge(1, next, StoreReadBudget::Turn::kFirst));  // waits, but first
  r.charges.clear();
  r.RunReady(b);
  EXPECT_EQ(r.started, (std::vector<std::string>{"a-page1", "a-page2"}));
  r.charges.clear();
  r.RunReady(b);
  EXPECT_EQ(r.started.back(), "b-page1");
}

TEST(StoreReadBudget, ANextPageThatFitsGoesAtOnceEvenWithReadsWaiting) {
  StoreReadBudget b(2, [] {});
  Recorder r;
  r.Try(b, 1, "a");
  r.Try(b, 2, "big");  // waits: 1 free
  StoreReadBudget::Start next = r.For("a-next");
  StoreReadBudget::Charge c = b.TryCharge(1, next, StoreReadBudget::Turn::kFirst);
  EXPECT_TRUE(c);
  EXPECT_EQ(b.held(), 2u);
}

TEST(StoreReadBudget, ARaisedBoundSignalsTheWaitingReadsAndALoweredOneKeepsWhatIsHeld) {
  int signals = 0;
  StoreReadBudget b(2, [&] { ++signals; });
  Recorder r;
  r.Try(b, 1, "a");
  r.Try(b, 1, "b");
  r.Try(b, 1, "c");  // waits: the budget is full
  b.set_max_bytes(1);
  EXPECT_EQ(signals, 0);    // lowered: nothing more fits
  EXPECT_EQ(b.held(), 2u);  // and nothing held is taken back
  r.Try(b, 1, "d");
  EXPECT_EQ(b.waiting(), 2u);
  r.charges[0].reset();  // a's page delivered: 1 held, which at 2 would let c go
  EXPECT_EQ(signals, 1);
  r.RunReady(b);
  EXPECT_EQ(r.started.size(), 2u);  // at 1, nothing fits beside b's page
  b.set_max_bytes(4);
  EXPECT_EQ(signals, 2);  // raised with reads waiting: their thread is told
  r.RunReady(b);
  EXPECT_EQ(r.started, (std::vector<std::string>{"a", "b", "c", "d"}));
  b.set_max_bytes(8);
  EXPECT_EQ(signals, 2);  // nothing waits: no signal
}

TEST(StoreReadBudget, ClosingDropsTheWaitingReadsRefusesNewOnesAndChargesMayOutliveIt) {
  Recorder r;
  {
    StoreReadBudget b(1, [] { ADD_FAILURE() << "signalled after Close"; });
    r.Try(b, 1, "a");
    r.Try(b, 1, "b");
    b.Close();
    EXPECT_EQ(b.waiting(), 0u);
    r.Try(b, 1, "c");  // refused: neither started nor queued
    EXPECT_EQ(b.waiting(), 0u);
  }
  EXPECT_EQ(r.started, (std::vector<std::string>{"a"}));
  r.charges.clear();  // a's charge, after the budget: no signal, no crash
}

}  // namespace
}  // namespace herald
