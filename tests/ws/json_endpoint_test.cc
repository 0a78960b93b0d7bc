// JsonEndpoint (`/ws`, docs/PROTOCOL.md) on a real WsSession and loop: each
// command through a socket, its answer, and each refusal as an error on
// that connection only.
#include "frontends/ws/json_endpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/ws/ws_fixture.h"

namespace herald::ws::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

class JsonEndpointTest : public WsFixture {
 protected:
  JsonEndpointTest() { broker_options_.max_payload_bytes = 4096; }

  // Sends `command` and returns the next text answer.
  static std::string Ask(Peer& c, std::string_view command) {
    c.Send(Text(command));
    return ReadText(c);
  }
  // A string field's value in a JSON answer ("" when absent).
  static std::string Field(const std::string& json, std::string_view name) {
    const std::string key = "\"" + std::string(name) + "\":\"";
    const size_t at = json.find(key);
    if (at == std::string::npos) return "";
    const size_t from = at + key.size();
    return json.substr(from, json.find('"', from) - from);
  }
};

TEST_F(JsonEndpointTest, SubscribeIsConfirmedThenDeliversWhatIsPublished) {
  Peer c = OpenJson();
  EXPECT_THAT(Ask(c, R"({"op":"sub","id":"s1","topic":"orders.*"})"),
              HasSubstr(R"("op":"subscribed","id":"s1","topic":"orders.*")"));
  ASSERT_TRUE(broker_->Publish("orders.42", "paid").ok());
  const std::string m = ReadText(c);
  EXPECT_THAT(m, HasSubstr(R"("op":"msg","topic":"orders.42")"));
  EXPECT_THAT(m, HasSubstr(R"("payload":"paid")"));
}

TEST_F(JsonEndpointTest, SubscribingTwiceToOnePatternAndGroupIsIdempotent) {
  Peer c = OpenJson();
  EXPECT_THAT(Ask(c, R"({"op":"sub","id":1,"topic":"t"})"), HasSubstr(R"("op":"subscribed")"));
  EXPECT_THAT(Ask(c, R"({"op":"sub","id":2,"topic":"t"})"), HasSubstr(R"("op":"subscribed")"));
  ASSERT_TRUE(broker_->Publish("t", "once").ok());
  ASSERT_TRUE(broker_->Publish("t", "marker").ok());
  EXPECT_THAT(ReadText(c), HasSubstr(R"("payload":"once")"));
  EXPECT_THAT(ReadText(c), HasSubstr(R"("payload":"marker")"));  // not "once" again
}

TEST_F(JsonEndpointTest, AMessageMatchingTwoSubscriptionsIsSentOnce) {
  Peer c = OpenJson();
  Ask(c, R"({"op":"sub","topic":"a.*"})");
  Ask(c, R"({"op":"sub","topic":"a.b"})");
  ASSERT_TRUE(broker_->Publish("a.b", "one").ok());
  ASSERT_TRUE(broker_->Publish("a.c", "two").ok());
  EXPECT_THAT(ReadText(c), HasSubstr(R"("payload":"one")"));
  EXPECT_THAT(ReadText(c), HasSubstr(R"("payload":"two")"));
}

TEST_F(JsonEndpointTest, UnsubscribeIsConfirmedAndStopsDeliveries) {
  Peer c = OpenJson();
  Ask(c, R"({"op":"sub","topic":"t"})");
  Ask(c, R"({"op":"sub","topic":"other"})");
  EXPECT_THAT(Ask(c, R"({"op":"unsub","id":"u","topic":"t"})"),
              HasSubstr(R"("op":"unsubscribed","id":"u","topic":"t")"));
  ASSERT_TRUE(broker_->Publish("t", "not for you").ok());
  ASSERT_TRUE(broker_->Publish("other", "marker").ok());
  EXPECT_THAT(ReadText(c), HasSubstr(R"("payload":"marker")"));
}

TEST_F(JsonEndpointTest, UnsubscribeOfAnUnknownSubscriptionIsNotFound) {
  Peer c = OpenJson();
  const std::string e = Ask(c, R"({"op":"unsub","id":9,"topic":"never","group":"g"})");
  EXPECT_THAT(e, HasSubstr(R"("op":"error","id":9,"code":"not_found")"));
  EXPECT_THAT(e, HasSubstr("not subscribed to 'never' in group 'g'"));
}

