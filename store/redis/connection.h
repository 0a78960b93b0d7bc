// store/redis/connection.h — one connection to one Redis server, on a loop.
//
// A Connection lives on an io::Loop (the store's own thread: never a front's
// loop) and keeps itself connected: it connects, runs its handshake, serves
// commands while ready, and after any failure backs off and tries again.
//
//   connect → handshake (pipelined: AUTH, CLIENT SETNAME, ROLE, SCRIPT LOAD…)
//           → prepare (the owner's own checks, when it has any) → ready ⇄ commands → failure →
//           backoff (100 ms doubling to 5 s,
//             ±20% jitter) → connect …
//
// Commands are pipelined: Command() writes at once and the reply arrives in
// `done` on the loop thread, in the order the commands were given. Nothing
// waits:
//   - While not ready, Command() refuses with `unavailable` (the caller fails
//     fast and says so on its front); it never queues behind a reconnect.
//   - A reply that does not come within `command_timeout` closes the
//     connection: that command and every one behind it complete with
//     `timeout` or `unavailable` ("outcome unknown": it may or may not have
//     run), and the connection is made again.
//   - A connect or handshake that does not finish within `connect_timeout`
//     counts as a failed attempt.
//   - A write refused with READONLY (the master became a replica: a
//     failover) is answered, then the connection is made again, asking
//     `locate` (Sentinel) where the master is now.
//
// hiredis 0.14 (Debian 12) has no timeouts of its own and resolves names
// with a blocking getaddrinfo, so the timers are ours and names are resolved
// with uv_getaddrinfo (the loop's thread pool) before each connect.
//
// Loop thread only, every member. Not from inside its own callbacks: do not
// destroy a Connection in `done` or in the state callback.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "herald/status.h"
#include "io/loop.h"
#include "io/timer_wheel.h"
#include "store/redis/reply.h"

struct redisAsyncContext;
struct redisReply;

namespace herald::redis {

// Where a Redis server listens.
struct Endpoint {
  std::string host;  // a name or a numeric IPv4/IPv6 address
  int port = 0;
  bool operator==(const Endpoint&) const = default;
  std::string ToString() const;  // host:port, [v6]:port
};
// "host:port" or "[v6]:port", or an error naming what is wrong.
Result<Endpoint> ParseEndpoint(std::string_view text);

// Asks where the server is now (Sentinel: the current master). Answers once,
// on the loop thread, later or at once.
using LocateCallback = std::function<void(Result<Endpoint>)>;
using Locate = std::function<void(LocateCallback)>;

// Run once the handshake is done, before the connection is ready: it may
// send commands with `send` (Command itself still refuses: nothing else
// goes before the step says yes) and must call `done` once, on the loop
// thread: Ok makes the connection ready, an error fails the attempt
// (backoff, then a new connection, prepared again). The attempt's
// connect_timeout covers it.
using PrepareSend = std::function<Status(const std::vector<std::string_view>& args,
                                         std::function<void(Result<Reply>)> done)>;
using Prepare = std::function<void(const PrepareSend& send, std::function<void(Status)> done)>;

struct ConnectionOptions {
  std::string host = "127.0.0.1";  // a name or a numeric IPv4/IPv6 address
  int port = 6379;
  // When set, asked before each connect attempt, and host and port are
  // only the first guess: a master's address moves with a failover. An
  // error answer counts as a failed attempt (backoff, then ask again).
  Locate locate;
  // AUTH: with a user, AUTH user password (Redis 6 ACLs); with only a
  // password, AUTH password; with neither, no AUTH.
  std::string user;
  std::string password;
  std::string client_name;  // CLIENT SETNAME, when set (shows in CLIENT LIST)
  // The handshake asks ROLE and refuses a server that is not a master: a
  // write connection must never land on a replica after a failover.
  bool require_master = true;
  // Lua scripts loaded (SCRIPT LOAD) on every connection, before it is
  // ready: the script cache does not survive a restart or a failover.
  std::vector<std::string> scripts;
  Prepare prepare;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{5000};
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
};

enum class ConnectionState {
  kIdle,        // not started
  kConnecting,  // resolving, connecting or in the handshake
  kReady,       // commands are served
  kBackoff,     // the last attempt failed; the next one is scheduled
  kClosed,      // Close()d or the loop stopped
};
std::string_view ConnectionStateName(ConnectionState s);

struct ConnectionStats {
  uint64_t attempts = 0;       // connects started
  uint64_t ready = 0;          // handshakes completed
  uint64_t failures = 0;       // attempts or ready connections that failed
  uint64_t commands = 0;       // commands sent (not counting the handshake)
  uint64_t error_replies = 0;  // commands Redis answered with an error
  uint64_t lost = 0;           // commands whose connection closed before the reply
  uint64_t timeouts = 0;       // connections closed for a reply or attempt late
};

class Connection final : public io::Loop::Resource, private io::TimerWheel::Entry {
 public:
  // A reply (Redis errors included: they are replies), or `timeout` /
  // `unavailable` when the connection closed first.
  using ReplyCallback = std::function<void(Result<Reply>)>;
  // Every change of state, with why for kBackoff.
  using StateCallback = std::function<void(ConnectionState, const std::string& why)>;

