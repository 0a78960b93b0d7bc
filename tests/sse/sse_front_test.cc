// SseFront (`GET /sse`) on a real HttpSession and loop: the query is
// checked (each mistake its own 4xx, on that request only), streams open
// with their position, deliver, resume from Last-Event-ID, and release
// their subscriptions when the client leaves.
#include "frontends/sse/sse_front.h"

#include "tests/sse/sse_fixture.h"

namespace herald::sse::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

class SseFrontTest : public herald::testing::LoopFixture {
 protected:
  // Builds the front with `limits` (and `verifier`) and serves /sse on a new
  // connection.
  Peer Open(SseLimits limits = {}, std::shared_ptr<const auth::JwtVerifier> verifier = nullptr) {
    if (!front_) {
      SseOptions options(limits);
      options.verifier = std::move(verifier);
      front_ = std::make_unique<SseFront>(*broker_, std::move(options),
                                          [this](const io::Loop*) { return inbox_; });
      auto router = std::make_shared<http::Router>();
      front_->Register(*router);
      router_ = router;
    }
    return ConnectHttp(router_);
  }
  void TearDown() override {
    LoopFixture::TearDown();
    front_.reset();
  }
  // The error answer to GET `target`.
  HttpAnswer Refused(std::string_view target, std::string_view extra = {}) {
    Peer c = Open();
    c.Send(HttpRequest("GET", target, {}, extra));
    return ReadHttpAnswer(c);
  }

  std::unique_ptr<SseFront> front_;
  std::shared_ptr<const http::Router> router_;
};

TEST_F(SseFrontTest, StreamOpensWithRetryAndItsPositionThenDeliversMessages) {
  OpenStream s = StartStream(Open(), "/sse?topic=news");
  EXPECT_THAT(s.head, StartsWith("HTTP/1.1 200 OK"));
  EXPECT_THAT(s.head, HasSubstr("Content-Type: text/event-stream"));
  EXPECT_THAT(s.head, HasSubstr("Cache-Control: no-cache"));
  const std::string first = s.ReadUntil("\n\n");
  EXPECT_EQ(first, "retry: 2000\nid: " + FirstId(first) + "\nevent: position\ndata: \n\n");
  ASSERT_TRUE(broker_->Publish("news", "extra!").ok());
  EXPECT_THAT(s.ReadUntil("data: extra!\n\n"), HasSubstr("data: extra!\n\n"));
  EXPECT_EQ(front_->stats().streams_open.load(), 1);
}

TEST_F(SseFrontTest, JsonFormatSendsTheEnvelopeAndEventTopicNamesEachEvent) {
  OpenStream s = StartStream(Open(), "/sse?topic=a.*&format=json&event=topic");
  s.ReadUntil("\n\n");
  ASSERT_TRUE(WaitFor([&] { return broker_->Stats().subscriptions == 1; }));
  ASSERT_TRUE(broker_->Publish("a.b", "x").ok());
  const std::string e = s.ReadUntil("}\n\n");
  EXPECT_THAT(e, HasSubstr("event: a.b\n"));
  EXPECT_THAT(e, HasSubstr(R"(data: {"op":"msg","topic":"a.b")"));
}

TEST_F(SseFrontTest, MissingTopicIs400MissingTopic) {
  HttpAnswer a = Refused("/sse");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.body, HasSubstr(R"("error":"missing_topic")"));
}

TEST_F(SseFrontTest, BadPatternAndReservedInboxTopicsAre400InvalidTopic) {
  EXPECT_THAT(Refused("/sse?topic=a..b").body, HasSubstr(R"("error":"invalid_topic")"));
  HttpAnswer inbox = Refused("/sse?topic=_INBOX.x");
  EXPECT_EQ(inbox.status, 400);
  EXPECT_THAT(inbox.body, HasSubstr("reserved for replies"));
}

TEST_F(SseFrontTest, UnknownOrRepeatedParameterIs400BadParameter) {
  EXPECT_THAT(Refused("/sse?topic=t&colour=red").body, HasSubstr("unknown parameter 'colour'"));
  EXPECT_THAT(Refused("/sse?topic=t&format=json&format=raw").body,
              HasSubstr("'format' given twice"));
  EXPECT_THAT(Refused("/sse?topic=t&format=xml").body, HasSubstr(R"("error":"bad_parameter")"));
}

