// herald.v1.Broker's work-queue calls: a batch worker's Pull (a long poll:
// the answer comes from whichever thread brings the first job, or the
// broker's maintenance thread at the deadline) and SettlePulled, and the
// queues' management. Their meaning is the session layer's.
#include "frontends/grpc/broker_service.h"
#include "frontends/grpc/grpc_convert.h"

#include <memory>
#include <mutex>

namespace herald::grpcfront {

namespace {
// Handles per SettlePulled call (the message size limit bounds them too).
constexpr int kMaxHandles = 1000;
}  // namespace

namespace {

// A Pull that may wait: a client that cancels (or a server that shuts down,
// which cancels what is still open after its grace) withdraws the pull, so
// it neither takes jobs nobody will read nor holds the shutdown up. What
// the answer and the cancellation share outlives the reactor (an answer
// can come, inline, before Pull has even returned the pull's id).
struct PullCall {
  std::mutex mu;
  uint64_t id = 0;
  bool answered = false;
  bool cancelled = false;
};

class PullReactor final : public grpc::ServerUnaryReactor {
 public:
  PullReactor(Broker& broker, std::string queue, std::shared_ptr<PullCall> call)
      : broker_(broker), queue_(std::move(queue)), call_(std::move(call)) {}
  void OnCancel() override {
    uint64_t id = 0;
    {
      std::lock_guard lock(call_->mu);
      call_->cancelled = true;
      if (!call_->answered) id = call_->id;
    }
    if (id != 0) broker_.CancelPull(queue_, id);  // answers it (cancelled)
  }
  void OnDone() override { delete this; }

