#include "frontends/session/session_requests.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>

namespace herald::session {
namespace {

using namespace std::chrono_literals;

class SessionRequestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.Subscribe("svc", [](const Delivery&) {}).ok());  // never answers
  }
  void Ask(SessionRequests& r) {
    r.Start("svc", "x", 30s, {}, [this](Result<MessagePtr> out) {
      switch (out.status().code()) {
        case ErrorCode::kResourceExhausted:
          ++refused_;
          break;
        case ErrorCode::kCancelled:
          ++cancelled_;
          break;
        default:
          ++other_;
      }
    });
  }
  Broker broker_;
  std::atomic<int> refused_{0}, cancelled_{0}, other_{0};
};

TEST_F(SessionRequestsTest, AtMostTheBoundWaitAndTheRestAreRefusedAtOnce) {
  auto r = std::make_shared<SessionRequests>(broker_, 5);
  for (int i = 0; i < 12; ++i) Ask(*r);
  EXPECT_EQ(r->pending(), 5u);
  EXPECT_EQ(refused_.load(), 7);
  EXPECT_EQ(broker_.Stats().pending_requests, 5u);
  EXPECT_EQ(broker_.Stats().requests_refused, 7u);
}

TEST_F(SessionRequestsTest, CancelAllEndsEveryWaitingRequestAndLaterOnes) {
  auto r = std::make_shared<SessionRequests>(broker_, 100);
  for (int i = 0; i < 10; ++i) Ask(*r);
  r->CancelAll();
  EXPECT_EQ(cancelled_.load(), 10);
  EXPECT_EQ(r->pending(), 0u);
  EXPECT_EQ(broker_.Stats().pending_requests, 0u);
  Ask(*r);
  EXPECT_EQ(cancelled_.load(), 11);
  EXPECT_EQ(other_.load(), 0);
}

TEST_F(SessionRequestsTest, AnsweredRequestsGiveTheirPlaceBack) {
  auto r = std::make_shared<SessionRequests>(broker_, 2);
  for (int i = 0; i < 50; ++i) {
    r->Start("nobody.listens", "x", 1s, {}, [](Result<MessagePtr>) {});  // no_responders at once
  }
  EXPECT_EQ(r->pending(), 0u);
  Ask(*r);
  Ask(*r);
  EXPECT_EQ(r->pending(), 2u);
  EXPECT_EQ(refused_.load(), 0);
}

}  // namespace
}  // namespace herald::session
