// The gRPC front over a real channel on loopback, with the generated stub.
#include "frontends/grpc/grpc_front.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "herald/v1/broker.grpc.pb.h"

namespace herald::grpcfront {
namespace {

using namespace std::chrono_literals;

class GrpcFrontTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(front_.Start().ok());
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(front_.port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Broker::NewStub(channel_);
  }
  static BrokerOptions Small() {
    BrokerOptions o;
    o.max_payload_bytes = 1024;
    return o;
  }
  std::unique_ptr<grpc::ClientContext> Ctx(std::chrono::milliseconds timeout = 5s) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
    return ctx;
  }

  Broker broker_{Small()};
  GrpcFront front_{broker_, {.listen = "127.0.0.1:0"}};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Broker::Stub> stub_;
};

TEST_F(GrpcFrontTest, PublishAnswersWhereTheMessageLanded) {
  v1::PublishRequest req;
  req.set_topic("payments.completed");
  req.set_payload("p1");
  v1::PublishAck ack;
  ASSERT_TRUE(stub_->Publish(Ctx().get(), req, &ack).ok());
  EXPECT_GT(ack.epoch(), 0u);
  EXPECT_EQ(ack.offset(), 1u);
  ASSERT_TRUE(stub_->Publish(Ctx().get(), req, &ack).ok());
  EXPECT_EQ(ack.offset(), 2u);
  auto history = broker_.Resume("payments.completed", ack.epoch(), 0);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->messages.size(), 2u);
  EXPECT_EQ(history->messages[0]->payload, "p1");
}

TEST_F(GrpcFrontTest, BadTopicIsInvalidArgument) {
  v1::PublishRequest req;
  req.set_topic("orders..42");
  v1::PublishAck ack;
  grpc::Status s = stub_->Publish(Ctx().get(), req, &ack);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("empty token"), std::string::npos) << s.error_message();
  req.set_topic("orders.*");
  EXPECT_EQ(stub_->Publish(Ctx().get(), req, &ack).error_code(), grpc::INVALID_ARGUMENT);
  req.set_topic("_INBOX.x.1");
  EXPECT_EQ(stub_->Publish(Ctx().get(), req, &ack).error_code(), grpc::INVALID_ARGUMENT);
}

TEST_F(GrpcFrontTest, OversizePayloadIsResourceExhausted) {
  v1::PublishRequest req;
  req.set_topic("big");
  req.set_payload(std::string(2048, 'x'));
  v1::PublishAck ack;
  EXPECT_EQ(stub_->Publish(Ctx().get(), req, &ack).error_code(), grpc::RESOURCE_EXHAUSTED);
}

TEST_F(GrpcFrontTest, RequestGetsTheFirstReply) {
  auto sub = broker_.Subscribe("judge.run", [this](const Delivery& d) {
    if (!d.message) return;
    PublishOptions o;
    o.content_type = "text/plain";
    (void)broker_.Publish(d.message->reply_to, "verdict for " + d.message->payload, o);
  });
  ASSERT_TRUE(sub.ok());
  v1::RequestRequest req;
  req.set_topic("judge.run");
  req.set_payload("print(1)");
  v1::Message reply;
  grpc::Status s = stub_->Request(Ctx().get(), req, &reply);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(reply.payload(), "verdict for print(1)");
  EXPECT_EQ(reply.content_type(), "text/plain");
}

TEST_F(GrpcFrontTest, RequestPastItsDeadlineIsDeadlineExceeded) {
  auto sub = broker_.Subscribe("judge.slow", [](const Delivery&) {});  // never answers
  ASSERT_TRUE(sub.ok());
  v1::RequestRequest req;
  req.set_topic("judge.slow");
  v1::Message reply;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(stub_->Request(Ctx(300ms).get(), req, &reply).error_code(), grpc::DEADLINE_EXCEEDED);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);  // the deadline was the timeout
}

TEST_F(GrpcFrontTest, RequestWithoutRespondersIsUnavailable) {
  v1::RequestRequest req;
  req.set_topic("nobody.home");
  v1::Message reply;
  grpc::Status s = stub_->Request(Ctx().get(), req, &reply);
  EXPECT_EQ(s.error_code(), grpc::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("responder"), std::string::npos) << s.error_message();
}

