// One hiredis connection on a loop of its own, against a redis-server each
// test starts: the handshake, pipelining, binary arguments, failures,
// timeouts and reconnects.
#include "store/redis/connection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "io/loop.h"
#include "tests/support/redis_server.h"

namespace herald::redis {
namespace {

using namespace std::chrono_literals;
using test::RedisServer;

class RedisConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(loop_.Start().ok()); }
  void TearDown() override {
    loop_.RunSync([this] { conn_.reset(); });
    loop_.Stop();
  }

  ConnectionOptions OptionsFor(const RedisServer& redis) {
    ConnectionOptions o;
    o.port = redis.port();
    o.backoff_min = 20ms;
    o.backoff_max = 200ms;
    return o;
  }

  void Open(ConnectionOptions o) {
    loop_.RunSync([&] {
      conn_ = std::make_unique<Connection>(loop_, std::move(o),
                                           [this](ConnectionState s, const std::string& why) {
                                             std::lock_guard lock(mu_);
                                             states_.push_back(std::string(ConnectionStateName(s)) +
                                                               (why.empty() ? "" : ": " + why));
                                           });
      conn_->Start();
    });
  }

  ConnectionState State() {
    ConnectionState s{};
    loop_.RunSync([&] { s = conn_->state(); });
    return s;
  }

  std::string LastError() {
    std::string e;
    loop_.RunSync([&] { e = conn_->last_error(); });
    return e;
  }

  ConnectionStats Stats() {
    ConnectionStats st;
    loop_.RunSync([&] { st = conn_->stats(); });
    return st;
  }

  // Waits (bounded) until the connection is in `want`, or another state
  // for good when `want` cannot come.
  bool WaitFor(ConnectionState want, std::chrono::milliseconds limit = 10s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      if (State() == want) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  Result<Reply> Call(std::vector<std::string> args) {
    auto done = std::make_shared<std::promise<Result<Reply>>>();
    auto future = done->get_future();
    loop_.Post([this, args = std::move(args), done] {
      std::vector<std::string_view> views(args.begin(), args.end());
      Status s = conn_->Command(views, [done](Result<Reply> r) { done->set_value(std::move(r)); });
      if (!s.ok()) done->set_value(s);
    });
    if (future.wait_for(15s) != std::future_status::ready)
      return Status(ErrorCode::kInternal, "the test waited 15 s for a callback that never came");
    return future.get();
  }

  // A command that stays in flight until its connection goes (BLPOP on a
  // list nobody fills), sent and given time to reach Redis.
  std::future<Result<Reply>> SendBlocked() {
    auto in_flight = std::make_shared<std::promise<Result<Reply>>>();
    std::future<Result<Reply>> future = in_flight->get_future();
    loop_.Post([this, in_flight] {
      Status s = conn_->Command({"BLPOP", "never", "0"}, [in_flight](Result<Reply> r) {
        in_flight->set_value(std::move(r));
      });
      if (!s.ok()) in_flight->set_value(s);
    });
    std::this_thread::sleep_for(50ms);
    return future;
  }

  std::vector<std::string> States() {
    std::lock_guard lock(mu_);
    return states_;
  }

  io::Loop loop_;
  std::unique_ptr<Connection> conn_;
  std::mutex mu_;
  std::vector<std::string> states_;
};

TEST_F(RedisConnectionTest, AnswersPipelinedCommandsInTheOrderTheyWereSent) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  Open(OptionsFor(*redis));
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();

  constexpr int kCommands = 10000;
  std::promise<std::vector<int64_t>> all;
  auto future = all.get_future();
  auto got = std::make_shared<std::vector<int64_t>>();
  // Every command is written in one loop turn: one pipeline, no waiting.
  loop_.Post([&, got] {
    for (int i = 0; i < kCommands; ++i) {
      Status s = conn_->Command({"INCR", "counter"}, [&, got](Result<Reply> r) {
        got->push_back(r.ok() && r->type == Reply::Type::kInteger ? r->integer : -1);
        if (got->size() == kCommands) all.set_value(*got);
      });
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    EXPECT_EQ(conn_->in_flight(), static_cast<size_t>(kCommands));
  });
  ASSERT_EQ(future.wait_for(30s), std::future_status::ready);
  std::vector<int64_t> values = future.get();
  for (int i = 0; i < kCommands; ++i) ASSERT_EQ(values[i], i + 1) << "reply " << i;
  EXPECT_EQ(Stats().commands, static_cast<uint64_t>(kCommands));
}

TEST_F(RedisConnectionTest, CarriesBinaryArgumentsAndEveryReplyTypeIntact) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  Open(OptionsFor(*redis));
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();

  const std::string bytes("a\0b\r\n\xff\x00z", 8);
  Result<Reply> set = Call({"SET", std::string("k\0ey", 4), bytes});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_TRUE(set->is_status("OK")) << set->Describe();