TEST_F(JsonEndpointTest, QueueGroupMembersOnOneWorkerShareTheMessages) {
  Peer a = OpenJson();
  Peer b = OpenJson();
  Ask(a, R"({"op":"sub","topic":"jobs","group":"w"})");
  Ask(b, R"({"op":"sub","topic":"jobs","group":"w"})");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(broker_->Publish("jobs", std::to_string(i)).ok());
  int got = 0;
  while (got < 10 && (ReadText(a, 200ms).find(R"("op":"msg")") != std::string::npos)) ++got;
  while (got < 10 && (ReadText(b, 200ms).find(R"("op":"msg")") != std::string::npos)) ++got;
  EXPECT_EQ(got, 10);  // each exactly once across the group
  EXPECT_EQ(a.ReadFor(50ms) + b.ReadFor(50ms), "");
}

TEST_F(JsonEndpointTest, PublishWithAnIdIsAcknowledgedWithItsPlace) {
  Peer c = OpenJson();
  const std::string ack = Ask(c, R"({"op":"pub","id":"p1","topic":"t","payload":"x"})");
  EXPECT_THAT(ack, HasSubstr(R"("op":"ack","id":"p1")"));
  EXPECT_THAT(ack, HasSubstr(R"("offset":1)"));
  EXPECT_THAT(Ask(c, R"({"op":"pub","id":"p2","topic":"t","payload":"y"})"),
              HasSubstr(R"("offset":2)"));
}

TEST_F(JsonEndpointTest, PublishWithoutAnIdIsNotAnswered) {
  Peer c = OpenJson();
  c.Send(Text(R"({"op":"pub","topic":"t","payload":"x"})"));
  EXPECT_THAT(Ask(c, R"({"op":"ping","id":1})"), HasSubstr(R"("op":"pong","id":1)"));
}

TEST_F(JsonEndpointTest, PublishToAnInvalidTopicIsInvalidTopicWithTheId) {
  Peer c = OpenJson();
  EXPECT_THAT(Ask(c, R"({"op":"pub","id":"p","topic":"a..b","payload":"x"})"),
              HasSubstr(R"("op":"error","id":"p","code":"invalid_topic")"));
}

TEST_F(JsonEndpointTest, PayloadOverTheBrokerLimitIsPayloadTooLarge) {
  Peer c = OpenJson();
  const std::string big(5000, 'x');
  EXPECT_THAT(Ask(c, R"({"op":"pub","id":1,"topic":"t","payload":")" + big + "\"}"),
              HasSubstr(R"("code":"payload_too_large")"));
}

TEST_F(JsonEndpointTest, MalformedJsonIsInvalidArgumentAndTheConnectionStaysOpen) {
  Peer c = OpenJson();
  EXPECT_THAT(Ask(c, R"({"op":"sub","topic":)"), HasSubstr(R"("code":"invalid_argument")"));
  EXPECT_THAT(Ask(c, R"({"op":"dance","id":3})"),
              HasSubstr(R"("op":"error","id":3,"code":"invalid_argument")"));
  EXPECT_THAT(Ask(c, R"({"op":"ping","id":4})"), HasSubstr(R"("op":"pong","id":4)"));
}

TEST_F(JsonEndpointTest, BinaryFrameIsClosedWith1003) {
  Peer c = OpenJson();
  c.Send(ClientFrame(kBinary, "\x01\x02"));
  ServerFrame f = ReadFrame(c);
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_EQ(f.close_code(), 1003);
  EXPECT_THAT(f.close_reason(), HasSubstr("payload_b64"));
}

TEST_F(JsonEndpointTest, SubscribeWithoutTheGrantIsPermissionDenied) {
  Peer c = OpenJson(Granted({}, {"public.>"}));
  EXPECT_THAT(
      Ask(c, R"({"op":"sub","id":1,"topic":"secret.x"})"),
      HasSubstr(
          R"("code":"permission_denied","message":"permission denied: subscribe to 'secret.x'")"));
  EXPECT_THAT(Ask(c, R"({"op":"sub","id":2,"topic":"public.x"})"),
              HasSubstr(R"("op":"subscribed")"));
}