TEST_F(GrpcFrontTest, SubscribeStreamsMessagesInOrder) {
  grpc::ClientContext ctx;
  v1::SubscribeRequest req;
  req.set_pattern("ticks.>");
  auto reader = stub_->Subscribe(&ctx, req);
  // The subscription exists once the broker counts it.
  for (int i = 0; i < 200 && broker_.Stats().subscriptions == 0; ++i)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(broker_.Stats().subscriptions, 1u);
  for (int i = 1; i <= 100; ++i) ASSERT_TRUE(broker_.Publish("ticks.a", std::to_string(i)).ok());
  v1::SubscribeResponse r;
  for (int i = 1; i <= 100; ++i) {
    ASSERT_TRUE(reader->Read(&r));
    ASSERT_TRUE(r.has_message());
    EXPECT_EQ(r.message().payload(), std::to_string(i));
    EXPECT_EQ(r.message().offset(), static_cast<uint64_t>(i));
  }
  ctx.TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::CANCELLED);
  for (int i = 0; i < 200 && broker_.Stats().subscriptions != 0; ++i)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(broker_.Stats().subscriptions, 0u);  // released with the stream
}

TEST_F(GrpcFrontTest, SubscribeResumesAfterADroppedStreamWithoutAGap) {
  PublishAck last{};
  for (int i = 1; i <= 5; ++i) last = *broker_.Publish("orders.1", "m" + std::to_string(i));
  grpc::ClientContext ctx;
  v1::SubscribeRequest req;
  req.set_pattern("orders.*");
  auto* p = req.add_resume();
  p->set_topic("orders.1");
  p->set_epoch(last.epoch);
  p->set_after_offset(3);  // saw 1..3 before the stream dropped
  auto reader = stub_->Subscribe(&ctx, req);
  v1::SubscribeResponse r;
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_EQ(r.message().payload(), "m4");
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_EQ(r.message().payload(), "m5");
  ASSERT_TRUE(broker_.Publish("orders.1", "m6").ok());
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_EQ(r.message().payload(), "m6");
  EXPECT_FALSE(r.has_gap());
  ctx.TryCancel();
  reader->Finish();
}

TEST_F(GrpcFrontTest, SubscribeWithABadPatternIsInvalidArgument) {
  grpc::ClientContext ctx;
  v1::SubscribeRequest req;
  req.set_pattern("orders.>.x");
  auto reader = stub_->Subscribe(&ctx, req);
  v1::SubscribeResponse r;
  EXPECT_FALSE(reader->Read(&r));
  EXPECT_EQ(reader->Finish().error_code(), grpc::INVALID_ARGUMENT);
}

TEST_F(GrpcFrontTest, PublishStreamAcknowledgesBySequenceAndInBatches) {
  grpc::ClientContext ctx;
  auto stream = stub_->PublishStream(&ctx);
  constexpr int kCount = 3000;
  for (int i = 1; i <= kCount; ++i) {
    v1::PublishStreamRequest req;
    req.mutable_message()->set_topic(i == 7 ? "bad..topic" : "stream.t");
    req.mutable_message()->set_payload("x");
    req.set_sequence(i % 1000 == 0 || i == 7 ? static_cast<uint64_t>(i) : 0);
    ASSERT_TRUE(stream->Write(req));
  }
  stream->WritesDone();
  std::vector<uint64_t> acked;
  uint64_t error_seq = 0;
  v1::BatchAck last_batch;
  v1::PublishStreamResponse r;
  while (stream->Read(&r)) {
    if (r.has_ack()) acked.push_back(r.ack().sequence());
    if (r.has_error()) {
      error_seq = r.error().sequence();
      EXPECT_EQ(r.error().code(), grpc::INVALID_ARGUMENT);
    }
    if (r.has_batch()) last_batch = r.batch();
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(acked, (std::vector<uint64_t>{1000, 2000, 3000}));
  EXPECT_EQ(error_seq, 7u);
  EXPECT_EQ(last_batch.accepted(), static_cast<uint64_t>(kCount - 1));
  EXPECT_EQ(last_batch.refused(), 1u);
  auto history = broker_.Resume("stream.t", 0, 0, 1);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->last_offset, static_cast<uint64_t>(kCount - 1));
}

}  // namespace
}  // namespace herald::grpcfront