  Result<Reply> get = Call({"GET", std::string("k\0ey", 4)});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->type, Reply::Type::kString);
  EXPECT_EQ(get->str, bytes);

  Result<Reply> nil = Call({"GET", "missing"});
  ASSERT_TRUE(nil.ok());
  EXPECT_EQ(nil->type, Reply::Type::kNil);

  ASSERT_TRUE(Call({"RPUSH", "list", "x", "y"}).ok());
  Result<Reply> list = Call({"LRANGE", "list", "0", "-1"});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->type, Reply::Type::kArray);
  ASSERT_EQ(list->elements.size(), 2u);
  EXPECT_EQ(list->elements[1].str, "y");

  // A Redis error is a reply, not a failed connection.
  Result<Reply> wrong = Call({"INCR", "list"});
  ASSERT_TRUE(wrong.ok());
  EXPECT_TRUE(wrong->is_error());
  EXPECT_NE(wrong->str.find("WRONGTYPE"), std::string::npos) << wrong->str;
  EXPECT_EQ(State(), ConnectionState::kReady);
  EXPECT_EQ(Stats().error_replies, 1u);
}

TEST_F(RedisConnectionTest, AuthenticatesAsAnAclUserAndNamesItself) {
  auto redis = RedisServer::Start({"--user", "herald", "on", ">s3cret", "~*", "&*", "+@all"});
  ASSERT_TRUE(redis) << RedisServer::last_error();
  ConnectionOptions o = OptionsFor(*redis);
  o.user = "herald";
  o.password = "s3cret";
  o.client_name = "herald-node-a";
  Open(o);
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();
  Result<Reply> who = Call({"ACL", "WHOAMI"});
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->str, "herald");
  Result<Reply> name = Call({"CLIENT", "GETNAME"});
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->str, "herald-node-a");
}

TEST_F(RedisConnectionTest, AWrongPasswordIsNeverReadyAndSaysWhy) {
  auto redis = RedisServer::Start({"--requirepass", "right"});
  ASSERT_TRUE(redis) << RedisServer::last_error();
  ConnectionOptions o = OptionsFor(*redis);
  o.password = "wrong";
  Open(o);
  ASSERT_TRUE(WaitFor(ConnectionState::kBackoff));
  EXPECT_NE(LastError().find("refused AUTH"), std::string::npos) << LastError();
  // It keeps trying, and commands are refused at once meanwhile.
  Result<Reply> r = Call({"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(r.status().message().find("refused AUTH"), std::string::npos) << r.status().ToString();
  // Once the password is what Redis expects, the next attempt succeeds.
  EXPECT_EQ(redis->Call({"CONFIG", "SET", "requirepass", "wrong"}, "right"), "OK");
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();
  EXPECT_GE(Stats().attempts, 2u);
}

TEST_F(RedisConnectionTest, LoadsItsScriptsOnEveryConnection) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  ConnectionOptions o = OptionsFor(*redis);
  o.scripts = {"return 'one:' .. ARGV[1]", "return #KEYS"};
  Open(o);
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();
  std::vector<std::string> shas;
  loop_.RunSync([&] { shas = conn_->script_shas(); });
  ASSERT_EQ(shas.size(), 2u);
  Result<Reply> one = Call({"EVALSHA", shas[0], "0", "x"});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->str, "one:x");

  // The script cache is gone after a restart or a failover; so is this
  // connection. The next one loads the scripts again before it is ready.
  EXPECT_EQ(redis->Call({"SCRIPT", "FLUSH"}), "OK");
  EXPECT_NE(redis->Call({"CLIENT", "KILL", "TYPE", "normal"}), "");
  ASSERT_TRUE(WaitFor(ConnectionState::kBackoff));
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();
  Result<Reply> two = Call({"EVALSHA", shas[1], "2", "a", "b"});
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->integer, 2) << two->Describe();
}

TEST_F(RedisConnectionTest, FailsFastWhileRedisIsDownAndReconnectsWhenItReturns) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  Open(OptionsFor(*redis));
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();

  // A command in flight when Redis dies: its outcome is unknown, and it
  // says so (BLPOP keeps it in flight until then).
  std::future<Result<Reply>> future = SendBlocked();
  redis->Kill();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  Result<Reply> lost = future.get();
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(lost.status().message().find("may or may not have run"), std::string::npos)
      << lost.status().ToString();

  ASSERT_TRUE(WaitFor(ConnectionState::kBackoff));
  Result<Reply> refused = Call({"PING"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kUnavailable);

  ASSERT_TRUE(redis->Restart()) << RedisServer::last_error();
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();
  Result<Reply> pong = Call({"PING"});
  ASSERT_TRUE(pong.ok());
  EXPECT_TRUE(pong->is_status("PONG"));
  const ConnectionStats st = Stats();
  EXPECT_GE(st.ready, 2u);
  EXPECT_EQ(st.lost, 1u);
}