TEST_F(JsonEndpointTest, PublishAndRequestWithoutTheGrantArePermissionDenied) {
  Peer c = OpenJson(Granted({"mine"}, {}));
  EXPECT_THAT(Ask(c, R"({"op":"pub","id":1,"topic":"theirs","payload":"x"})"),
              HasSubstr("permission denied: publish to 'theirs'"));
  EXPECT_THAT(Ask(c, R"({"op":"req","id":2,"topic":"theirs","payload":"x"})"),
              HasSubstr("permission denied: request on 'theirs'"));
  EXPECT_THAT(Ask(c, R"({"op":"pub","id":3,"topic":"mine","payload":"x"})"),
              HasSubstr(R"("op":"ack")"));
}

TEST_F(JsonEndpointTest, RequestIsAnsweredWithTheRespondersReply) {
  Peer responder = OpenJson();
  Peer client = OpenJson();
  Ask(responder, R"({"op":"sub","topic":"svc.echo"})");
  client.Send(Text(R"({"op":"req","id":"r1","topic":"svc.echo","payload":"hello"})"));
  const std::string req = ReadText(responder);
  EXPECT_THAT(req, HasSubstr(R"("payload":"hello")"));
  const std::string inbox = Field(req, "reply_to");
  ASSERT_THAT(inbox, HasSubstr("_INBOX."));
  responder.Send(Text(R"({"op":"reply","to":")" + inbox + R"(","payload":"HELLO"})"));
  const std::string reply = ReadText(client);
  EXPECT_THAT(reply, HasSubstr(R"("op":"reply","id":"r1")"));
  EXPECT_THAT(reply, HasSubstr(R"("payload":"HELLO")"));
  // One reply per delivered request: a second one is refused.
  EXPECT_THAT(Ask(responder, R"({"op":"reply","id":2,"to":")" + inbox + R"(","payload":"again"})"),
              HasSubstr(R"("code":"permission_denied")"));
}

TEST_F(JsonEndpointTest, RequestWithNoResponderIsNoResponders) {
  Peer c = OpenJson();
  EXPECT_THAT(Ask(c, R"({"op":"req","id":1,"topic":"nobody.home","payload":"?"})"),
              HasSubstr(R"("op":"error","id":1,"code":"no_responders")"));
}

TEST_F(JsonEndpointTest, RequestThatNobodyAnswersTimesOut) {
  Peer responder = OpenJson();
  Peer c = OpenJson();
  Ask(responder, R"({"op":"sub","topic":"slow"})");
  EXPECT_THAT(Ask(c, R"({"op":"req","id":1,"topic":"slow","payload":"?","timeout_ms":50})"),
              HasSubstr(R"("op":"error","id":1,"code":"timeout")"));
}

TEST_F(JsonEndpointTest, ReplyToAnInboxNeverDeliveredIsPermissionDenied) {
  Peer c = OpenJson();
  const std::string e = Ask(c, R"({"op":"reply","id":1,"to":"_INBOX.forged.1","payload":"x"})");
  EXPECT_THAT(e, HasSubstr(R"("op":"error","id":1,"code":"permission_denied")"));
  EXPECT_THAT(Ask(c, R"({"op":"ping"})"), HasSubstr(R"("op":"pong")"));  // still open
}

TEST_F(JsonEndpointTest, SubscribeWithResumeReplaysTheMessagesAfterTheOffset) {
  Result<PublishAck> first = broker_->Publish("log", "m1");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(broker_->Publish("log", "m2").ok());
  ASSERT_TRUE(broker_->Publish("log", "m3").ok());
  Peer c = OpenJson();
  const std::string sub = R"({"op":"sub","topic":"log","resume":{"log":{"epoch":)" +
                          std::to_string(first->epoch) + R"(,"offset":1}}})";
  EXPECT_THAT(Ask(c, sub), HasSubstr(R"("op":"subscribed")"));
  EXPECT_THAT(ReadText(c), HasSubstr(R"("payload":"m2")"));
  EXPECT_THAT(ReadText(c), HasSubstr(R"("payload":"m3")"));
  ASSERT_TRUE(broker_->Publish("log", "m4").ok());
  EXPECT_THAT(ReadText(c), HasSubstr(R"("payload":"m4")"));  // then live
}

TEST_F(JsonEndpointTest, ResumeFromAnotherEpochGetsAGapFirst) {
  ASSERT_TRUE(broker_->Publish("log", "m1").ok());
  Peer c = OpenJson();
  Ask(c, R"({"op":"sub","topic":"log","resume":{"log":{"epoch":424242,"offset":7}}})");
  const std::string gap = ReadText(c);
  EXPECT_THAT(gap, HasSubstr(R"("op":"gap","topic":"log")"));
  EXPECT_THAT(gap, HasSubstr(R"("reason":"epoch_changed")"));
}

