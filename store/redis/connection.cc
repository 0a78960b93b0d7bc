#include "store/redis/connection.h"

#include <arpa/inet.h>
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <uv.h>

#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>

namespace herald::redis {

std::string_view ConnectionStateName(ConnectionState s) {
  switch (s) {
    case ConnectionState::kIdle:
      return "idle";
    case ConnectionState::kConnecting:
      return "connecting";
    case ConnectionState::kReady:
      return "ready";
    case ConnectionState::kBackoff:
      return "backoff";
    case ConnectionState::kClosed:
      return "closed";
  }
  return "?";
}

// A name being resolved. It outlives the Connection when that goes away
// first: libuv still calls back (cancelled), and the callback frees it.
struct Connection::Resolving {
  uv_getaddrinfo_t req{};
  Connection* owner = nullptr;
};

namespace {

bool IsNumericAddress(const std::string& host) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

}  // namespace

std::string Endpoint::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<Endpoint> ParseEndpoint(std::string_view text) {
  const size_t colon = text.rfind(':');
  std::string_view host = colon == std::string_view::npos ? text : text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = 0;
  const std::string_view digits =
      colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (host.empty() || digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      port < 1 || port > 65535) {
    return Status(ErrorCode::kInvalidArgument,
                  "'" + std::string(text) + "' is not host:port (a port from 1 to 65535)");
  }
  return Endpoint{std::string(host), port};
}

Connection::Connection(io::Loop& loop, ConnectionOptions options, StateCallback on_state)
    : loop_(loop),
      options_(std::move(options)),
      on_state_(std::move(on_state)),
      where_{options_.host, options_.port},
      jitter_(static_cast<uint32_t>(reinterpret_cast<uintptr_t>(this) >> 4)) {}

Connection::~Connection() {
  Close();
  *self_ = nullptr;
}

std::string Connection::address() const { return where_.ToString(); }

uint64_t Connection::NowMs() const { return uv_now(loop_.raw()); }

void Connection::Start() {
  if (state_ != ConnectionState::kIdle) return;
  loop_.Register(this);
  registered_ = true;
  backoff_ = options_.backoff_min;
  Connect();
}

void Connection::Close() {
  if (state_ == ConnectionState::kClosed) return;
  close_reason_ = "the connection to redis at " + address() + " was closed";
  SetState(ConnectionState::kClosed);
  loop_.timers().Cancel(this);
  CancelResolve();
  FreeContext();
  if (registered_) {
    loop_.Unregister(this);
    registered_ = false;
  }
}

void Connection::CloseForShutdown() { Close(); }

void Connection::Reset(const std::string& why) {
  if (state_ == ConnectionState::kReady && !failing_) Fail(why);
}

void Connection::Relocate(const Endpoint& where) {
  if (state_ == ConnectionState::kReady && !failing_ && !(where == where_)) {
    Fail("redis's master moved from " + address() + " to " + where.ToString());
  } else if (state_ == ConnectionState::kBackoff) {
    // The failed attempt's context may still wait for its deferred free:
    // freed now, before a new one takes its place (this runs in another
    // connection's callback, never inside this context's).
    FreeContext();
    loop_.timers().Cancel(this);
    Connect();
  }
}

void Connection::SetState(ConnectionState s, const std::string& why) {
  if (state_ == s) return;
  state_ = s;
  if (on_state_) on_state_(s, why);
}

void Connection::Connect() {
  ++stats_.attempts;
  failing_ = false;
  preparing_ = false;
  SetState(ConnectionState::kConnecting);
  // One deadline covers resolving, connecting and the handshake.
  loop_.timers().Schedule(this, static_cast<uint64_t>(options_.connect_timeout.count()));
  if (!options_.locate) {
    Resolve();
    return;
  }
  // An answer for an attempt that has ended (timed out, closed) is dropped.
  const uint64_t attempt = stats_.attempts;
  std::weak_ptr<Connection*> self = self_;
  options_.locate([self, attempt](Result<Endpoint> where) {
    auto p = self.lock();
    if (!p || !*p) return;
    Connection* c = *p;
    if (c->stats_.attempts != attempt || c->state_ != ConnectionState::kConnecting || c->failing_)
      return;
    if (!where.ok()) {
      c->Fail(where.status().message());
      return;
    }
    c->where_ = *where;
    c->Resolve();
  });
}

void Connection::Resolve() {
  if (IsNumericAddress(where_.host)) {
    ConnectTo(where_.host);
    return;
  }
  auto* r = new Resolving;
  r->owner = this;
  r->req.data = r;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const int rc = uv_getaddrinfo(
      loop_.raw(), &r->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        std::unique_ptr<Resolving> r(static_cast<Resolving*>(req->data));
        Connection* self = r->owner;
        if (!self) {
          uv_freeaddrinfo(res);
          return;
        }
        self->resolving_ = nullptr;
        // IPv4 first: a name like "localhost" often lists ::1 first while
        // Redis listens on 127.0.0.1 only.
        const addrinfo* pick = nullptr;
        for (const addrinfo* a = status == 0 ? res : nullptr; a; a = a->ai_next) {
          if (a->ai_family == AF_INET) {
            pick = a;
            break;
          }
          if (!pick && a->ai_family == AF_INET6) pick = a;
        }
        char ip[INET6_ADDRSTRLEN] = {0};
        if (pick) {
          const void* where = pick->ai_family == AF_INET
                                  ? static_cast<const void*>(
                                        &reinterpret_cast<sockaddr_in*>(pick->ai_addr)->sin_addr)
                                  : static_cast<const void*>(
                                        &reinterpret_cast<sockaddr_in6*>(pick->ai_addr)->sin6_addr);
          inet_ntop(pick->ai_family, where, ip, sizeof ip);
        }
        uv_freeaddrinfo(res);
        if (!pick) {
          self->Fail("cannot resolve '" + self->where_.host +
                     "': " + (status ? uv_strerror(status) : "no IPv4 or IPv6 address"));
          return;
        }
        self->ConnectTo(ip);
      },
      where_.host.c_str(), nullptr, &hints);
  if (rc != 0) {
    delete r;
    Fail("cannot resolve '" + where_.host + "': " + uv_strerror(rc));
    return;
  }
  resolving_ = r;
}