TEST_F(SseFrontTest, MoreTopicsThanTheLimitIs400TooManyTopics) {
  Open({.max_topics = 2});
  HttpAnswer a = Refused("/sse?topic=a&topic=b&topic=c");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.body, HasSubstr(R"("error":"too_many_topics")"));
}

TEST_F(SseFrontTest, MalformedLastEventIdIs400BadEventId) {
  HttpAnswer a = Refused("/sse?topic=t", "Last-Event-ID: not an id\r\n");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.body, HasSubstr(R"("error":"bad_event_id")"));
  EXPECT_EQ(front_->stats().rejects.load(), 1u);
}

TEST_F(SseFrontTest, EventIdAheadOfTheTopicIs400BadEventId) {
  OpenStream s = StartStream(Open(), "/sse?topic=t");
  ASSERT_TRUE(broker_->Publish("t", "one").ok());
  const std::string id = LastId(s.ReadUntil("data: one\n\n"));
  // The same id, one offset further than the topic has gone: a forged id.
  std::string ahead = id;
  ASSERT_FALSE(ahead.empty());
  ahead.back() = static_cast<char>(ahead.back() + 1);
  HttpAnswer a = Refused("/sse?topic=t", "Last-Event-ID: " + ahead + "\r\n");
  EXPECT_EQ(a.status, 400) << ahead;
  EXPECT_THAT(a.body, HasSubstr("bad_event_id"));
}

TEST_F(SseFrontTest, OriginNotAllowedIs403) {
  Open({.allowed_origins = {"https://app.example"}});
  HttpAnswer a = Refused("/sse?topic=t", "Origin: https://evil.example\r\n");
  EXPECT_EQ(a.status, 403);
  EXPECT_THAT(a.body, HasSubstr("forbidden_origin"));
}

TEST_F(SseFrontTest, LastEventIdResumesAfterTheLastEventSeen) {
  std::string id;
  {
    OpenStream s = StartStream(Open(), "/sse?topic=log");
    ASSERT_TRUE(broker_->Publish("log", "m1").ok());
    id = LastId(s.ReadUntil("data: m1\n\n"));
  }
  ASSERT_TRUE(WaitFor([&] { return broker_->Stats().subscriptions == 0; }));
  ASSERT_TRUE(broker_->Publish("log", "m2").ok());  // missed while away
  ASSERT_TRUE(broker_->Publish("log", "m3").ok());
  OpenStream s = StartStream(Open(), "/sse?topic=log", "Last-Event-ID: " + id + "\r\n");
  const std::string replay = s.ReadUntil("data: m3\n\n");
  EXPECT_THAT(replay, HasSubstr("data: m2\n\n"));
  EXPECT_EQ(replay.find("data: m1\n"), std::string::npos);
}

TEST_F(SseFrontTest, BadTokenIs401AndAMissingGrantIs403) {
  AuthOptions auth;
  auth.keys = {{.alg = "HS256", .secret = std::string(32, 's')}};
  auth.anonymous = AuthOptions::Anonymous::kAllow;
  auth.rules = {{.subject = "anonymous", .subscribe = {"public.>"}}};
  Result<std::shared_ptr<const auth::JwtVerifier>> verifier = auth::JwtVerifier::Create(auth);
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  Open({}, *verifier);
  HttpAnswer bad = Refused("/sse?topic=public.x", "Authorization: Bearer not.a.token\r\n");
  EXPECT_EQ(bad.status, 401);
  EXPECT_TRUE(bad.Has("WWW-Authenticate: Bearer"));
  EXPECT_EQ(Refused("/sse?topic=secret.x").status, 403);
  OpenStream ok = StartStream(Open(), "/sse?topic=public.x");
  EXPECT_THAT(ok.head, StartsWith("HTTP/1.1 200"));
}

TEST_F(SseFrontTest, ClientLeavingReleasesTheStreamAndItsSubscriptions) {
  {
    OpenStream s = StartStream(Open(), "/sse?topic=a&topic=b.*");
    s.ReadUntil("\n\n");
    EXPECT_EQ(broker_->Stats().subscriptions, 2u);
  }
  EXPECT_TRUE(WaitFor([&] {
    return broker_->Stats().subscriptions == 0 && front_->stats().streams_open.load() == 0;
  }));
}

}  // namespace
}  // namespace herald::sse::testing
