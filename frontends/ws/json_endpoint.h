// `/ws`: the JSON protocol of docs/PROTOCOL.md — sub (with queue group and
// resume), unsub, pub (with ack), req/reply, ping, refresh (a new token for
// the live connection), and work queues (join, leave, ack, nack, progress,
// term) — over one connection.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "auth/jwt_verifier.h"
#include "frontends/json/command.h"
#include "frontends/json/envelope.h"
#include "frontends/session/client_session.h"
#include "frontends/session/command_order.h"
#include "frontends/ws/ws_session.h"
#include "herald/broker.h"

namespace herald::io {
class LoopHandle;
}

namespace herald::ws {

class JsonEndpoint final : public Endpoint, public Sink {
 public:
  // The commands' meaning is the session layer's (`ops`); this class is the
  // JSON codec around it and the way errors are rendered (an error object).
  JsonEndpoint(std::shared_ptr<const session::Operations> ops, std::shared_ptr<Inbox> inbox,
               std::shared_ptr<io::LoopHandle> loop, session::IdentityPtr identity,
               std::string client_id = {}, json::CommandLimits limits = {});

  void OnOpen(WsSession& session) override { session_ = &session; }
  void OnMessage(EventType type, std::string payload) override;
  void OnOwedGap(const Gap& gap) override;
  void FlushPending() override {
    inbox_->Drain();
    SendBatch();
  }
  void SendHeld() override { SendBatch(); }
  void OnClose() override;
  void OnRateLimited() override;
  void OnDrained() override;
  // The info the client set at connect (`/ws?info=`).
  void SetConnectInfo(std::string info) { client_.SetConnectInfo(std::move(info)); }
  Broker& broker() override { return broker_; }
  void OnServerDisconnect(const DisconnectNotice& notice) override;
  void OnServerSubscribe(const std::string& topic, bool presence,
                         std::function<void(Status)> done) override;
  void OnServerUnsubscribe(const std::string& topic, std::function<void(Status)> done) override;
  // Makes the session reachable by the server API, through `control`.
  void Register(std::weak_ptr<ClientControl> control) {
    client_.Register("ws", std::move(control));
  }
  void OnDelivery(const Delivery& d) override;
  bool reading_paused() const override { return order_.waiting() >= max_waiting_; }

 private:
  // A command, in the order it was read: at once, or (when a hook must
  // answer first, or commands before it wait on one) later, through order_.
  void Dispatch(json::Command& c);
  void Handle(json::Command& c);
  // A command that waited on a hook goes on, back on the loop: `step` runs
  // once the commands read before it have.
  void Complete(session::CommandOrder::Ticket ticket, std::function<void()> step);
  void Subscribe(json::Command& c);
  void Unsubscribe(const json::Command& c);
  // `vetted`: the publish hook has allowed it already.
  void Publish(json::Command& c, bool vetted = false);
  void Request(json::Command& c, bool vetted = false);
  void Reply(json::Command& c);
  void Refresh(const json::Command& c);
  void Members(const json::Command& c);
  void SendPresence(const PresenceEvent& e);
  // `vetted`: the pattern the subscribe hook allowed.
  void JoinQueue(const json::Command& c, const std::string* vetted = nullptr);
  void LeaveQueue(const json::Command& c);
  void Settle(const json::Command& c, SettleKind kind);
  // Every frame goes out after the jobs batched before it: batching changes
  // how jobs are framed, never the order the client sees.
  void Send(const std::string& json);
  // A job of a queue joined with `batch`: held, and sent as part of one
  // `jobs` frame once the batch is full or later in this loop turn.
  void BatchJob(const Job& job, uint32_t per_frame);
  void SendBatch();
  uint32_t BatchOf(std::string_view queue) const;
  void SendError(std::string_view id, const Status& status);

  Broker& broker_;
  const std::shared_ptr<const session::Operations> ops_;
  std::shared_ptr<Inbox> inbox_;
  const std::shared_ptr<io::LoopHandle> loop_;  // replies hop back here
  const json::CommandLimits limits_;
  WsSession* session_ = nullptr;  // null once closed
  // What the client holds (subscriptions, reply permits, waiting requests).
  // Unsubscribes run inline: this loop drains the connection's inbox.
  session::ClientSession client_;
  // Commands waiting on hooks, and the ones read after them.
  session::CommandOrder order_;
  const size_t max_waiting_;  // Queues joined with `batch`, and the jobs per frame each asked for.
  std::vector<std::pair<std::string, uint32_t>> batched_;
  // Jobs delivered in this loop turn and not sent yet: all of one queue,
  // `batch_queue_`, at most `batch_limit_` of them.
  json::JobList batch_;
  std::string batch_queue_;
  uint32_t batch_limit_ = 0;
  bool batch_flush_posted_ = false;
  // Presence topics whose events were dropped (the connection over its
  // budget): each owes a resync. At most one per presence subscription.
  // With the counts of the last event dropped.
  std::map<std::string, std::pair<uint32_t, uint32_t>, std::less<>> presence_owed_;
  // The message last sent: several subscriptions of this connection matching
  // one message deliver it back to back; it goes out once.
  MessagePtr last_sent_;
};

}  // namespace herald::ws