TEST_F(JsonEndpointTest, ClosingTheConnectionReleasesItsSubscriptions) {
  Peer c = OpenJson();
  Ask(c, R"({"op":"sub","topic":"t"})");
  EXPECT_EQ(broker_->Stats().subscriptions, 1u);
  c.Close();
  EXPECT_TRUE(WaitFor([&] { return broker_->Stats().subscriptions == 0; }));
}

// The payloads of a `job` or `jobs` frame, in order.
std::vector<std::string> JobPayloads(const std::string& frame) {
  std::vector<std::string> out;
  for (size_t at = frame.find(R"("payload":")"); at != std::string::npos;
       at = frame.find(R"("payload":")", at + 1)) {
    const size_t from = at + std::string_view(R"("payload":")").size();
    out.push_back(frame.substr(from, frame.find('"', from) - from));
  }
  return out;
}

class JsonEndpointQueueTest : public JsonEndpointTest {
 protected:
  void SetUp() override {
    JsonEndpointTest::SetUp();
    QueueOptions q;
    q.name = "work";
    q.pattern = "jobs.>";
    ASSERT_TRUE(broker_->CreateQueue(q).ok());
  }
};

TEST_F(JsonEndpointQueueTest, JobsReadyTogetherComeInJobsFramesOfAtMostTheBatch) {
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(broker_->Publish("jobs.x", std::to_string(i)).ok());
  Peer c = OpenJson();
  EXPECT_THAT(Ask(c, R"({"op":"join","id":1,"queue":"work","max_in_flight":20,"batch":8})"),
              HasSubstr(R"("op":"joined")"));
  std::vector<size_t> sizes;
  std::vector<std::string> payloads;
  while (payloads.size() < 20) {
    const std::string frame = ReadText(c);
    ASSERT_THAT(frame,
                ::testing::StartsWith(R"({"op":"jobs","queue":"work","jobs":[{"op":"job",)"));
    const std::vector<std::string> got = JobPayloads(frame);
    sizes.push_back(got.size());
    payloads.insert(payloads.end(), got.begin(), got.end());
  }
  // Offered together at the join: as many full frames as they fill.
  EXPECT_EQ(sizes, (std::vector<size_t>{8, 8, 4}));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(payloads[static_cast<size_t>(i)], std::to_string(i));
  EXPECT_EQ(c.ReadFor(50ms), "");
}

TEST_F(JsonEndpointQueueTest, BatchingKeepsTheOrderOfJobsAndOtherFrames) {
  Peer c = OpenJson();
  Ask(c, R"({"op":"sub","topic":"jobs.>"})");
  Ask(c, R"({"op":"join","id":1,"queue":"work","batch":8})");
  // Published in one loop turn: the inbox hands over three messages and
  // three jobs at once. Each job goes out before the frame after it, as it
  // would in a frame of its own.
  OnLoop([&] {
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(broker_->Publish("jobs.x", std::to_string(i)).ok());
  });
  std::vector<std::string> order;
  for (int i = 0; i < 6; ++i) {
    const std::string frame = ReadText(c);
    const std::vector<std::string> got = JobPayloads(frame);
    ASSERT_EQ(got.size(), 1u) << frame;
    EXPECT_TRUE(frame.starts_with(R"({"op":"msg")") || frame.starts_with(R"({"op":"jobs")"))
        << frame;
    order.push_back(got[0]);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"0", "0", "1", "1", "2", "2"}));
}

TEST_F(JsonEndpointQueueTest, WithoutBatchEachJobIsItsOwnFrameAndABadBatchIsRefused) {
  Peer c = OpenJson();
  EXPECT_THAT(Ask(c, R"({"op":"join","id":1,"queue":"work","batch":0})"),
              HasSubstr(R"("code":"invalid_argument","message":"'batch' must be 1 or more")"));
  Ask(c, R"({"op":"join","id":2,"queue":"work"})");
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(broker_->Publish("jobs.x", std::to_string(i)).ok());
  EXPECT_THAT(ReadText(c), ::testing::StartsWith(R"({"op":"job","queue":"work")"));
  EXPECT_THAT(ReadText(c), ::testing::StartsWith(R"({"op":"job","queue":"work")"));
}

}  // namespace
}  // namespace herald::ws::testing