void Connection::ConnectTo(const std::string& ip) {
  redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), where_.port);
  if (!ac) {
    Fail("cannot allocate a hiredis context");
    return;
  }
  if (ac->err) {
    std::string why = ac->errstr;
    redisAsyncFree(ac);  // never attached: nothing pending, no callbacks
    Fail("cannot connect to redis at " + address() + ": " + why);
    return;
  }
  if (redisLibuvAttach(ac, loop_.raw()) != REDIS_OK) {
    redisAsyncFree(ac);
    Fail("cannot watch the connection to redis at " + address() + " on the loop");
    return;
  }
  ac->data = this;
  redisAsyncSetConnectCallback(ac, &Connection::ConnectCallback);
  redisAsyncSetDisconnectCallback(ac, &Connection::DisconnectCallback);
  ac_ = ac;

  // The handshake, pipelined behind the connect: hiredis buffers it until
  // the socket is writable. Each step's reply is checked in order.
  steps_.clear();
  shas_.assign(options_.scripts.size(), std::string());
  std::vector<std::vector<std::string_view>> commands;
  if (!options_.password.empty()) {
    steps_.push_back("AUTH");
    if (options_.user.empty())
      commands.push_back({"AUTH", options_.password});
    else
      commands.push_back({"AUTH", options_.user, options_.password});
  }
  if (!options_.client_name.empty()) {
    steps_.push_back("CLIENT SETNAME");
    commands.push_back({"CLIENT", "SETNAME", options_.client_name});
  }
  steps_.push_back("ROLE");
  commands.push_back({"ROLE"});
  for (const std::string& script : options_.scripts) {
    steps_.push_back("SCRIPT LOAD");
    commands.push_back({"SCRIPT", "LOAD", script});
  }
  steps_left_ = steps_.size();
  for (size_t i = 0; i < commands.size(); ++i) {
    Pending p;
    p.handshake_step = static_cast<int>(i);
    if (!Send(commands[i], std::move(p))) {
      Fail("hiredis refused the handshake's " + steps_[i]);
      return;
    }
  }
}

bool Connection::Send(const std::vector<std::string_view>& args, Pending pending) {
  std::vector<const char*> argv;
  std::vector<size_t> argvlen;
  argv.reserve(args.size());
  argvlen.reserve(args.size());
  for (std::string_view a : args) {
    argv.push_back(a.data());
    argvlen.push_back(a.size());
  }
  // REDIS_ERR: the context is closing; the callback will never run.
  if (redisAsyncCommandArgv(ac_, &Connection::ReplyTrampoline, this, static_cast<int>(argv.size()),
                            argv.data(), argvlen.data()) != REDIS_OK) {
    return false;
  }
  pending_.push_back(std::move(pending));
  return true;
}

Status Connection::Command(const std::vector<std::string_view>& args, ReplyCallback done) {
  if (state_ != ConnectionState::kReady || failing_ || !ac_) {
    return Status(ErrorCode::kUnavailable,
                  "redis at " + address() + " is not connected (" +
                      std::string(ConnectionStateName(state_)) +
                      (last_error_.empty() ? "" : ", last error: " + last_error_) + ")");
  }
  return SendCommand(args, std::move(done));
}