  Connection(io::Loop& loop, ConnectionOptions options, StateCallback on_state = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts connecting. Once.
  void Start();
  // Closes for good: commands in flight complete with `unavailable`.
  void Close();
  // Drops this connection and makes a new one (after the backoff), as after
  // any failure: for what only a new handshake mends (a flushed script
  // cache). May be called from a reply callback.
  void Reset(const std::string& why);
  // The server may now be at `where` (a failover): a ready connection
  // elsewhere is dropped, and one waiting to retry tries at once. Nothing
  // when it is already connected there.
  void Relocate(const Endpoint& where);

  // Sends one command (binary-safe arguments). Refuses with `unavailable`
  // when not ready; then `done` is never called.
  Status Command(const std::vector<std::string_view>& args, ReplyCallback done);

  ConnectionState state() const { return state_; }
  // Where the current attempt or connection goes.
  const Endpoint& where() const { return where_; }
  // Why the last attempt or connection failed ("" if none has).
  const std::string& last_error() const { return last_error_; }
  // SHA1 of each of options.scripts, in order, once ready.
  const std::vector<std::string>& script_shas() const { return shas_; }
  const ConnectionStats& stats() const { return stats_; }
  size_t in_flight() const { return pending_.size(); }
  std::string address() const;

 private:
  struct Pending {
    ReplyCallback done;       // user commands
    int handshake_step = -1;  // ≥ 0: a handshake reply (index into the steps)
    uint64_t deadline_ms = 0;
  };
  struct Resolving;  // a uv_getaddrinfo in flight

  void CloseForShutdown() override;
  void OnTimerExpired() override;

  void Connect();
  void Resolve();  // host_ to a numeric address, then ConnectTo
  void ConnectTo(const std::string& ip);
  bool Send(const std::vector<std::string_view>& args, Pending pending);
  Status SendCommand(const std::vector<std::string_view>& args, ReplyCallback done);
  void OnReply(redisReply* reply);
  void OnHandshakeReply(int step, const redisReply* reply);
  void OnConnected(bool ok);
  void OnHandshakeDone();
  void BecomeReady();
  void OnDisconnected();
  // Ends the current attempt or connection: `why` goes to last_error and
  // the state callback; the context is freed outside hiredis's callbacks.
  void Fail(std::string why);
  void FreeContext();
  void CancelResolve();
  void ScheduleRetry();
  void SetState(ConnectionState s, const std::string& why = {});
  void ArmCommandTimer();
  uint64_t NowMs() const;

  static void ConnectCallback(const redisAsyncContext* ac, int status);
  static void DisconnectCallback(const redisAsyncContext* ac, int status);
  static void ReplyTrampoline(redisAsyncContext* ac, void* reply, void* privdata);

  io::Loop& loop_;
  const ConnectionOptions options_;
  StateCallback on_state_;
  ConnectionState state_ = ConnectionState::kIdle;
  redisAsyncContext* ac_ = nullptr;
  Resolving* resolving_ = nullptr;
  Endpoint where_;                  // the address of this attempt or connection
  std::deque<Pending> pending_;     // in the order Redis answers
  std::vector<std::string> steps_;  // the handshake, by name (for errors)
  size_t steps_left_ = 0;
  std::vector<std::string> shas_;
  std::string last_error_;
  std::string close_reason_;  // why in-flight commands lost their connection
  std::chrono::milliseconds backoff_{0};
  std::minstd_rand jitter_;
  ConnectionStats stats_;
  bool registered_ = false;
  bool failing_ = false;    // the attempt or connection is over; a retry is due
  bool preparing_ = false;  // options_.prepare runs: commands are served
  // For work deferred past hiredis's callbacks: cleared when this goes.
  std::shared_ptr<Connection*> self_ = std::make_shared<Connection*>(this);
};

}  // namespace herald::redis
