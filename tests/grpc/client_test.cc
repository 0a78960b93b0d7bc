// herald::Client (include/herald/client.h) against a real gRPC front.
#include "herald/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "frontends/grpc/grpc_front.h"
#include "tests/support/test_tokens.h"

namespace herald {
namespace {

using namespace std::chrono_literals;

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(front_->Start().ok());
    port_ = front_->port();
  }
  ClientOptions Options() {
    return {.target = "127.0.0.1:" + std::to_string(port_),
            .reconnect_min = 20ms,
            .reconnect_max = 200ms};
  }
  Broker broker_;
  std::unique_ptr<grpcfront::GrpcFront> front_ =
      std::make_unique<grpcfront::GrpcFront>(broker_, GrpcLimits{.listen = "127.0.0.1:0"});
  uint16_t port_ = 0;
};

TEST_F(ClientTest, PublishIsAcknowledgedAndErrorsKeepTheirCode) {
  Client client(Options());
  Result<PublishAck> ack = client.Publish("payments.completed", "{\"id\":1}");
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->offset, 1u);
  Result<PublishAck> bad = client.Publish("payments..completed", "x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidTopic);
}

TEST_F(ClientTest, PublishAsyncReturnsAtOnceAndReportsLater) {
  Client client(Options());
  std::atomic<int> ok{0}, failed{0};
  for (int i = 0; i < 100; ++i) {
    client.PublishAsync("clicks", "c" + std::to_string(i), {},
                        [&](Result<PublishAck> r) { (r.ok() ? ok : failed)++; });
  }
  client.PublishAsync("bad..topic", "x", {}, [&](Result<PublishAck> r) {
    if (!r.ok() && r.status().code() == ErrorCode::kInvalidTopic) failed++;
  });
  ASSERT_TRUE(WaitFor([&] { return ok.load() + failed.load() == 101; }));
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(failed.load(), 1);
  auto history = broker_.Resume("clicks", 0, 0);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->messages.size(), 100u);
}

TEST_F(ClientTest, RequestIsServedByAResponderWithItsOwnClient) {
  Client worker(Options());
  auto judge = worker.Serve(
      "judge.run", [](const Message& m) { return Result<std::string>("ok:" + m.payload); },
      "judges");
  ASSERT_TRUE(WaitFor([&] { return judge->connects() == 1; }));
  Client backend(Options());
  Result<MessagePtr> verdict = backend.Request("judge.run", "print(1)", 2s);
  ASSERT_TRUE(verdict.ok()) << verdict.status().ToString();
  EXPECT_EQ((*verdict)->payload, "ok:print(1)");

  Result<MessagePtr> none = backend.Request("nobody.home", "x", 2s);
  EXPECT_EQ(none.status().code(), ErrorCode::kNoResponders);
}

TEST_F(ClientTest, RequestTimesOutWhenTheResponderDeclines) {
  Client worker(Options());
  auto silent = worker.Serve("judge.slow", [](const Message&) {
    return Result<std::string>(Status(ErrorCode::kInternal, "no answer"));
  });
  ASSERT_TRUE(WaitFor([&] { return silent->connects() == 1; }));
  Client backend(Options());
  Result<MessagePtr> r = backend.Request("judge.slow", "x", 300ms);
  EXPECT_EQ(r.status().code(), ErrorCode::kTimeout);
}

TEST_F(ClientTest, UnreachableNodeIsUnavailable) {
  front_->Stop();
  Client client(Options());
  Result<PublishAck> ack = client.Publish("t", "x");
  EXPECT_EQ(ack.status().code(), ErrorCode::kUnavailable);
}

TEST_F(ClientTest, SubscriptionResumesAcrossANodeRestartWithoutLossOrDuplicate) {
  Client client(Options());
  std::mutex mu;
  std::vector<uint64_t> offsets;
  int gaps = 0;
  auto sub = client.Subscribe("ticks.>", [&](const Delivery& d) {
    std::lock_guard lock(mu);
    if (d.kind == Delivery::Kind::kGap) {
      ++gaps;
    } else {
      offsets.push_back(d.message->offset);
    }
  });
  ASSERT_TRUE(WaitFor([&] { return broker_.Stats().subscriptions == 1; }));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(broker_.Publish("ticks.a", "x").ok());
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return offsets.size() == 10;
  }));
  // The node's gRPC front goes away; messages keep coming meanwhile.
  front_->Stop();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(broker_.Publish("ticks.a", "x").ok());
  front_ = std::make_unique<grpcfront::GrpcFront>(
      broker_, GrpcLimits{.listen = "127.0.0.1:" + std::to_string(port_)});
  ASSERT_TRUE(front_->Start().ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(broker_.Publish("ticks.a", "x").ok());
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return offsets.size() >= 25;
  }));
  std::this_thread::sleep_for(50ms);
  std::lock_guard lock(mu);
  ASSERT_EQ(offsets.size(), 25u);
  for (size_t i = 0; i < offsets.size(); ++i) EXPECT_EQ(offsets[i], i + 1);
  EXPECT_EQ(gaps, 0);
  EXPECT_EQ(sub->connects(), 2u);
}