Status Connection::SendCommand(const std::vector<std::string_view>& args, ReplyCallback done) {
  if (args.empty()) return Status(ErrorCode::kInvalidArgument, "an empty redis command");
  Pending p;
  p.done = std::move(done);
  p.deadline_ms = NowMs() + static_cast<uint64_t>(options_.command_timeout.count());
  if (!Send(args, std::move(p))) {
    return Status(ErrorCode::kUnavailable,
                  "the connection to redis at " + address() + " is closing");
  }
  ++stats_.commands;
  if (!scheduled()) ArmCommandTimer();
  return Status::Ok();
}

void Connection::ArmCommandTimer() {
  if (pending_.empty() || state_ != ConnectionState::kReady) return;
  const uint64_t now = NowMs();
  const uint64_t due = pending_.front().deadline_ms;
  loop_.timers().Schedule(this, due > now ? due - now : 0);
}

void Connection::OnTimerExpired() {
  switch (state_) {
    case ConnectionState::kConnecting: {
      ++stats_.timeouts;
      // hiredis's libuv adapter drops poll errors, so a refused connect is
      // only seen here: the socket still says why.
      int err = 0;
      socklen_t len = sizeof err;
      if (ac_ && ac_->c.fd >= 0 && getsockopt(ac_->c.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
          err != 0) {
        Fail("cannot connect to redis at " + address() + ": " + std::strerror(err));
        return;
      }
      Fail("no connection and handshake with redis at " + address() + " within " +
           std::to_string(options_.connect_timeout.count()) + " ms");
      return;
    }
    case ConnectionState::kBackoff:
      Connect();
      return;
    case ConnectionState::kReady: {
      // Replies come in order: only the oldest command can be the first late.
      if (pending_.empty()) return;
      if (pending_.front().deadline_ms > NowMs()) {
        ArmCommandTimer();
        return;
      }
      ++stats_.timeouts;
      Fail("no reply from redis at " + address() + " within " +
           std::to_string(options_.command_timeout.count()) + " ms");
      return;
    }
    case ConnectionState::kIdle:
    case ConnectionState::kClosed:
      return;
  }
}

void Connection::ReplyTrampoline(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* self = static_cast<Connection*>(privdata);
  // hiredis dropped the connection itself (reset, end of stream): it runs
  // the commands in flight before its disconnect callback says why.
  if (!reply && !self->failing_ && self->state_ != ConnectionState::kClosed) {
    self->close_reason_ = "the connection to redis at " + self->address() + " was lost (" +
                          (ac->err ? std::string(ac->errstr) : "closed") + ")";
  }
  self->OnReply(static_cast<redisReply*>(reply));
}

void Connection::OnReply(redisReply* reply) {
  if (pending_.empty()) return;  // cannot happen: one entry per command sent
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  if (p.handshake_step >= 0) {
    OnHandshakeReply(p.handshake_step, reply);
    return;
  }
  if (!reply) {
    // The connection closed first: the command may or may not have run.
    ++stats_.lost;
    const bool late = p.deadline_ms <= NowMs();
    p.done(Status(late ? ErrorCode::kTimeout : ErrorCode::kUnavailable,
                  close_reason_ + " before the reply: the command may or may not have run"));
    return;
  }
  if (reply->type == REDIS_REPLY_ERROR) ++stats_.error_replies;
  // A master demoted by a failover refuses writes: after this answer, the
  // connection is made again where the master is now.
  const bool demoted = options_.require_master && reply->type == REDIS_REPLY_ERROR &&
                       std::string_view(reply->str, reply->len).starts_with("READONLY");
  p.done(Reply::Copy(*reply));
  if (demoted) {
    Reset("redis at " + address() + " is no longer the master (" +
          std::string(reply->str, reply->len) + ")");
    return;
  }
  // A timer armed for an earlier deadline fires and re-arms for the next.
  if (state_ == ConnectionState::kReady && !failing_ && !scheduled()) ArmCommandTimer();
}

void Connection::OnHandshakeReply(int step, const redisReply* reply) {
  if (failing_ || state_ != ConnectionState::kConnecting) return;  // the attempt already failed
  const std::string& name = steps_[static_cast<size_t>(step)];
  if (!reply) return;  // the disconnect says why
  if (reply->type == REDIS_REPLY_ERROR) {
    Fail("redis at " + address() + " refused " + name + ": " + std::string(reply->str, reply->len));
    return;
  }
  if (name == "ROLE" && options_.require_master) {
    const bool master =
        reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        std::string_view(reply->element[0]->str, reply->element[0]->len) == "master";
    if (!master) {
      std::string role = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                                 reply->element[0]->type == REDIS_REPLY_STRING
                             ? std::string(reply->element[0]->str, reply->element[0]->len)
                             : Reply::Copy(*reply).Describe();
      Fail("redis at " + address() + " is not a master (ROLE: " + role +
           "): writes go to the master only");
      return;
    }
  }
  if (name == "SCRIPT LOAD") {
    const size_t script = static_cast<size_t>(step) - (steps_.size() - options_.scripts.size());
    shas_[script].assign(reply->str, reply->len);
  }
  if (--steps_left_ == 0) OnHandshakeDone();
}

void Connection::OnHandshakeDone() {
  if (!options_.prepare) return BecomeReady();
  preparing_ = true;
  const uint64_t attempt = stats_.attempts;
  std::weak_ptr<Connection*> self = self_;
  PrepareSend send = [self, attempt](const std::vector<std::string_view>& args,
                                     std::function<void(Result<Reply>)> done) {
    auto p = self.lock();
    Connection* c = p ? *p : nullptr;
    if (!c || c->stats_.attempts != attempt || !c->preparing_ || c->failing_ || !c->ac_)
      return Status(ErrorCode::kUnavailable, "the connection being prepared is gone");
    return c->SendCommand(args, std::move(done));
  };
  options_.prepare(send, [self, attempt](Status prepared) {
    auto p = self.lock();
    if (!p || !*p) return;
    Connection* c = *p;
    // Answered after the attempt failed (its commands lost their
    // connection): the failure already said why.
    if (c->stats_.attempts != attempt || !c->preparing_ || c->failing_ ||
        c->state_ != ConnectionState::kConnecting) {
      return;
    }
    c->preparing_ = false;
    if (!prepared.ok()) return c->Fail(prepared.message());
    c->BecomeReady();
  });
}

void Connection::BecomeReady() {
  loop_.timers().Cancel(this);
  ++stats_.ready;
  backoff_ = options_.backoff_min;
  last_error_.clear();
  SetState(ConnectionState::kReady);
  // A prepare step that answered with commands still in flight: they get
  // their deadline from here (the attempt's timer is gone).
  if (state_ == ConnectionState::kReady && !scheduled()) ArmCommandTimer();
}

void Connection::ConnectCallback(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<Connection*>(ac->data);
  if (!self) return;
  if (status != REDIS_OK) {
    // hiredis frees the context after this returns (and runs the pending
    // callbacks with no reply first): never free it here.
    std::string why = ac->errstr;
    self->ac_ = nullptr;
    self->Fail("cannot connect to redis at " + self->address() + ": " + why);
  }
}

void Connection::DisconnectCallback(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<Connection*>(ac->data);
  if (!self) return;
  // hiredis frees the context after this returns; pending callbacks already
  // ran with no reply.
  self->ac_ = nullptr;
  if (status != REDIS_OK && !self->failing_ && self->state_ != ConnectionState::kClosed) {
    self->Fail("lost the connection to redis at " + self->address() + ": " + ac->errstr);
  }
}

void Connection::Fail(std::string why) {
  if (state_ == ConnectionState::kClosed) return;
  if (failing_ && state_ == ConnectionState::kBackoff) return;
  ++stats_.failures;
  failing_ = true;
  preparing_ = false;
  CancelResolve();  // a name still being resolved must not connect later
  last_error_ = why;
  close_reason_ = "the connection to redis at " + address() + " failed (" + why + ")";
  // hiredis may be inside a callback of this context: free it after the
  // current I/O callbacks, never from within them.
  if (ac_) {
    std::weak_ptr<Connection*> self = self_;
    loop_.Defer([self] {
      if (auto p = self.lock(); p && *p) (*p)->FreeContext();
    });
  }
  ScheduleRetry();
  SetState(ConnectionState::kBackoff, why);
}

void Connection::FreeContext() {
  redisAsyncContext* ac = ac_;
  if (!ac) return;
  ac_ = nullptr;
  // Pending commands complete now, with no reply (OnReply says why); the
  // disconnect callback sees ac_ already cleared and does nothing more.
  ac->data = nullptr;
  redisAsyncSetDisconnectCallback(ac, nullptr);
  redisAsyncFree(ac);
}

void Connection::CancelResolve() {
  if (!resolving_) return;
  resolving_->owner = nullptr;  // its callback frees it
  uv_cancel(reinterpret_cast<uv_req_t*>(&resolving_->req));
  resolving_ = nullptr;
}

void Connection::ScheduleRetry() {
  // ±20% jitter, so that many nodes do not all come back at once.
  const auto base = backoff_.count();
  std::uniform_int_distribution<int64_t> spread(-base / 5, base / 5);
  const int64_t delay = std::max<int64_t>(1, base + spread(jitter_));
  loop_.timers().Schedule(this, static_cast<uint64_t>(delay));
  backoff_ = std::min(backoff_ * 2, options_.backoff_max);
}

}  // namespace herald::redis