 private:
  Broker& broker_;
  const std::string queue_;
  const std::shared_ptr<PullCall> call_;
};

}  // namespace

grpc::ServerUnaryReactor* BrokerService::Pull(grpc::CallbackServerContext* ctx,
                                              const v1::PullRequest* request,
                                              v1::PullResponse* response) {
  Result<session::IdentityPtr> who = Authenticate(ctx);
  if (!who.ok()) return Answer(ctx, who.status());
  const std::string queue = request->queue();  // `request` may go with an inline answer
  auto call = std::make_shared<PullCall>();
  auto* reactor = new PullReactor(broker_, queue, call);
  const int64_t max = request->max() == 0 ? 1 : request->max();
  // The pull's id, once it waits (at once, or when the subscribe hook has
  // answered): a call cancelled before it was known cancels the pull now.
  auto started = [call, broker = &broker_, queue](uint64_t id) {
    uint64_t cancel = 0;
    {
      std::lock_guard lock(call->mu);
      call->id = id;
      if (call->cancelled && !call->answered) cancel = id;
    }
    if (cancel != 0) broker->CancelPull(queue, cancel);
  };
  ops_->Pull(
      **who, request->queue(), max, request->wait_ms(),
      [ctx, reactor, response, call](Result<std::vector<Job>> jobs) {
        {
          std::lock_guard lock(call->mu);
          call->answered = true;
        }
        if (!jobs.ok()) {
          ctx->AddTrailingMetadata(std::string(kErrorMetadata),
                                   std::string(ErrorCodeName(jobs.status().code())));
          return reactor->Finish(ToGrpc(jobs.status()));
        }
        for (const Job& j : *jobs) ToProto(j, response->add_jobs());
        reactor->Finish(grpc::Status::OK);
      },
      {{}, "grpc", {}}, started);
  return reactor;
}

grpc::ServerUnaryReactor* BrokerService::SettlePulled(grpc::CallbackServerContext* ctx,
                                                      const v1::SettlePulledRequest* request,
                                                      v1::SettlePulledResponse* response) {
  Result<session::IdentityPtr> who = Authenticate(ctx);
  if (!who.ok()) return Answer(ctx, who.status());
  Result<SettleKind> kind = FromProto(request->kind());
  if (!kind.ok()) return Answer(ctx, kind.status());
  if (request->handles_size() == 0 || request->handles_size() > kMaxHandles) {
    return Answer(ctx, Status(ErrorCode::kInvalidArgument,
                              "'handles' must hold 1 to " + std::to_string(kMaxHandles)));
  }
  const std::optional<int64_t> delay =
      request->has_delay() ? std::optional<int64_t>(static_cast<int64_t>(
                                 std::min<uint64_t>(request->delay().ms(), INT64_MAX)))
                           : std::nullopt;
  for (const std::string& h : request->handles()) {
    const Status s = ops_->SettlePulled(**who, h, *kind, delay);
    v1::SettleResult* r = response->add_results();
    r->set_handle(h);
    r->set_ok(s.ok());
    if (!s.ok()) {
      r->set_reason(std::string(ErrorCodeName(s.code())));
      r->set_message(s.message());
    }
  }
  return Answer(ctx, Status::Ok());
}

grpc::ServerUnaryReactor* BrokerService::CreateQueue(grpc::CallbackServerContext* ctx,
                                                     const v1::QueueDefinition* request,
                                                     v1::QueueState* response) {
  Result<session::IdentityPtr> who = Authenticate(ctx);
  if (!who.ok()) return Answer(ctx, who.status());
  Result<QueueOptions> options = FromProto(*request);
  if (!options.ok()) return Answer(ctx, options.status());
  if (Status s = ops_->CreateQueue(**who, *options); !s.ok()) return Answer(ctx, s);
  Result<QueueInfo> q = ops_->GetQueue(**who, request->name());
  if (!q.ok()) return Answer(ctx, q.status());
  ToProto(*q, response);
  return Answer(ctx, Status::Ok());
}

grpc::ServerUnaryReactor* BrokerService::DeleteQueue(grpc::CallbackServerContext* ctx,
                                                     const v1::QueueRef* request,
                                                     v1::DeleteQueueResponse*) {
  Result<session::IdentityPtr> who = Authenticate(ctx);
  if (!who.ok()) return Answer(ctx, who.status());
  return Answer(ctx, ops_->DeleteQueue(**who, request->name()));
}

grpc::ServerUnaryReactor* BrokerService::GetQueue(grpc::CallbackServerContext* ctx,
                                                  const v1::QueueRef* request,
                                                  v1::QueueState* response) {
  Result<session::IdentityPtr> who = Authenticate(ctx);
  if (!who.ok()) return Answer(ctx, who.status());
  Result<QueueInfo> q = ops_->GetQueue(**who, request->name());
  if (!q.ok()) return Answer(ctx, q.status());
  ToProto(*q, response);
  return Answer(ctx, Status::Ok());
}

grpc::ServerUnaryReactor* BrokerService::ListQueues(grpc::CallbackServerContext* ctx,
                                                    const v1::ListQueuesRequest*,
                                                    v1::ListQueuesResponse* response) {
  Result<session::IdentityPtr> who = Authenticate(ctx);
  if (!who.ok()) return Answer(ctx, who.status());
  for (const QueueInfo& q : ops_->ListQueues(**who)) ToProto(q, response->add_queues());
  return Answer(ctx, Status::Ok());
}

grpc::ServerUnaryReactor* BrokerService::Presence(grpc::CallbackServerContext* ctx,
                                                  const v1::PresenceRequest* request,
                                                  v1::PresenceResponse* response) {
  Result<session::IdentityPtr> who = Authenticate(ctx);
  if (!who.ok()) return Answer(ctx, who.status());
  PresenceQuery q;
  if (request->limit() > 0) q.limit = request->limit();
  q.after = request->after();
  // Answered from this node's table: nothing to wait for.
  Result<PresenceSnapshot> s = ops_->Presence(**who, request->topic(), q);
  if (!s.ok()) return Answer(ctx, s.status());
  ToProto(*s, response);
  return Answer(ctx, Status::Ok());
}

}  // namespace herald::grpcfront
