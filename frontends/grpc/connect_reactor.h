// frontends/grpc/connect_reactor.h — one `Connect` session: subscribe,
// unsubscribe, publish, request and reply over one bidirectional stream.
//
// Commands are read one at a time and answered in the outbox
// (reactor_outbox.h), which also carries deliveries of the session's
// subscriptions (through the slow-consumer guard) and replies to its
// requests, from whatever thread they arrive on. Reading pauses while too
// many events wait to be written, so a client that does not read cannot make
// the server buffer without bound. A bad command gets an error event with its
// id; the session goes on.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "base/token_bucket.h"
#include "frontends/grpc/delivery_thread.h"
#include "frontends/grpc/grpc_options.h"
#include "frontends/grpc/reactor_outbox.h"
#include "frontends/session/client_session.h"
#include "frontends/session/command_order.h"
#include "herald/broker.h"
#include "herald/v1/broker.grpc.pb.h"

namespace herald::grpcfront {

// Presence topics whose events a session dropped over its budget (topic ->
// subscription id): each owes a resync.
struct OwedPresence {
  struct Owed {
    uint64_t subscription = 0;
    uint32_t clients = 0, users = 0;  // the last dropped event's counts
  };
  std::mutex mu;
  std::map<std::string, Owed> topics;
  size_t max_bytes = 0;
  Broker* broker = nullptr;
};

// The way the server API reaches a session while it lives: commands and
// server-side (un)subscriptions run under `mu`, one at a time, and OnDone
// clears `reactor` under it.
struct CommandLock {
  std::mutex mu;
  class ConnectReactor* reactor = nullptr;
  bool reads_over = false;  // the client half-closed: its subscriptions are ending
};

class ConnectReactor final : public grpc::ServerBidiReactor<v1::ClientCommand, v1::ServerEvent> {
 public:
  // Held until the call is done: the caller's place in its user's count.
  void HoldUserSlot(std::shared_ptr<void> slot) { user_slot_ = std::move(slot); }
  // The info the client set at connect (`herald-info` metadata).
  void SetConnectInfo(std::string info) { client_.SetConnectInfo(std::move(info)); }
  // What each command means is the session layer's (`ops`); this class is
  // the protobuf codec around it, and renders errors as CommandError events.
  // Nothing is read until Admit: admission may wait on the connect hook.
  ConnectReactor(std::shared_ptr<const session::Operations> ops, DeliveryThread& deliveries,
                 std::shared_ptr<const GrpcOptions> options);
  const std::string& client_id() const { return client_.client_id(); }
  // Who the client is (Operations::Connect, whose client id is this
  // session's), or why it may not connect: the session starts, or the call
  // ends with the refusal. Any thread; the reactor may be gone by then.
  static void Admit(const std::shared_ptr<CommandLock>& lock, grpc::CallbackServerContext* ctx,
                    Result<session::Admitted> who);
  const std::shared_ptr<CommandLock>& command_lock() const { return lock_; }

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  using Outbox = ReactorOutbox<ConnectReactor, v1::ServerEvent>;

  // A command, in the order it was read (CommandOrder): at once, or when
  // the hook it waits on has answered. Under lock_->mu.
  void Dispatch(v1::ClientCommand& c);
  void Handle(v1::ClientCommand& c);
  // A hooked command goes on: `step` once the commands before it have run.
  // Under lock_->mu.
  void Complete(session::CommandOrder::Ticket ticket, std::function<void()> step);
  void Refreshed(uint64_t id, Result<session::IdentityPtr> who);
  void Subscribe(uint64_t id, const v1::SubscribeRequest& s);
  void Unsubscribe(uint64_t id, uint64_t subscription);
  void Publish(uint64_t id, const v1::PublishRequest& p, bool vetted = false);
  void Request(uint64_t id, const v1::RequestRequest& r, uint32_t timeout_ms, bool vetted = false);
  void Reply(uint64_t id, const v1::Reply& r);
  // `vetted`: the pattern the subscribe hook allowed.
  void JoinQueue(uint64_t id, const v1::JoinQueue& j, const std::string* vetted = nullptr);
  void LeaveQueue(uint64_t id, const v1::LeaveQueue& l);
  void Settle(uint64_t id, const v1::Settle& s);
  void Refresh(uint64_t id, const v1::Refresh& r);
  void Error(uint64_t id, const Status& s);
  // Resyncs owed for presence events dropped over the budget, once the
  // outbox has room again.
  static void SendOwedPresence(ReactorOutbox<ConnectReactor, v1::ServerEvent>& outbox,
                               OwedPresence& owed);
  void ReadMoreOrWait();
  // Subscribes as the client asked, or as the server API did (`id` 0,
  // `server`); the answer event is pushed here, a refusal returned.
  Status SubscribeTo(uint64_t id, const v1::SubscribeRequest& s, bool server);
  friend class ConnectControl;

  // The token's end ends the session. A refresh replaces the alarm (the old
  // one is cancelled as it is destroyed): a grpc::Alarm is set once.
  std::unique_ptr<grpc::Alarm> expiry_ = std::make_unique<grpc::Alarm>();
  // The session's current expiry (Unix s; 0: never), read by the alarms.
  const std::shared_ptr<std::atomic<int64_t>> expires_at_ =
      std::make_shared<std::atomic<int64_t>>(0);
  // GrpcOptions::max_commands_per_second (reader thread only).
  std::optional<TokenBucket> rate_;
  uint32_t refusals_in_a_row_ = 0;
  bool AdmitCommand();
  Broker& broker_;
  DeliveryThread& deliveries_;
  const std::shared_ptr<const GrpcOptions> options_;  // the service's when the call began
  std::shared_ptr<Outbox> outbox_;
  v1::ClientCommand command_;  // the read buffer
  std::mutex mu_;              // guards the two fields below
  bool read_waiting_ = false;  // reading paused until the outbox drains
  bool reads_over_ = false;
  // What the client holds: subscriptions, reply permits (noted on the
  // delivery thread), waiting requests. Unsubscribes run on the delivery
  // thread, so an Unsubscribed answer follows the subscription's last delivery.
  session::ClientSession client_;
  std::shared_ptr<void> user_slot_;
  // Shared with the subscriptions' sinks, which may outlive the reactor.
  std::shared_ptr<OwedPresence> owed_;
  const std::shared_ptr<CommandLock> lock_ = std::make_shared<CommandLock>();
  // Commands waiting on hooks and those read after them (under lock_->mu);
  // past max_waiting_ reading stops until they complete.
  session::CommandOrder order_;
  const size_t max_waiting_;
  bool hooks_paused_ = false;        // under lock_->mu
  bool end_after_commands_ = false;  // half-closed with commands waiting (lock_->mu)
  // The client's half-close: its subscriptions end (on the delivery thread,
  // so nothing more arrives) and the call finishes once what is queued is
  // written. Under lock_->mu.
  void EndSession();
  std::shared_ptr<ClientControl> control_;  // registered weakly with the server API
};

}  // namespace herald::grpcfront
