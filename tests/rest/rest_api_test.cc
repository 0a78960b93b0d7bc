// RestApi (POST /publish, POST /request, GET /history) on a real
// HttpSession and loop: each call's answer and each refusal's status and
// error code.
#include "frontends/rest/rest_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/loop_fixture.h"

namespace herald::rest {
namespace {

using herald::testing::HttpAnswer;
using herald::testing::HttpRequest;
using herald::testing::Peer;
using herald::testing::ReadHttpAnswer;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class RestApiTest : public herald::testing::LoopFixture {
 protected:
  RestApiTest() { broker_options_.max_payload_bytes = 1000; }

  // Builds the API with `options` (once) and serves it on a new connection.
  Peer Open(RestOptions options = {}) {
    if (!api_) {
      api_ = std::make_unique<RestApi>(*broker_, std::move(options));
      auto router = std::make_shared<http::Router>();
      api_->Register(*router);
      router_ = router;
    }
    return ConnectHttp(router_);
  }
  HttpAnswer Call(std::string_view method, std::string_view target, std::string_view body = {},
                  std::string_view extra = {}) {
    if (!client_.connected()) client_ = Open();
    client_.Send(HttpRequest(method, target, body, extra));
    return ReadHttpAnswer(client_);
  }
  void TearDown() override {
    client_.Close();
    LoopFixture::TearDown();
    api_.reset();
  }

  std::unique_ptr<RestApi> api_;
  std::shared_ptr<const http::Router> router_;
  Peer client_;
};

TEST_F(RestApiTest, PublishIsAnsweredWithTheMessagesPlace) {
  HttpAnswer a = Call("POST", "/publish/orders.1", "paid");
  EXPECT_EQ(a.status, 200);
  EXPECT_THAT(a.body, HasSubstr(R"("offset":1)"));
  EXPECT_THAT(Call("POST", "/publish/orders.1", "shipped").body, HasSubstr(R"("offset":2)"));
}

TEST_F(RestApiTest, PublishCarriesContentTypeAndHeraldHeaders) {
  std::mutex mu;  // the callback runs on the broker's dispatcher thread
  MessagePtr got;
  ASSERT_TRUE(broker_
                  ->Subscribe("t",
                              [&](const Delivery& d) {
                                std::lock_guard lock(mu);
                                if (d.kind == Delivery::Kind::kMessage) got = d.message;
                              })
                  .ok());
  EXPECT_EQ(
      Call("POST", "/publish/t", "{}", "Content-Type: application/json\r\nHerald-Trace: 7\r\n")
          .status,
      200);
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return got != nullptr;
  }));
  std::lock_guard lock(mu);
  EXPECT_EQ(got->content_type, "application/json");
  ASSERT_EQ(got->headers.size(), 1u);
  EXPECT_EQ(got->headers[0].name, "Trace");
  EXPECT_EQ(got->headers[0].value, "7");
}

TEST_F(RestApiTest, PercentEncodedTopicIsDecoded) {
  EXPECT_EQ(Call("POST", "/publish/a%2Eb", "x").status, 200);
  HttpAnswer h = Call("GET", "/history/a.b");
  EXPECT_THAT(h.body, HasSubstr(R"("topic":"a.b")"));
  EXPECT_THAT(h.body, HasSubstr(R"("payload":"x")"));
}

TEST_F(RestApiTest, InvalidTopicIs400InvalidTopic) {
  HttpAnswer a = Call("POST", "/publish/a..b", "x");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.body, HasSubstr(R"("error":"invalid_topic")"));
  EXPECT_EQ(Call("POST", "/publish/%zz", "x").status, 400);  // a bad escape
}

TEST_F(RestApiTest, PayloadOverTheBrokerLimitIs413PayloadTooLarge) {
  HttpAnswer a = Call("POST", "/publish/t", std::string(1001, 'x'));
  EXPECT_EQ(a.status, 413);
  EXPECT_THAT(a.body, HasSubstr("payload_too_large"));
  EXPECT_EQ(Call("POST", "/publish/t", "fits").status, 200);  // the connection goes on
}

TEST_F(RestApiTest, HistoryAnswersTheMessagesAfterAnOffset) {
  for (const char* p : {"m1", "m2", "m3"}) ASSERT_EQ(Call("POST", "/publish/log", p).status, 200);
  HttpAnswer a = Call("GET", "/history/log?after=1");
  EXPECT_EQ(a.status, 200);
  EXPECT_THAT(a.body, HasSubstr(R"("last_offset":3)"));
  EXPECT_EQ(a.body.find(R"("payload":"m1")"), std::string::npos);
  EXPECT_THAT(a.body, HasSubstr(R"("payload":"m2")"));
  EXPECT_THAT(a.body, HasSubstr(R"("payload":"m3")"));
  EXPECT_THAT(a.body, HasSubstr(R"("gap":null,"truncated":false)"));
}