// A node with [auth]: HS256 tokens under kSecret.
class AuthClientTest : public ClientTest {
 protected:
  static constexpr std::string_view kSecret = "a-secret-for-the-client-tests-of-32-bytes-or-more";
  void SetUp() override {
    AuthOptions o;
    JwtKey key;
    key.alg = "HS256";
    key.secret = std::string(kSecret);
    o.keys.push_back(key);
    o.leeway = 0ms;
    o.anonymous = AuthOptions::Anonymous::kDeny;
    Result<std::shared_ptr<const auth::JwtVerifier>> v = auth::JwtVerifier::Create(o);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    grpcfront::GrpcOptions g = GrpcLimits{.listen = "127.0.0.1:0"};
    g.verifier = *v;
    front_ = std::make_unique<grpcfront::GrpcFront>(broker_, g);
    ClientTest::SetUp();
  }
  // A token of `sub` for `life_s` seconds from now, with every grant.
  static std::string Token(int64_t life_s, std::string_view sub = "cpp") {
    return testing::Hs256Token(kSecret, R"({"sub":")" + std::string(sub) + R"(","exp":)" +
                                            std::to_string(testing::NowSeconds() + life_s) +
                                            R"(,"herald":{"publish":[">"],"subscribe":[">"]}})");
  }
};

TEST_F(AuthClientTest, CallsCarryTheTokenAndWithoutOneAreUnauthenticated) {
  Client anonymous(Options());
  EXPECT_EQ(anonymous.Publish("a.b", "x").status().code(), ErrorCode::kUnauthenticated);
  ClientOptions o = Options();
  o.token = Token(600);
  Client fixed(o);
  EXPECT_TRUE(fixed.Publish("a.b", "x").ok());
  EXPECT_TRUE(fixed.Pull("nope", 1, 0ms).status().code() != ErrorCode::kUnauthenticated);
}

TEST_F(AuthClientTest, TheProviderIsAskedAgainAfterTheNodeRefusesItsToken) {
  std::atomic<int> asked{0};
  ClientOptions o = Options();
  o.token = "ignored when a provider is set";
  o.token_provider = [&]() -> Result<std::string> {
    // The first token is already expired (a revoked one would do the same).
    return ++asked == 1 ? Token(-10) : Token(600);
  };
  Client client(o);
  EXPECT_EQ(client.Publish("a.b", "x").status().code(), ErrorCode::kUnauthenticated);
  EXPECT_TRUE(client.Publish("a.b", "x").ok());
  EXPECT_TRUE(client.Publish("a.b", "y").ok());
  EXPECT_EQ(asked.load(), 2) << "a good token is kept until it nears its end";

  ClientOptions failing = Options();
  failing.token_provider = []() -> Result<std::string> {
    return Status(ErrorCode::kUnavailable, "the identity service is down");
  };
  Client down(failing);
  Status s = down.Publish("a.b", "x").status();
  EXPECT_EQ(s.code(), ErrorCode::kUnauthenticated);
  EXPECT_NE(s.message().find("the identity service is down"), std::string::npos) << s.message();
}

TEST_F(AuthClientTest, ASubscriptionOutlivesItsTokensAndResumesWithoutLoss) {
  std::atomic<int> asked{0};
  ClientOptions o = Options();
  o.token_provider = [&]() -> Result<std::string> {
    ++asked;
    return Token(2);
  };
  Client client(o);
  std::mutex mu;
  std::vector<uint64_t> offsets;
  auto sub = client.Subscribe("renew.>", [&](const Delivery& d) {
    std::lock_guard lock(mu);
    if (d.kind == Delivery::Kind::kMessage) offsets.push_back(d.message->offset);
  });
  ASSERT_TRUE(WaitFor([&] { return broker_.Stats().subscriptions == 1; }));
  // About 5 s of messages: the stream's 2 s tokens run out twice or more.
  int sent = 0;
  for (; sent < 250; ++sent) {
    ASSERT_TRUE(broker_.Publish("renew.a", "m").ok());
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return offsets.size() >= static_cast<size_t>(sent);
  }));
  std::this_thread::sleep_for(50ms);
  std::lock_guard lock(mu);
  ASSERT_EQ(offsets.size(), static_cast<size_t>(sent));
  for (size_t i = 0; i < offsets.size(); ++i) ASSERT_EQ(offsets[i], i + 1);
  EXPECT_GE(sub->connects(), 3u);
  EXPECT_GE(asked.load(), 3);
}