TEST_F(RedisConnectionTest, ACommandWithoutAReplyInTimeTimesOutAndTheConnectionIsReplaced) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  ConnectionOptions o = OptionsFor(*redis);
  o.command_timeout = 200ms;
  Open(o);
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();

  Result<Reply> slow = Call({"DEBUG", "SLEEP", "1"});
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.status().code(), ErrorCode::kTimeout) << slow.status().ToString();
  EXPECT_NE(slow.status().message().find("no reply from redis"), std::string::npos)
      << slow.status().ToString();
  // A late reply never reaches a later command: the connection is new.
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();
  Result<Reply> echo = Call({"ECHO", "after"});
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  EXPECT_EQ(echo->str, "after");
  EXPECT_EQ(Stats().timeouts, 1u);
}

TEST_F(RedisConnectionTest, GivesUpAHandshakeNobodyAnswersAndTriesAgain) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  redis->Pause();  // the kernel still accepts; redis never answers
  ConnectionOptions o = OptionsFor(*redis);
  o.connect_timeout = 200ms;
  Open(o);
  ASSERT_TRUE(WaitFor(ConnectionState::kBackoff));
  EXPECT_NE(LastError().find("within 200 ms"), std::string::npos) << LastError();
  redis->Resume();
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();
  EXPECT_GE(Stats().timeouts, 1u);
}

TEST_F(RedisConnectionTest, APrepareStepRunsCommandsBeforeReadyAndItsRefusalFailsTheAttempt) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  redis->Call({"SET", "gate", "closed"});
  auto prepared = std::make_shared<std::atomic<int>>(0);
  ConnectionOptions o = OptionsFor(*redis);
  // Ready only once the key says so; meanwhile each attempt fails.
  o.prepare = [this, prepared](const PrepareSend& send, std::function<void(Status)> done) {
    EXPECT_NE(conn_->state(), ConnectionState::kReady);
    // Nothing but the step's own commands goes before it says yes.
    EXPECT_EQ(conn_->Command({"PING"}, [](Result<Reply>) {}).code(), ErrorCode::kUnavailable);
    ++*prepared;
    Status sent = send({"GET", "gate"}, [done](Result<Reply> r) {
      if (r.ok() && r->str == "open") return done(Status::Ok());
      done(Status(ErrorCode::kUnavailable, "the gate is " + (r.ok() ? r->str : "unknown")));
    });
    if (!sent.ok()) done(sent);
  };
  Open(o);
  ASSERT_TRUE(WaitFor(ConnectionState::kBackoff));
  EXPECT_EQ(LastError(), "the gate is closed");
  redis->Call({"SET", "gate", "open"});
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();
  EXPECT_GE(prepared->load(), 2);
  Result<Reply> pong = Call({"PING"});
  ASSERT_TRUE(pong.ok());
  EXPECT_TRUE(pong->is_status("PONG"));
  // Every new connection is prepared again.
  const int before = prepared->load();
  loop_.RunSync([&] { conn_->Reset("test"); });
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();
  EXPECT_EQ(prepared->load(), before + 1);
}

TEST_F(RedisConnectionTest, RefusesAReplicaForWritesUnlessAskedNotTo) {
  auto master = RedisServer::Start();
  ASSERT_TRUE(master) << RedisServer::last_error();
  auto replica = RedisServer::Start({"--replicaof", "127.0.0.1", std::to_string(master->port())});
  ASSERT_TRUE(replica) << RedisServer::last_error();
  Open(OptionsFor(*replica));
  ASSERT_TRUE(WaitFor(ConnectionState::kBackoff));
  EXPECT_NE(LastError().find("is not a master (ROLE: slave)"), std::string::npos) << LastError();
  EXPECT_NE(State(), ConnectionState::kReady);

  loop_.RunSync([&] { conn_.reset(); });
  ConnectionOptions read_only = OptionsFor(*replica);
  read_only.require_master = false;
  Open(read_only);
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();
}

TEST_F(RedisConnectionTest, ResolvesAHostName) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  ConnectionOptions o = OptionsFor(*redis);
  o.host = "localhost";
  Open(o);
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();

  loop_.RunSync([&] { conn_.reset(); });
  ConnectionOptions bad = OptionsFor(*redis);
  bad.host = "no-such-host.invalid";
  Open(bad);
  ASSERT_TRUE(WaitFor(ConnectionState::kBackoff));
  EXPECT_NE(LastError().find("cannot resolve 'no-such-host.invalid'"), std::string::npos)
      << LastError();
}

TEST_F(RedisConnectionTest, StoppingTheLoopCompletesCommandsInFlight) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  Open(OptionsFor(*redis));
  ASSERT_TRUE(WaitFor(ConnectionState::kReady)) << LastError();
  std::future<Result<Reply>> future = SendBlocked();
  loop_.Stop();  // the connection is a loop resource: closed, not leaked
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  Result<Reply> r = future.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(r.status().message().find("was closed"), std::string::npos) << r.status().ToString();
  std::vector<std::string> states = States();
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.back(), "closed");
  conn_.reset();
}

}  // namespace
}  // namespace herald::redis