TEST_F(RestApiTest, HistoryLimitTruncatesTheAnswer) {
  for (const char* p : {"m1", "m2", "m3"}) ASSERT_EQ(Call("POST", "/publish/log", p).status, 200);
  HttpAnswer a = Call("GET", "/history/log?limit=1");
  EXPECT_THAT(a.body, HasSubstr(R"("payload":"m1")"));
  EXPECT_EQ(a.body.find(R"("payload":"m2")"), std::string::npos);
  EXPECT_THAT(a.body, HasSubstr(R"("truncated":true)"));
}

TEST_F(RestApiTest, HistoryOfAnUnknownTopicIsEmpty) {
  HttpAnswer a = Call("GET", "/history/never.used");
  EXPECT_EQ(a.status, 200);
  EXPECT_THAT(a.body, HasSubstr(R"("epoch":0,"last_offset":0,"messages":[])"));
}

TEST_F(RestApiTest, NonNumericHistoryParameterIs400InvalidArgument) {
  HttpAnswer a = Call("GET", "/history/log?after=soon");
  EXPECT_EQ(a.status, 400);
  EXPECT_THAT(a.body, HasSubstr("'after' must be a non-negative integer"));
  EXPECT_THAT(Call("GET", "/history/log?limit=-1").body, HasSubstr("'limit'"));
}

TEST_F(RestApiTest, RequestIsAnsweredWithTheReplysBodyTypeAndHeaders) {
  ASSERT_TRUE(broker_
                  ->Subscribe("svc.upper",
                              [this](const Delivery& d) {
                                if (d.kind != Delivery::Kind::kMessage) return;
                                PublishOptions o;
                                o.content_type = "text/plain";
                                o.headers.push_back({"Served-By", "test"});
                                std::string up = d.message->payload;
                                for (char& ch : up) ch = static_cast<char>(std::toupper(ch));
                                (void)broker_->Reply(d.message->reply_to, up, o);
                              })
                  .ok());
  HttpAnswer a = Call("POST", "/request/svc.upper", "hello");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "HELLO");
  EXPECT_TRUE(a.Has("Content-Type: text/plain\r\n")) << a.head;
  EXPECT_TRUE(a.Has("Herald-Served-By: test\r\n")) << a.head;
}

TEST_F(RestApiTest, RequestWithNoResponderIs503NoResponders) {
  HttpAnswer a = Call("POST", "/request/nobody", "?");
  EXPECT_EQ(a.status, 503);
  EXPECT_THAT(a.body, HasSubstr("no_responders"));
}

TEST_F(RestApiTest, RequestNobodyAnswersIs504AtItsTimeout) {
  ASSERT_TRUE(broker_->Subscribe("silent", [](const Delivery&) {}).ok());
  const auto start = std::chrono::steady_clock::now();
  HttpAnswer a = Call("POST", "/request/silent?timeout_ms=50", "?");
  EXPECT_EQ(a.status, 504);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
}

TEST_F(RestApiTest, RequestTimeoutOutOfRangeIs400) {
  EXPECT_THAT(Call("POST", "/request/t?timeout_ms=0", "?").body,
              HasSubstr("'timeout_ms' must be from 1 to"));
  EXPECT_EQ(Call("POST", "/request/t?timeout_ms=99999999", "?").status, 400);
}

TEST_F(RestApiTest, PublishingIntoAnInboxIsRefused) {
  HttpAnswer a = Call("POST", "/publish/_INBOX.someone.1", "forged");
  EXPECT_GE(a.status, 400);
  EXPECT_LT(a.status, 500);
}

TEST_F(RestApiTest, BadTokenIs401AndAMissingGrantIs403) {
  AuthOptions auth;
  auth.keys = {{.alg = "HS256", .secret = std::string(32, 's')}};
  auth.anonymous = AuthOptions::Anonymous::kAllow;
  auth.rules = {{.subject = "anonymous", .publish = {"open.>"}, .subscribe = {"open.>"}}};
  Result<std::shared_ptr<const auth::JwtVerifier>> verifier = auth::JwtVerifier::Create(auth);
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  Open({.verifier = *verifier});
  HttpAnswer bad = Call("POST", "/publish/open.x", "x", "Authorization: Bearer nope\r\n");
  EXPECT_EQ(bad.status, 401);
  EXPECT_TRUE(bad.Has("WWW-Authenticate: Bearer"));
  EXPECT_EQ(Call("POST", "/publish/closed.x", "x").status, 403);
  EXPECT_EQ(Call("GET", "/history/closed.x").status, 403);
  EXPECT_EQ(Call("POST", "/request/closed.x", "x").status, 403);
  EXPECT_EQ(Call("POST", "/publish/open.x", "x").status, 200);
}

}  // namespace
}  // namespace herald::rest