TEST_F(ClientTest, AnUnreadableTlsFileFailsEveryCallNamingIt) {
  ClientOptions o = Options();
  o.tls = true;
  o.tls_ca_file = "/nonexistent/ca.pem";
  Client client(o);
  Status s = client.Publish("a.b", "x").status();
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tls_ca_file '/nonexistent/ca.pem'"), std::string::npos)
      << s.message();
  std::atomic<bool> reported{false};
  client.PublishAsync("a.b", "x", {}, [&](Result<PublishAck> r) {
    reported = r.status().code() == ErrorCode::kInvalidArgument;
  });
  EXPECT_TRUE(reported.load());
}

TEST_F(ClientTest, QueueGroupWorkersShareTheWorkExactlyOnce) {
  Client client(Options());
  std::mutex mu;
  std::map<std::string, int> handled;
  std::vector<std::unique_ptr<Client::Handle>> workers;
  std::atomic<int> per[3] = {0, 0, 0};
  for (int w = 0; w < 3; ++w) {
    workers.push_back(client.Subscribe("jobs.email",
                                       [&, w](const Delivery& d) {
                                         if (!d.message) return;
                                         std::lock_guard lock(mu);
                                         handled[d.message->payload]++;
                                         per[w]++;
                                       },
                                       {.queue_group = "mailers"}));
  }
  ASSERT_TRUE(WaitFor([&] { return broker_.Stats().subscriptions == 3; }));
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(broker_.Publish("jobs.email", std::to_string(i)).ok());
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return handled.size() == 300;
  }));
  std::this_thread::sleep_for(50ms);
  std::lock_guard lock(mu);
  for (auto& [job, n] : handled) EXPECT_EQ(n, 1) << job;
  for (auto& n : per) EXPECT_GT(n.load(), 0);
}

TEST_F(ClientTest, AWorkQueueWorkerAcksWhatItDoesAndWhatItFailsComesBack) {
  QueueOptions q;
  q.name = "mail";
  q.pattern = "mail.>";
  q.ack_wait = 5s;
  ASSERT_TRUE(broker_.CreateQueue(q).ok());
  Client client(Options());
  std::mutex mu;
  std::map<std::string, int> tries;
  auto worker = client.Work("mail", [&](const Job& job) {
    std::lock_guard lock(mu);
    const int n = ++tries[job.message->payload];
    // Every third job fails its first try: nacked, offered again.
    if (std::stoi(job.message->payload) % 3 == 0 && n == 1) {
      return Status(ErrorCode::kUnavailable, "smtp down");
    }
    return Status::Ok();
  });
  ASSERT_TRUE(WaitFor([&] { return broker_.GetQueue("mail")->members == 1; }));
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(broker_.Publish("mail.out", std::to_string(i)).ok());
  ASSERT_TRUE(WaitFor([&] { return broker_.GetQueue("mail")->acked == 30; }));
  EXPECT_EQ(broker_.GetQueue("mail")->pending, 0u);
  EXPECT_EQ(broker_.GetQueue("mail")->nacked, 10u);
  EXPECT_EQ(worker->connects(), 1u);
}

TEST_F(ClientTest, ABatchWorkerPullsAndSettlesByHandle) {
  QueueOptions q;
  q.name = "batch";
  q.pattern = "batch.>";
  ASSERT_TRUE(broker_.CreateQueue(q).ok());
  Client client(Options());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(broker_.Publish("batch.x", std::to_string(i)).ok());
  Result<std::vector<Job>> jobs = client.Pull("batch", 10, 100ms);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), 5u);
  std::vector<std::string> handles;
  for (const Job& j : *jobs) handles.push_back(j.handle);
  handles.push_back("batch/999/1/0000000000000001");
  Result<std::vector<Status>> settled = client.SettlePulled(handles, SettleKind::kAck);
  ASSERT_TRUE(settled.ok());
  ASSERT_EQ(settled->size(), 6u);
  for (size_t i = 0; i < 5; ++i) EXPECT_TRUE((*settled)[i].ok());
  EXPECT_EQ((*settled)[5].code(), ErrorCode::kUnknownHandle);
  EXPECT_EQ(broker_.GetQueue("batch")->acked, 5u);
  EXPECT_EQ(client.Pull("nope", 1, 0ms).status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace herald
